"""Sans-I/O Bayeux client, faye dialect (faye ``src/protocol/client.js``; docs/protocol.md §9).

States (:class:`State`)::

    UNCONNECTED --start()--> HANDSHAKING --handshake ok--> CONNECTING --transport_selected()--> CONNECTED
                                 ^   |  (refused or unreachable:                                   |
                                 |   +-- retry after backoff)                                      |
                                 +------------- advice "handshake", 401 --------------------------+
    any state --disconnect() or advice "none"--> DISCONNECTED (final)

Inputs are method calls: the user's requests (:meth:`ClientSession.subscribe`, ``publish``...),
what the transport received (:meth:`~ClientSession.receive`) or failed to send
(:meth:`~ClientSession.send_failed`), and the timer (:meth:`~ClientSession.tick`). Each returns
a list of actions (frozen dataclasses) for the I/O layer. Time is passed in as ``now`` (seconds
on any monotonic clock); the backoff jitter comes from an injected function. Requests are
identified by *tickets*, which the actions :class:`Resolve`, :class:`Reject` and
:class:`Abandon` settle.

Deliberate differences from the faye client, each safer: only messages with ``successful`` are
replies and only messages without it are deliveries (faye delivers any message with ``data``);
advice is taken from ``/meta/*`` replies only, never from a delivered message (§5.9 item 6);
a 401 on subscribe starts the re-handshake at once instead of waiting for the next connect;
failures back off exponentially with jitter instead of retrying every 5 s.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from typing import Any, TypeAlias

from protocol import channels
from protocol.channels import CONNECT, DISCONNECT, HANDSHAKE, SUBSCRIBE, UNSUBSCRIBE
from protocol.commands import Message
from protocol.errors import ErrorCode, parse_error
from protocol.messages import BAYEUX_VERSION

__all__ = [
    "Abandon",
    "Action",
    "ClientOptions",
    "ClientSession",
    "Closed",
    "Connected",
    "Deliver",
    "HandshakeRefused",
    "Reconnect",
    "Reject",
    "RequestKind",
    "Resolve",
    "SelectTransport",
    "Send",
    "State",
    "TimerKind",
    "Wait",
    "backoff_delay",
]


class State(Enum):
    UNCONNECTED = "unconnected"
    HANDSHAKING = "handshaking"
    CONNECTING = "connecting"
    """Handshake done; the I/O layer is opening the transport (:class:`SelectTransport`)."""
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


# -- actions -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    """Send these messages as one batch (one HTTP POST, or one WebSocket frame)."""

    messages: tuple[Message, ...]


@dataclass(frozen=True, slots=True)
class Wait:
    """Call :meth:`ClientSession.tick` at ``deadline``, ``delay`` seconds from the event that asked."""

    delay: float
    deadline: float


@dataclass(frozen=True, slots=True)
class SelectTransport:
    """Open the first usable of ``connection_types`` (client preference order, all offered by the
    server) and report it with :meth:`ClientSession.transport_selected` (faye ``Transport.get``)."""

    connection_types: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Connected:
    """A session is up: subscriptions and queued publishes have been sent with the first connect."""

    client_id: str
    connection_type: str


@dataclass(frozen=True, slots=True)
class Deliver:
    """A published message arrived; ``subscriptions`` are the local patterns it matches (§1.2)."""

    message: Message
    subscriptions: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Resolve:
    """The request behind ``ticket`` succeeded; ``reply`` is the server's answer."""

    ticket: int
    reply: Message


@dataclass(frozen=True, slots=True)
class Reject:
    """The server refused the request behind ``ticket``; ``reply["error"]`` says why (§3)."""

    ticket: int
    reply: Message

    @property
    def error(self) -> str:
        return str(self.reply.get("error", ""))


@dataclass(frozen=True, slots=True)
class Abandon:
    """The request behind ``ticket`` will never be answered (client closed, unsubscribed)."""

    ticket: int
    reason: str


@dataclass(frozen=True, slots=True)
class HandshakeRefused:
    """The server answered a handshake with an error; the session retries after a backoff."""

    reply: Message


@dataclass(frozen=True, slots=True)
class Closed:
    """The session ended for good: ``disconnect()`` or advice ``reconnect: "none"``."""

    reason: str


Action: TypeAlias = (
    Send | Wait | SelectTransport | Connected | Deliver | Resolve | Reject | Abandon | HandshakeRefused | Closed
)


# -- options and backoff -----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientOptions:
    """Client settings. Times are in seconds.

    ``connection_types`` is the preference order offered in the handshake; ``timeout`` is the
    connect timeout assumed until the server advises one (faye's default is 60 s); ``retry`` is
    the first backoff delay after a failure and ``max_retry`` its cap.
    """

    connection_types: tuple[str, ...] = ("websocket", "long-polling")
    timeout: float = 60.0
    retry: float = 1.0
    max_retry: float = 30.0


def backoff_delay(failures: int, *, base: float, cap: float, jitter: float) -> float:
    """Exponential backoff with "equal jitter": half of ``min(cap, base * 2**(failures-1))`` is
    fixed and half is scaled by ``jitter`` in ``[0, 1)``, so a retry never comes sooner than
    half the step (no busy loop) and many clients do not retry in step."""
    ceiling = min(cap, base * (1 << min(max(0, failures - 1), 32)))
    return ceiling / 2 + ceiling / 2 * jitter


def _base36(number: int) -> str:
    """faye's message ids: a counter written in base 36 (§9.5)."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, rest = divmod(number, 36)
        text = digits[rest] + text
        if number == 0:
            return text


class Reconnect(StrEnum):
    """The advice ``reconnect`` values (docs/protocol.md §9.3)."""

    RETRY = "retry"
    HANDSHAKE = "handshake"
    NONE = "none"


class RequestKind(Enum):
    """What a request in flight is, which decides how its reply is handled."""

    HANDSHAKE = "handshake"
    CONNECT = "connect"
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    PUBLISH = "publish"
    DISCONNECT = "disconnect"


class TimerKind(Enum):
    """What the one timer does when it fires (:meth:`ClientSession.tick`)."""

    HANDSHAKE = "handshake"
    CONNECT = "connect"
    FLUSH = "flush"
    """Send again what failed while the session itself was fine."""


@dataclass(slots=True)
class _Request:
    kind: RequestKind
    message: Message
    tickets: list[int] = field(default_factory=list)


_SESSION_KINDS = frozenset({RequestKind.SUBSCRIBE, RequestKind.UNSUBSCRIBE})
"""Requests that belong to one session: a re-handshake makes them moot."""
_RETRIED_KINDS = frozenset({RequestKind.PUBLISH, RequestKind.SUBSCRIBE, RequestKind.UNSUBSCRIBE})
"""Requests sent again after a failure."""


class ClientSession:
    """One Bayeux client's protocol state (faye ``Client``), driven by the I/O layer."""

    def __init__(self, *, options: ClientOptions | None = None, jitter: Callable[[], float] = random.random) -> None:
        self.options = options or ClientOptions()
        self.state = State.UNCONNECTED
        self.client_id: str | None = None
        self.connection_type: str | None = None
        self.reconnect = Reconnect.RETRY
        self.interval = 0.0
        self.timeout = self.options.timeout
        self._jitter = jitter
        self._ids = itertools.count(1)
        self._tickets = itertools.count(1)
        self._in_flight: dict[str, _Request] = {}
        self._outbox: list[_Request] = []
        self._subscriptions: dict[str, None] = {}
        self._confirmed: set[str] = set()
        self._waiters: dict[str, list[int]] = {}
        self._timer: tuple[float, TimerKind] | None = None
        self._failures = 0

    # -- what the I/O layer reads ----------------------------------------------------------

    @property
    def deadline(self) -> float | None:
        """When :meth:`tick` must next be called, or None."""
        return self._timer[0] if self._timer else None

    @property
    def request_timeout(self) -> float:
        """How long to wait for any reply before counting it failed: faye's 1.2 x the advised
        timeout (§9.2), and at least one second more than the timeout itself."""
        return max(self.timeout * 1.2, self.timeout + 1.0)

    @property
    def subscriptions(self) -> tuple[str, ...]:
        """Channels and patterns the client wants, kept across re-handshakes."""
        return tuple(self._subscriptions)

    # -- user requests ---------------------------------------------------------------------

    def start(self, now: float) -> list[Action]:
        """Begin the first handshake (faye ``Client#handshake``)."""
        if self.state is not State.UNCONNECTED:
            return []
        return self._handshake()

    def subscribe(self, channel: str, now: float) -> tuple[int, list[Action]]:
        """Ask for ``channel``; it is subscribed again after every re-handshake (faye §9.3)."""
        ticket = next(self._tickets)
        if self.state is State.DISCONNECTED:
            return ticket, [Abandon(ticket, "the client is disconnected")]
        if self.state is State.CONNECTED and channel in self._confirmed:
            return ticket, [Resolve(ticket, {"channel": SUBSCRIBE, "successful": True, "subscription": channel})]
        self._waiters.setdefault(channel, []).append(ticket)
        if channel in self._subscriptions:
            return ticket, []
        self._subscriptions[channel] = None
        if self.state is not State.CONNECTED:
            return ticket, []
        return ticket, [Send((self._register(self._subscription(RequestKind.SUBSCRIBE, channel)),))]

    def unsubscribe(self, channel: str, now: float) -> tuple[int, list[Action]]:
        """Drop ``channel``; callers still waiting for its subscribe are abandoned."""
        ticket = next(self._tickets)
        actions: list[Action] = [Abandon(waiter, "unsubscribed") for waiter in self._waiters.pop(channel, [])]
        known = channel in self._subscriptions
        self._subscriptions.pop(channel, None)
        self._confirmed.discard(channel)
        if known and self.state is State.CONNECTED:
            request = self._subscription(RequestKind.UNSUBSCRIBE, channel)
            request.tickets.append(ticket)
            return ticket, [*actions, Send((self._register(request),))]
        # nothing to undo on the server: faye answers unsubscribing the unknown with success
        return ticket, [*actions, Resolve(ticket, {"channel": UNSUBSCRIBE, "successful": True,
                                                   "subscription": channel})]

    def publish(self, channel: str, data: Any, now: float, *, ext: Message | None = None) -> tuple[int, list[Action]]:
        """Publish ``data``; queued until connected, then sent (faye §2.6)."""
        ticket = next(self._tickets)
        if self.state is State.DISCONNECTED:
            return ticket, [Abandon(ticket, "the client is disconnected")]
        message: Message = {"channel": channel, "data": data, "id": self._next_id()}
        if ext is not None:
            message["ext"] = ext
        request = _Request(RequestKind.PUBLISH, message, [ticket])
        if self.state is not State.CONNECTED:
            self._outbox.append(request)
            return ticket, []
        return ticket, [Send((self._register(request),))]

    def disconnect(self, now: float) -> tuple[int, list[Action]]:
        """End the session (faye ``Client#disconnect``): pending requests are abandoned."""
        ticket = next(self._tickets)
        if self.state is State.DISCONNECTED:
            return ticket, [Resolve(ticket, {"channel": DISCONNECT, "successful": True})]
        client_id = self.client_id
        actions = self._abandon_all("the client disconnected")
        self.state = State.DISCONNECTED
        self._timer = None
        if client_id is None:
            return ticket, [*actions, Resolve(ticket, {"channel": DISCONNECT, "successful": True}),
                            Closed("disconnected")]
        message: Message = {"channel": DISCONNECT, "clientId": client_id, "id": self._next_id()}
        request = _Request(RequestKind.DISCONNECT, message, [ticket])
        self._in_flight[request.message["id"]] = request
        return ticket, [*actions, Send((request.message,))]

    # -- what the I/O layer reports --------------------------------------------------------

    def transport_selected(self, connection_type: str, now: float) -> list[Action]:
        """The transport is open: subscribe to everything, send queued publishes, then connect."""
        if self.state is not State.CONNECTING:
            return []
        assert self.client_id is not None
        self.state = State.CONNECTED
        self.connection_type = connection_type
        batch = [self._register(self._subscription(RequestKind.SUBSCRIBE, channel)) for channel in self._subscriptions]
        batch += self._take_outbox()
        actions: list[Action] = [Connected(self.client_id, connection_type)]
        if batch:
            actions.append(Send(tuple(batch)))
        return actions + self._connect()

    def receive(self, messages: Sequence[object], now: float) -> list[Action]:
        """Handle what the server sent: replies (they carry ``successful``) and deliveries (§9.4)."""
        actions: list[Action] = []
        for message in messages:
            if not isinstance(message, dict):
                continue
            if "successful" in message:
                request = self._in_flight.pop(str(message.get("id")), None)
                if request is not None:  # else stale: from a session or request given up on
                    actions += self._reply(request, message, now)
            elif self.state is not State.DISCONNECTED:
                actions += self._deliver(message)
        return actions

    def send_failed(self, messages: Sequence[Message], now: float) -> list[Action]:
        """These messages got no reply (unreachable broker, HTTP error, socket closed): retry them
        after a backoff. Publishes are sent again, so a subscriber may see one twice (as in faye)."""
        kinds: set[RequestKind] = set()
        for message in messages:
            request = self._in_flight.pop(str(message.get("id")), None)
            if request is None:
                continue
            kinds.add(request.kind)
            if request.kind in _RETRIED_KINDS:
                self._outbox.append(request)
            elif request.kind is RequestKind.DISCONNECT:
                return [Resolve(request.tickets[0], {"channel": DISCONNECT, "successful": True}),
                        Closed("disconnected")]
        if not kinds:
            return []
        self._failures += 1
        delay = max(self.interval, self._backoff())
        if RequestKind.HANDSHAKE in kinds:
            self.state = State.UNCONNECTED
            return self._schedule(TimerKind.HANDSHAKE, now, delay)
        if RequestKind.CONNECT in kinds:
            return self._schedule(TimerKind.CONNECT, now, delay)
        if self._timer is None:
            return self._schedule(TimerKind.FLUSH, now, delay)
        return []

    def tick(self, now: float) -> list[Action]:
        """The timer fired: handshake again, connect again, or resend what failed."""
        if self._timer is None or now < self._timer[0]:
            return []
        kind = self._timer[1]
        self._timer = None
        if kind is TimerKind.HANDSHAKE:
            return self._handshake()
        if self.state is not State.CONNECTED:
            return []
        if kind is TimerKind.CONNECT:
            return self._connect()
        return self._flush()

    # -- replies ---------------------------------------------------------------------------

    def _reply(self, request: _Request, reply: Message, now: float) -> list[Action]:
        if request.kind is RequestKind.HANDSHAKE:
            return self._handshake_reply(reply, now)
        if request.kind is RequestKind.CONNECT:
            return self._connect_reply(reply, now)
        if request.kind is RequestKind.SUBSCRIBE:
            return self._subscribe_reply(request, reply, now)
        if request.kind is RequestKind.DISCONNECT:
            return [Resolve(request.tickets[0], reply), Closed("disconnected")]
        settle = Resolve if reply["successful"] is True else Reject
        return [settle(ticket, reply) for ticket in request.tickets]

    def _advise(self, reply: Message) -> None:
        """faye ``_handleAdvice``: merge ``reconnect``, ``interval`` and ``timeout`` (ms)."""
        advice = reply.get("advice")
        if not isinstance(advice, dict):
            return
        if advice.get("reconnect") in tuple(Reconnect):
            self.reconnect = Reconnect(advice["reconnect"])
        for key in ("interval", "timeout"):
            value = advice.get(key)
            if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
                setattr(self, key, value / 1000)

    def _handshake_reply(self, reply: Message, now: float) -> list[Action]:
        client_id = reply.get("clientId")
        if reply["successful"] is True and isinstance(client_id, str) and client_id:
            self.reconnect = Reconnect.RETRY
            self._advise(reply)
            self.state = State.CONNECTING
            self.client_id = client_id
            self._failures = 0
            offered = reply.get("supportedConnectionTypes")
            usable = tuple(t for t in self.options.connection_types if isinstance(offered, list) and t in offered)
            return [SelectTransport(usable or ("long-polling",))]
        self._advise(reply)
        if self.reconnect is Reconnect.NONE:
            return self._close("the server advised not to reconnect")
        self.state = State.UNCONNECTED
        self._failures += 1
        delay = max(self.interval, self._backoff())
        return [HandshakeRefused(reply), *self._schedule(TimerKind.HANDSHAKE, now, delay)]

    def _connect_reply(self, reply: Message, now: float) -> list[Action]:
        self._advise(reply)
        if self.reconnect is Reconnect.NONE:
            return self._close("the server advised not to reconnect")
        code = parse_error(reply.get("error"))[0]
        if self.reconnect is Reconnect.HANDSHAKE or code == ErrorCode.CLIENT_UNKNOWN:
            return self._rehandshake(now)
        if reply["successful"] is True:
            self._failures = 0
            # the session is alive: what failed while it was unreachable can go now
            return self._flush() + self._schedule(TimerKind.CONNECT, now, self.interval)
        self._failures += 1
        return self._schedule(TimerKind.CONNECT, now, max(self.interval, self._backoff()))

    def _subscribe_reply(self, request: _Request, reply: Message, now: float) -> list[Action]:
        channel = str(request.message["subscription"])
        if reply["successful"] is True:
            if channel in self._subscriptions:
                self._confirmed.add(channel)
            return [Resolve(ticket, reply) for ticket in self._waiters.pop(channel, [])]
        if parse_error(reply.get("error"))[0] == ErrorCode.CLIENT_UNKNOWN:
            # the server forgot this client: subscribed again (and answered) after a new handshake
            return self._rehandshake(now) if self.state is State.CONNECTED else []
        self._subscriptions.pop(channel, None)
        return [Reject(ticket, reply) for ticket in self._waiters.pop(channel, [])]

    def _deliver(self, message: Message) -> list[Action]:
        channel = message.get("channel")
        if "data" not in message or not channels.is_name(channel) or channels.is_meta(channel):
            return []
        matched = tuple(key for key in channels.expand(channel) if key in self._subscriptions)
        return [Deliver(message, matched)] if matched else []

    # -- helpers ---------------------------------------------------------------------------

    def _next_id(self) -> str:
        return _base36(next(self._ids))

    def _backoff(self) -> float:
        return backoff_delay(self._failures, base=self.options.retry, cap=self.options.max_retry,
                             jitter=self._jitter())

    def _register(self, request: _Request) -> Message:
        """Mark ``request`` in flight under its id, with the current clientId, and return it."""
        message = request.message
        message["clientId"] = self.client_id  # only called while connected
        self._in_flight[message["id"]] = request
        return message

    def _subscription(self, kind: RequestKind, subscription: str) -> _Request:
        channel = SUBSCRIBE if kind is RequestKind.SUBSCRIBE else UNSUBSCRIBE
        return _Request(kind, {"channel": channel, "subscription": subscription, "id": self._next_id()})

    def _take_outbox(self) -> list[Message]:
        requests, self._outbox = self._outbox, []
        return [self._register(request) for request in requests]

    def _handshake(self) -> list[Action]:
        actions = self._forget_session()
        self.state = State.HANDSHAKING
        self.client_id = None
        self._timer = None
        message: Message = {"channel": HANDSHAKE, "version": BAYEUX_VERSION,
                            "supportedConnectionTypes": list(self.options.connection_types), "id": self._next_id()}
        self._in_flight[message["id"]] = _Request(RequestKind.HANDSHAKE, message)
        return [*actions, Send((message,))]

    def _rehandshake(self, now: float) -> list[Action]:
        """Advice ``handshake`` or a 401 (faye §9.3): handshake again after ``interval``."""
        self.state = State.UNCONNECTED
        self.client_id = None
        return self._schedule(TimerKind.HANDSHAKE, now, self.interval)

    def _forget_session(self) -> list[Action]:
        """Drop what belonged to the old session; subscriptions are kept and sent again once the
        new session is up. Pending unsubscribes succeed: a new session holds nothing to undo."""
        self._confirmed.clear()
        done: list[_Request] = []
        for message_id, request in list(self._in_flight.items()):
            if request.kind in _SESSION_KINDS or request.kind is RequestKind.CONNECT:
                done.append(self._in_flight.pop(message_id))
        done += [request for request in self._outbox if request.kind in _SESSION_KINDS]
        self._outbox = [request for request in self._outbox if request.kind not in _SESSION_KINDS]
        return [Resolve(ticket, {"channel": UNSUBSCRIBE, "successful": True})
                for request in done if request.kind is RequestKind.UNSUBSCRIBE for ticket in request.tickets]

    def _connect(self) -> list[Action]:
        """Send the next ``/meta/connect``; only a connect reply or failure leads here, so exactly
        one is ever outstanding (faye §9.3).

        With messages waiting after a failure, the connect asks to be answered at once
        (``advice: {timeout: 0}``, as faye's transport does for a batched connect, §4.8): they are
        sent once it succeeds, so they never reach a restarted broker before the re-handshake
        has subscribed again (a publish needs no session, §2.6, and would be lost).
        """
        message: Message = {"channel": CONNECT, "connectionType": self.connection_type, "id": self._next_id()}
        if self._outbox:
            message["advice"] = {"timeout": 0}
        return [Send((self._register(_Request(RequestKind.CONNECT, message)),))]

    def _flush(self) -> list[Action]:
        batch = self._take_outbox()
        return [Send(tuple(batch))] if batch else []

    def _schedule(self, kind: TimerKind, now: float, delay: float) -> list[Action]:
        """Run ``kind`` after ``delay`` seconds; a zero delay runs it now."""
        self._timer = (now + delay, kind)
        if delay <= 0:
            return self.tick(now)
        return [Wait(delay, now + delay)]

    def _abandon_all(self, reason: str) -> list[Action]:
        tickets = [t for r in (*self._in_flight.values(), *self._outbox) for t in r.tickets]
        tickets += [t for waiting in self._waiters.values() for t in waiting]
        self._in_flight.clear()
        self._outbox.clear()
        self._waiters.clear()
        return [Abandon(ticket, reason) for ticket in tickets]

    def _close(self, reason: str) -> list[Action]:
        actions = self._abandon_all(reason)
        self.state = State.DISCONNECTED
        self._timer = None
        return [*actions, Closed(reason)]
