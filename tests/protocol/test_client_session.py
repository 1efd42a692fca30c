"""Client state machine: handshake, transport selection, the connect cycle and advice
(docs/protocol.md §9.1, §9.3, §9.5; faye ``src/protocol/client.js``). No event loop."""

from __future__ import annotations

from typing import Any

import pytest

from protocol.client import (
    Abandon,
    Action,
    ClientOptions,
    ClientSession,
    Closed,
    Connected,
    HandshakeRefused,
    SelectTransport,
    Send,
    State,
    Wait,
)
from protocol.commands import Message

CID = "u38mqgjpv9xlp25dk8iipzovt224rdq"
CID2 = "0a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5"
OPTIONS = ClientOptions(retry=1.0, max_retry=8.0, timeout=60.0)
FAYE_TYPES = ["long-polling", "cross-origin-long-polling", "callback-polling", "websocket", "eventsource",
              "in-process"]
RETRY = {"reconnect": "retry", "interval": 0, "timeout": 45_000}


def new_session(*, jitter: float = 0.0, options: ClientOptions = OPTIONS) -> ClientSession:
    return ClientSession(options=options, jitter=lambda: jitter)


def sent(actions: list[Action]) -> list[Message]:
    """Every message the actions ask to send, in order."""
    return [message for action in actions if isinstance(action, Send) for message in action.messages]


def one_sent(actions: list[Action]) -> Message:
    [message] = sent(actions)
    return message


def reply_to(message: Message, **fields: Any) -> Message:
    """A server reply built from its request, as faye's ``_makeResponse`` does."""
    reply: Message = {"id": message["id"], "channel": message["channel"], "successful": True}
    if "clientId" in message:
        reply["clientId"] = message["clientId"]
    reply.update(fields)
    return reply


def handshake_ok(message: Message, client_id: str = CID, **fields: Any) -> Message:
    fields.setdefault("supportedConnectionTypes", FAYE_TYPES)
    fields.setdefault("advice", RETRY)
    return reply_to(message, clientId=client_id, version="1.0", **fields)


def connected(session: ClientSession, *, client_id: str = CID, now: float = 0.0,
              connection_type: str = "websocket") -> tuple[list[Action], Message]:
    """Drive a new session to CONNECTED; return transport_selected's actions and the connect sent."""
    handshake = one_sent(session.start(now))
    session.receive([handshake_ok(handshake, client_id)], now)
    actions = session.transport_selected(connection_type, now)
    return actions, sent(actions)[-1]


def test_s9_1_start_sends_fayes_handshake_once() -> None:
    session = new_session()
    assert session.state is State.UNCONNECTED
    actions = session.start(0.0)
    assert actions == [Send(({"channel": "/meta/handshake", "version": "1.0",
                              "supportedConnectionTypes": ["websocket", "long-polling"], "id": "1"},))]
    assert session.state is State.HANDSHAKING
    assert session.start(1.0) == []


@pytest.mark.parametrize(
    ("offered", "candidates"),
    [
        pytest.param(FAYE_TYPES, ("websocket", "long-polling"), id="faye-list"),
        pytest.param(["long-polling"], ("long-polling",), id="polling-only"),
        pytest.param(["websocket"], ("websocket",), id="websocket-only"),
        pytest.param(["callback-polling"], ("long-polling",), id="nothing-shared-falls-back"),
        pytest.param("websocket", ("long-polling",), id="not-a-list"),
    ],
)
def test_s9_1_transport_candidates_follow_client_order_among_server_types(
    offered: object, candidates: tuple[str, ...]
) -> None:
    session = new_session()
    handshake = one_sent(session.start(0.0))
    actions = session.receive([handshake_ok(handshake, supportedConnectionTypes=offered)], 0.0)
    assert actions == [SelectTransport(candidates)]
    assert session.state is State.CONNECTING
    assert session.client_id == CID


def test_s9_3_transport_selected_connects_with_the_chosen_type() -> None:
    session = new_session()
    actions, connect = connected(session, connection_type="long-polling")
    assert actions == [Connected(CID, "long-polling"), Send((connect,))]
    assert connect == {"channel": "/meta/connect", "connectionType": "long-polling", "id": "2", "clientId": CID}
    assert session.state is State.CONNECTED
    assert session.connection_type == "long-polling"
    assert session.transport_selected("websocket", 0.0) == []


def test_s9_3_transport_selected_is_ignored_unless_connecting() -> None:
    session = new_session()
    assert session.transport_selected("websocket", 0.0) == []
    assert session.state is State.UNCONNECTED


def test_s9_5_message_ids_are_a_base36_counter() -> None:
    session = new_session()
    _, connect = connected(session)
    ids = [connect["id"]]
    for _ in range(40):
        connect = one_sent(session.receive([reply_to(connect, advice=RETRY)], 0.0))
        ids.append(connect["id"])
    assert ids[:9] == ["2", "3", "4", "5", "6", "7", "8", "9", "a"]
    assert ids[34:37] == ["10", "11", "12"]


@pytest.mark.parametrize(
    ("advice", "expected"),
    [
        pytest.param(RETRY, "send", id="retry-interval-0-connects-at-once"),
        pytest.param({"reconnect": "retry", "interval": 2500, "timeout": 45_000}, Wait(2.5, 12.5), id="interval"),
        pytest.param(None, "send", id="no-advice-keeps-retrying"),
        pytest.param({"reconnect": "bogus", "interval": -5, "timeout": True}, "send", id="invalid-advice-ignored"),
        pytest.param("retry", "send", id="advice-not-an-object"),
    ],
)
def test_s9_3_connect_cycle_follows_retry_advice(advice: object, expected: object) -> None:
    session = new_session()
    _, connect = connected(session, now=10.0)
    reply = reply_to(connect) if advice is None else reply_to(connect, advice=advice)
    actions = session.receive([reply], 10.0)
    if expected == "send":
        assert one_sent(actions)["channel"] == "/meta/connect"
        assert session.deadline is None
        return
    assert actions == [expected]
    assert session.deadline == 12.5
    assert session.tick(12.4) == []
    next_connect = one_sent(session.tick(12.5))
    assert next_connect["channel"] == "/meta/connect"
    assert next_connect["id"] != connect["id"]


@pytest.mark.parametrize(
    ("timeout_ms", "request_timeout"),
    [
        pytest.param(45_000, 54.0, id="faye-1.2x"),
        pytest.param(2_000, 3.0, id="at-least-one-second-slack"),
        pytest.param(0, 1.0, id="zero"),
    ],
)
def test_s9_2_request_timeout_follows_advised_timeout(timeout_ms: int, request_timeout: float) -> None:
    session = new_session()
    assert session.request_timeout == pytest.approx(72.0)
    _, connect = connected(session)
    session.receive([reply_to(connect, advice={"reconnect": "retry", "interval": 0, "timeout": timeout_ms})], 0.0)
    assert session.request_timeout == pytest.approx(request_timeout)


def test_s9_3_advice_none_stops_the_client_for_good() -> None:
    session = new_session()
    _, connect = connected(session)
    ticket, _ = session.publish("/a", 1, 0.0)
    actions = session.receive([reply_to(connect, advice={"reconnect": "none"})], 0.0)
    assert actions == [Abandon(ticket, "the server advised not to reconnect"),
                       Closed("the server advised not to reconnect")]
    assert session.state is State.DISCONNECTED
    assert session.deadline is None
    assert session.start(1.0) == []


@pytest.mark.parametrize(
    "reply_fields",
    [
        pytest.param({"successful": False, "error": f"401:{CID}:Unknown client",
                      "advice": {"reconnect": "handshake"}}, id="faye-401-with-advice"),
        pytest.param({"successful": False, "error": f"401:{CID}:Unknown client"}, id="401-without-advice"),
        pytest.param({"advice": {"reconnect": "handshake", "interval": 0}}, id="successful-but-handshake-advice"),
    ],
)
def test_s9_3_handshake_advice_or_401_rehandshakes_and_resubscribes(reply_fields: Message) -> None:
    session = new_session()
    session.subscribe("/chat/*", 0.0)
    _, connect = connected(session)
    actions = session.receive([reply_to(connect, **reply_fields)], 1.0)
    handshake = one_sent(actions)
    assert handshake["channel"] == "/meta/handshake"
    assert "clientId" not in handshake
    assert session.state is State.HANDSHAKING
    assert session.client_id is None
    assert session.receive([handshake_ok(handshake, CID2)], 1.0) == [SelectTransport(("websocket", "long-polling"))]
    messages = sent(session.transport_selected("websocket", 1.0))
    assert [(m["channel"], m.get("subscription"), m["clientId"]) for m in messages] == [
        ("/meta/subscribe", "/chat/*", CID2), ("/meta/connect", None, CID2)]


def test_s9_3_rehandshake_waits_for_advised_interval() -> None:
    session = new_session()
    _, connect = connected(session)
    actions = session.receive([reply_to(connect, successful=False, error="401::Unknown client",
                                        advice={"reconnect": "handshake", "interval": 3000})], 5.0)
    assert actions == [Wait(3.0, 8.0)]
    assert session.state is State.UNCONNECTED
    assert one_sent(session.tick(8.0))["channel"] == "/meta/handshake"


def test_stale_connect_reply_after_rehandshake_is_ignored() -> None:
    session = new_session()
    _, connect = connected(session)
    session.receive([reply_to(connect, successful=False, error="401::Unknown client")], 0.0)
    assert session.receive([reply_to(connect, advice={"reconnect": "none"})], 0.0) == []
    assert session.state is State.HANDSHAKING


def test_engine_unavailable_retries_connect_after_advised_interval() -> None:
    """Our broker's ``500::Engine unavailable`` advises retry after a second (protocol/server.py)."""
    session = new_session()
    _, connect = connected(session)
    reply = reply_to(connect, successful=False, error="500::Engine unavailable",
                     advice={"reconnect": "retry", "interval": 1000, "timeout": 45_000})
    assert session.receive([reply], 2.0) == [Wait(1.0, 3.0)]
    assert session.state is State.CONNECTED
    assert one_sent(session.tick(3.0))["channel"] == "/meta/connect"


@pytest.mark.parametrize(
    ("reply_fields", "message"),
    [
        pytest.param({"successful": False, "error": "403::Authentication required",
                      "advice": {"reconnect": "handshake"}}, "refused", id="refused-by-extension"),
        pytest.param({"supportedConnectionTypes": FAYE_TYPES}, "no-client-id", id="success-without-client-id"),
    ],
)
def test_s9_3_failed_handshake_is_reported_and_retried_with_backoff(reply_fields: Message, message: str) -> None:
    session = new_session()
    handshake = one_sent(session.start(0.0))
    reply = reply_to(handshake, **reply_fields)
    assert session.receive([reply], 0.0) == [HandshakeRefused(reply), Wait(0.5, 0.5)]
    assert session.state is State.UNCONNECTED
    second = one_sent(session.tick(0.5))
    assert second["channel"] == "/meta/handshake"
    assert session.receive([reply_to(second, **reply_fields)], 1.0)[-1] == Wait(1.0, 2.0)


def test_s9_3_handshake_refused_with_advice_none_closes() -> None:
    session = new_session()
    handshake = one_sent(session.start(0.0))
    actions = session.receive([reply_to(handshake, successful=False, error="403::Go away",
                                        advice={"reconnect": "none"})], 0.0)
    assert actions == [Closed("the server advised not to reconnect")]
    assert session.state is State.DISCONNECTED
