"""Client state machine when the broker is unreachable: jittered exponential backoff, resending
what failed, no busy loop (docs/protocol.md §9.2, §9.3; the faye client retries every 5 s). No event loop."""

from __future__ import annotations

import pytest

from protocol.client import Action, ClientOptions, ClientSession, Resolve, Send, State, Wait, backoff_delay
from protocol.commands import Message
from tests.protocol.test_client_session import (
    CID,
    connected,
    handshake_ok,
    new_session,
    one_sent,
    reply_to,
    sent,
)


@pytest.mark.parametrize(
    ("failures", "jitter", "delay"),
    [
        pytest.param(1, 0.0, 0.5, id="first-half-of-base"),
        pytest.param(1, 0.999, 0.9995, id="first-full-jitter"),
        pytest.param(2, 0.0, 1.0, id="doubles"),
        pytest.param(3, 0.5, 3.0, id="third"),
        pytest.param(4, 0.0, 4.0, id="fourth"),
        pytest.param(5, 0.0, 4.0, id="capped"),
        pytest.param(10_000, 0.0, 4.0, id="huge-count-stays-capped"),
        pytest.param(0, 0.0, 0.5, id="zero-counts-as-first"),
    ],
)
def test_backoff_doubles_up_to_the_cap_and_never_drops_below_half(failures: int, jitter: float, delay: float) -> None:
    assert backoff_delay(failures, base=1.0, cap=8.0, jitter=jitter) == pytest.approx(delay)


def test_unreachable_broker_handshake_backs_off_exponentially_no_busy_loop() -> None:
    session = new_session()
    handshake = one_sent(session.start(0.0))
    now, waits = 0.0, []
    for _ in range(6):
        actions = session.send_failed([handshake], now)
        [wait] = actions
        assert isinstance(wait, Wait)
        waits.append(wait.delay)
        assert session.state is State.UNCONNECTED
        assert session.tick(wait.deadline - 0.01) == []
        now = wait.deadline
        handshake = one_sent(session.tick(now))
        assert handshake["channel"] == "/meta/handshake"
    assert waits == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    session.receive([handshake_ok(handshake)], now)
    _, connect = connected_again(session, now)
    assert session.send_failed([connect], now) == [Wait(0.5, now + 0.5)]  # success reset the count


def connected_again(session: ClientSession, now: float) -> tuple[list[Action], Message]:
    actions = session.transport_selected("long-polling", now)
    return actions, sent(actions)[-1]


def test_failed_connect_is_retried_with_what_else_failed_sent_first() -> None:
    """A WebSocket that closes: every unanswered message is handed back, then resent once."""
    session = new_session()
    session.subscribe("/a", 0.0)
    actions, connect = connected(session)
    subscribe = sent(actions)[0]
    ticket, publish_actions = session.publish("/a", {"n": 1}, 0.0)
    publish = one_sent(publish_actions)
    assert session.send_failed([subscribe, publish, connect], 1.0) == [Wait(0.5, 1.5)]
    assert session.state is State.CONNECTED
    retry = one_sent(session.tick(1.5))
    assert retry == {"channel": "/meta/connect", "connectionType": "websocket", "id": "5", "clientId": CID,
                     "advice": {"timeout": 0}}
    after = session.receive([reply_to(retry, advice={"reconnect": "retry", "interval": 0})], 1.6)
    assert [type(action) for action in after] == [Send, Send]
    assert [m["id"] for m in sent(after)[:2]] == [subscribe["id"], publish["id"]]
    assert sent(after)[2] == {"channel": "/meta/connect", "connectionType": "websocket", "id": "6",
                              "clientId": CID}
    assert session.receive([reply_to(publish)], 1.6) == [Resolve(ticket, reply_to(publish))]


def test_messages_that_failed_never_reach_a_restarted_broker_before_the_resubscribe() -> None:
    session = new_session()
    session.subscribe("/a", 0.0)
    _, connect = connected(session)
    _, actions = session.publish("/a", "while down", 0.0)
    session.send_failed([connect, one_sent(actions)], 0.0)
    retry = one_sent(session.tick(0.5))
    handshake = one_sent(session.receive([reply_to(retry, successful=False, error="401::Unknown client",
                                                   advice={"reconnect": "handshake"})], 0.6))
    session.receive([handshake_ok(handshake)], 0.7)
    messages = sent(session.transport_selected("websocket", 0.7))
    assert [m["channel"] for m in messages] == ["/meta/subscribe", "/a", "/meta/connect"]


def test_failed_publish_while_connect_is_held_is_resent_after_a_backoff() -> None:
    session = new_session()
    connected(session)
    _, actions = session.publish("/a", 1, 0.0)
    publish = one_sent(actions)
    assert session.send_failed([publish], 0.0) == [Wait(0.5, 0.5)]
    assert sent(session.tick(0.5)) == [publish]
    second, actions = session.publish("/b", 2, 1.0)
    assert session.send_failed([one_sent(actions)], 1.0) == [Wait(1.0, 2.0)]
    _, third = session.publish("/c", 3, 1.5)
    assert session.send_failed(sent(third), 1.5) == []  # the pending timer resends it too
    assert [m["channel"] for m in sent(session.tick(2.0))] == ["/b", "/c"]
    reply = reply_to(sent(actions)[0])
    assert session.receive([reply], 2.1) == [Resolve(second, reply)]


def test_advised_interval_wins_over_a_shorter_backoff() -> None:
    session = new_session()
    _, connect = connected(session)
    connect = one_sent(session.receive([reply_to(connect, advice={"reconnect": "retry", "interval": 0,
                                                                  "timeout": 45_000})], 0.0))
    session.interval = 6.0
    assert session.send_failed([connect], 0.0) == [Wait(6.0, 6.0)]


def test_unknown_or_answered_messages_are_not_retried() -> None:
    session = new_session()
    _, connect = connected(session)
    assert session.send_failed([{"id": "nope", "channel": "/a"}, {"channel": "/b"}], 0.0) == []
    session.receive([reply_to(connect, advice={"reconnect": "retry", "interval": 1000})], 0.0)
    assert session.send_failed([connect], 0.0) == []


def test_publish_that_fails_during_a_rehandshake_waits_for_the_new_session() -> None:
    session = new_session()
    _, connect = connected(session)
    _, actions = session.publish("/a", 1, 0.0)
    publish = one_sent(actions)
    handshake = one_sent(session.receive([reply_to(connect, successful=False, error="401::Unknown client")], 0.0))
    assert session.send_failed([publish], 0.0) == [Wait(0.5, 0.5)]
    assert session.tick(0.5) == []  # not connected: kept for the new session
    session.receive([handshake_ok(handshake)], 1.0)
    messages = sent(session.transport_selected("websocket", 1.0))
    assert [m["channel"] for m in messages] == ["/a", "/meta/connect"]
    assert messages[0]["clientId"] == CID


def test_unsubscribes_pending_at_a_rehandshake_succeed() -> None:
    session = new_session()
    session.subscribe("/a", 0.0)
    session.subscribe("/b", 0.0)
    _, connect = connected(session)
    in_flight, actions = session.unsubscribe("/a", 0.0)
    queued, queued_actions = session.unsubscribe("/b", 0.0)
    session.send_failed(sent(queued_actions), 0.0)
    actions = session.receive([reply_to(connect, successful=False, error="401::Unknown client")], 0.0)
    resolved = [action.ticket for action in actions if isinstance(action, Resolve)]
    assert resolved == [in_flight, queued]
    assert session.subscriptions == ()


def test_custom_options_shape_the_first_handshake_and_backoff() -> None:
    options = ClientOptions(connection_types=("long-polling",), retry=2.0, max_retry=3.0, timeout=10.0)
    session = new_session(options=options, jitter=0.5)
    handshake = one_sent(session.start(0.0))
    assert handshake["supportedConnectionTypes"] == ["long-polling"]
    assert session.request_timeout == pytest.approx(12.0)
    assert session.send_failed([handshake], 0.0) == [Wait(1.5, 1.5)]
