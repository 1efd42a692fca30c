"""Pure server-side handlers, one per meta channel plus publish (faye ``src/protocol/server.js``).

``handle(message, facts, policy)`` returns a :class:`Decision`. Error precedence follows
faye (docs/protocol.md §2.8): each later check overwrites an earlier error. ``refuse`` turns a
decision into its refusal when the broker's authorization point denies one of its commands, so
the shape of every reply, refused or not, is decided here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from protocol import channels, errors
from protocol.channels import CONNECT, DISCONNECT, HANDSHAKE, SUBSCRIBE, UNSUBSCRIBE
from protocol.commands import (
    Command,
    Connect,
    CreateClient,
    Decision,
    DestroyClient,
    Message,
    Publish,
    Subscribe,
    Unsubscribe,
)
from protocol.connection_types import BROKER_CONNECTION_TYPES, ConnectionType
from protocol.messages import BAYEUX_VERSION

__all__ = [
    "BAYEUX_VERSION",
    "BROKER_CONNECTION_TYPES",
    "DELIVERY_STRIPPED_FIELDS",
    "Facts",
    "Policy",
    "handle",
    "refuse",
    "unavailable",
]

DELIVERY_STRIPPED_FIELDS = ("clientId", "advice", "successful", "error")
"""Removed from delivered copies: faye removes only ``clientId`` (§5.9 item 6)."""


@dataclass(frozen=True, slots=True)
class Policy:
    """Server settings the handlers need. Times are in milliseconds."""

    timeout_ms: int = 60_000
    interval_ms: int = 0
    max_channel_length: int = 1024
    max_subscriptions: int = 1000
    max_message_bytes: int = 262_144
    """Largest published message, as delivered (encoded JSON); faye has no limit."""
    strip_delivery_fields: bool = True
    answer_first_connect: bool = True


@dataclass(frozen=True, slots=True)
class Facts:
    """What the broker knows about the sender when it asks for a decision."""

    client_exists: bool = False
    local: bool = False
    """True for the in-process (server-side) client, which may subscribe to meta/service."""
    new_client_id: str = ""
    """The id a successful handshake will create (the broker generates it)."""
    first_connect: bool = False
    """True when the client has not connected since its handshake."""
    subscription_count: int = 0


def _truthy(value: object) -> bool:
    """JavaScript truthiness, which faye's checks use: ``[]`` and ``{}`` are true, ``0`` is not."""
    return isinstance(value, list | dict) or bool(value)


def _base_reply(message: Message) -> Message:
    """faye ``_makeResponse``: copy truthy id, clientId, channel and error."""
    reply: Message = {}
    for key in ("id", "clientId", "channel", "error"):
        value = message.get(key)
        if _truthy(value):
            reply[key] = value
    reply["successful"] = "error" not in reply
    return reply


def _fail(reply: Message, error: str) -> None:
    reply["error"] = error
    reply["successful"] = False


def _success_advice(policy: Policy, connection_type: object) -> Message:
    if connection_type == ConnectionType.EVENTSOURCE:
        return {"reconnect": "retry", "interval": policy.timeout_ms, "timeout": 0}
    return {"reconnect": "retry", "interval": policy.interval_ms, "timeout": policy.timeout_ms}


def _advize(reply: Message, policy: Policy, connection_type: object = None) -> None:
    """faye ``_advize``: handshake and connect replies carry advice."""
    if reply["successful"]:
        reply["advice"] = _success_advice(policy, connection_type)
    else:
        reply["advice"] = {"reconnect": "handshake"}


def _handshake(message: Message, facts: Facts, policy: Policy) -> Decision:
    reply = _base_reply(message)
    reply["version"] = BAYEUX_VERSION
    reply["supportedConnectionTypes"] = list(BROKER_CONNECTION_TYPES)
    if not _truthy(message.get("version")):
        _fail(reply, errors.parameter_missing("version"))
    client_types = message.get("supportedConnectionTypes")
    if _truthy(client_types):
        # faye filters with array.filter, which finds nothing in a string, number or object
        offered = client_types if isinstance(client_types, list) else []
        if not any(isinstance(t, str) and t in BROKER_CONNECTION_TYPES for t in offered):
            _fail(reply, errors.conntype_mismatch(client_types))
    else:
        _fail(reply, errors.parameter_missing("supportedConnectionTypes"))
    commands: tuple[Command, ...] = ()
    if reply["successful"]:
        reply["clientId"] = facts.new_client_id
        commands = (CreateClient(facts.new_client_id),)
    # faye passes the request's connectionType to _advize for handshakes too
    _advize(reply, policy, message.get("connectionType"))
    return Decision(reply, commands)


def _hold_ms(message: Message, facts: Facts, policy: Policy) -> int:
    if message.get("connectionType") == ConnectionType.EVENTSOURCE:
        return 0
    if facts.first_connect and policy.answer_first_connect:
        return 0
    advice = message.get("advice")
    if isinstance(advice, dict):
        timeout = advice.get("timeout")
        if isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout >= 0:
            return int(timeout)
    return policy.timeout_ms


def _connect(message: Message, facts: Facts, policy: Policy) -> Decision:
    reply = _base_reply(message)
    client_id = message.get("clientId")
    connection_type = message.get("connectionType")
    if not facts.client_exists:
        _fail(reply, errors.client_unknown(client_id))
    if not _truthy(client_id):
        _fail(reply, errors.parameter_missing("clientId"))
    if connection_type not in BROKER_CONNECTION_TYPES:
        _fail(reply, errors.conntype_mismatch(connection_type))
    if not _truthy(connection_type):
        _fail(reply, errors.parameter_missing("connectionType"))
    _advize(reply, policy, connection_type)
    if not reply["successful"]:
        reply.pop("clientId", None)
        return Decision(reply)
    hold = _hold_ms(message, facts, policy)
    return Decision(reply, (Connect(str(client_id), hold, str(connection_type)),))


def _check_session(reply: Message, message: Message, facts: Facts, field: str) -> None:
    """The 401, 402 clientId and 402 ``field`` checks shared by subscribe and unsubscribe."""
    if not facts.client_exists:
        _fail(reply, errors.client_unknown(message.get("clientId")))
    if not _truthy(message.get("clientId")):
        _fail(reply, errors.parameter_missing("clientId"))
    if not _truthy(message.get(field)):
        _fail(reply, errors.parameter_missing(field))


def _channel_error(channel: object, facts: Facts, policy: Policy) -> str | None:
    if isinstance(channel, str) and len(channel) > policy.max_channel_length:
        return errors.channel_invalid("")
    error = None
    if not facts.local and not channels.is_subscribable(channel):
        error = errors.channel_forbidden(channel)
    if not channels.is_valid(channel):
        error = errors.channel_invalid(channel)
    return error


def _subscription(message: Message, *, subscribe: bool, facts: Facts, policy: Policy) -> Decision:
    reply = _base_reply(message)
    _check_session(reply, message, facts, "subscription")
    wanted = message.get("subscription")
    # faye: response.subscription = message.subscription || [] (same form as sent)
    reply["subscription"] = wanted if _truthy(wanted) else []
    if not reply["successful"]:
        return Decision(reply)
    client_id = str(message["clientId"])
    commands: list[Command] = []
    count = facts.subscription_count
    requested: list[Any] = wanted if isinstance(wanted, list) else [wanted]
    for channel in requested:
        error = _channel_error(channel, facts, policy)
        if error is None and subscribe and count >= policy.max_subscriptions:
            error = errors.subscription_limit(channel)
        if error is not None:
            _fail(reply, error)
            break
        if subscribe:
            count += 1
            commands.append(Subscribe(client_id, channel))
        else:
            commands.append(Unsubscribe(client_id, channel))
    return Decision(reply, tuple(commands))


def _disconnect(message: Message, facts: Facts) -> Decision:
    reply = _base_reply(message)
    if not facts.client_exists:
        _fail(reply, errors.client_unknown(message.get("clientId")))
    if not _truthy(message.get("clientId")):
        _fail(reply, errors.parameter_missing("clientId"))
    if not reply["successful"]:
        reply.pop("clientId", None)
        return Decision(reply)
    return Decision(reply, (DestroyClient(str(message["clientId"])),))


def _delivered_copy(message: Message, policy: Policy) -> Message:
    stripped = DELIVERY_STRIPPED_FIELDS if policy.strip_delivery_fields else ("clientId",)
    return {key: value for key, value in message.items() if key not in stripped}


def _publish(message: Message, facts: Facts, policy: Policy) -> Decision:
    reply = _base_reply(message)
    channel = message.get("channel")
    if isinstance(channel, str) and len(channel) > policy.max_channel_length:
        _fail(reply, errors.channel_invalid(""))
    elif not channels.is_name(channel):
        _fail(reply, errors.channel_invalid(channel))
    if "data" not in message:
        _fail(reply, errors.parameter_missing("data"))
    if not reply["successful"]:
        return Decision(reply)
    assert isinstance(channel, str)
    delivered = _delivered_copy(message, policy)
    # encoded once here, and these bytes go to every recipient (docs/architecture.md, fan-out)
    encoded = orjson.dumps(delivered)
    if len(encoded) > policy.max_message_bytes:
        _fail(reply, errors.message_too_large(channel))
        return Decision(reply)
    return Decision(reply, (Publish(channel, delivered, encoded, message.get("clientId")),))


def _forbidden_meta(message: Message, facts: Facts, policy: Policy) -> Decision:
    reply = _base_reply(message)
    _fail(reply, errors.channel_forbidden(message.get("channel")))
    return Decision(reply)


def _subscribe(message: Message, facts: Facts, policy: Policy) -> Decision:
    return _subscription(message, subscribe=True, facts=facts, policy=policy)


def _unsubscribe(message: Message, facts: Facts, policy: Policy) -> Decision:
    return _subscription(message, subscribe=False, facts=facts, policy=policy)


_Handler = Callable[[Message, Facts, Policy], Decision]

_META_HANDLERS: dict[str, _Handler] = {
    HANDSHAKE: _handshake,
    CONNECT: _connect,
    SUBSCRIBE: _subscribe,
    UNSUBSCRIBE: _unsubscribe,
    DISCONNECT: lambda message, facts, policy: _disconnect(message, facts),
}


def handle(message: Message, facts: Facts, policy: Policy) -> Decision:
    """Decide the reply to one incoming message (faye ``Server#_handle``).

    A message whose channel is a meta channel goes to its handler (matched exactly, the
    CVE-2020-11020 fix); any other ``/meta/...`` is forbidden; everything else is a publish,
    even with a missing or invalid channel. An ``error`` already set (by an incoming
    extension) blocks every side effect and is kept unless a later check overwrites it.
    A failed subscribe keeps the channels listed before the failing one (faye §2.4).
    """
    channel = message.get("channel")
    if channels.is_meta(channel):
        return _META_HANDLERS.get(channel, _forbidden_meta)(message, facts, policy)
    return _publish(message, facts, policy)


def refuse(decision: Decision, at: int, error: str) -> Decision:
    """The decision with its command ``at`` (and those after it) refused with ``error``.

    The broker's authorization point calls this when it denies a command. The reply becomes a
    failure carrying ``error``; the commands before ``at`` still apply, as a subscribe to a list
    keeps the channels before the one that failed (faye §2.4). A refused handshake creates no
    client and advises ``reconnect: "none"``, so that clients stop instead of handshaking in a
    loop (faye#542); a refused connect advises a new handshake.
    """
    assert decision.reply is not None, "only a decision with a reply can be refused"
    reply = dict(decision.reply)
    reply["error"] = error
    reply["successful"] = False
    refused = decision.commands[at]
    if isinstance(refused, CreateClient):
        reply.pop("clientId", None)
        reply["advice"] = {"reconnect": "none"}
    return Decision(reply, decision.commands[:at])


def unavailable(message: Message, policy: Policy) -> Message:
    """The reply when the broker cannot act on ``message`` now (its engine is unreachable).

    ``500::Engine unavailable``; handshake and connect replies advise a retry after a
    second (not a re-handshake: the session may still exist once the engine is back).
    """
    reply = _base_reply(message)
    _fail(reply, errors.server_error("Engine unavailable"))
    if message.get("channel") in (HANDSHAKE, CONNECT):
        interval = max(policy.interval_ms, 1000)
        reply["advice"] = {"reconnect": "retry", "interval": interval, "timeout": policy.timeout_ms}
    return reply
