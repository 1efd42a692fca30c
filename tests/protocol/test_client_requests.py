"""Client state machine: subscribe, unsubscribe, publish, deliveries and disconnect
(docs/protocol.md §1.2, §2.4-§2.6, §9.3, §9.4). No event loop."""

from __future__ import annotations

from typing import Any

import pytest

from protocol.client import Abandon, ClientSession, Closed, Deliver, Reject, Resolve, Send, State
from protocol.commands import Message
from tests.protocol.test_client_session import (
    CID,
    CID2,
    connected,
    handshake_ok,
    new_session,
    one_sent,
    reply_to,
    sent,
)

FORBIDDEN = "403:/service/x:Forbidden channel"


def test_s9_3_subscriptions_and_publishes_made_before_connecting_go_with_the_first_connect() -> None:
    session = new_session()
    sub_ticket, sub_actions = session.subscribe("/a", 0.0)
    pub_ticket, pub_actions = session.publish("/a", {"n": 1}, 0.0, ext={"token": "t"})
    assert sub_actions == pub_actions == []
    actions, connect = connected(session)
    subscribe, publish, _ = sent(actions)
    assert subscribe == {"channel": "/meta/subscribe", "subscription": "/a", "id": "3", "clientId": CID}
    assert publish == {"channel": "/a", "data": {"n": 1}, "id": "1", "ext": {"token": "t"}, "clientId": CID}
    assert actions[1] == Send((subscribe, publish))
    assert actions[2] == Send((connect,))
    results = session.receive([reply_to(publish), reply_to(subscribe, subscription="/a")], 0.0)
    assert results == [Resolve(pub_ticket, reply_to(publish)), Resolve(sub_ticket, reply_to(subscribe,
                                                                                          subscription="/a"))]
    assert session.subscriptions == ("/a",)


def test_s2_4_subscribe_while_connected_is_sent_at_once_and_resolved_by_its_reply() -> None:
    session = new_session()
    connected(session)
    first, actions = session.subscribe("/chat/*", 0.0)
    second, again = session.subscribe("/chat/*", 0.0)
    subscribe = one_sent(actions)
    assert again == []
    assert subscribe == {"channel": "/meta/subscribe", "subscription": "/chat/*", "id": "3", "clientId": CID}
    reply = reply_to(subscribe, subscription="/chat/*")
    assert session.receive([reply], 0.0) == [Resolve(first, reply), Resolve(second, reply)]
    third, known = session.subscribe("/chat/*", 0.0)
    assert known == [Resolve(third, {"channel": "/meta/subscribe", "successful": True, "subscription": "/chat/*"})]


def test_s2_4_refused_subscribe_rejects_every_waiter_and_forgets_the_channel() -> None:
    session = new_session()
    connected(session)
    first, actions = session.subscribe("/service/x", 0.0)
    second, _ = session.subscribe("/service/x", 0.0)
    reply = reply_to(one_sent(actions), successful=False, error=FORBIDDEN, subscription="/service/x")
    results = session.receive([reply], 0.0)
    assert results == [Reject(first, reply), Reject(second, reply)]
    assert results[0].error == FORBIDDEN  # type: ignore[union-attr]
    assert session.subscriptions == ()


def test_401_on_subscribe_rehandshakes_and_answers_the_subscribe_from_the_new_session() -> None:
    session = new_session()
    _, connect = connected(session)
    ticket, actions = session.subscribe("/a", 0.0)
    unsub_ticket, unsub = session.unsubscribe("/gone", 0.0)
    assert unsub == [Resolve(unsub_ticket, {"channel": "/meta/unsubscribe", "successful": True,
                                            "subscription": "/gone"})]
    reply = reply_to(one_sent(actions), successful=False, error=f"401:{CID}:Unknown client")
    handshake = one_sent(session.receive([reply], 0.0))
    assert handshake["channel"] == "/meta/handshake"
    assert session.receive([reply_to(connect, advice={"reconnect": "none"})], 0.0) == []  # stale
    session.receive([handshake_ok(handshake, CID2)], 0.0)
    subscribe, _ = sent(session.transport_selected("websocket", 0.0))
    assert subscribe["clientId"] == CID2
    ok = reply_to(subscribe, subscription="/a")
    assert session.receive([ok], 0.0) == [Resolve(ticket, ok)]


def test_401_on_subscribe_during_a_pending_rehandshake_waits_for_it() -> None:
    session = new_session()
    _, connect = connected(session)
    ticket, actions = session.subscribe("/a", 0.0)
    advice = {"reconnect": "handshake", "interval": 3000}
    session.receive([reply_to(connect, successful=False, error="401::Unknown client", advice=advice)], 0.0)
    reply = reply_to(one_sent(actions), successful=False, error=f"401:{CID}:Unknown client")
    assert session.receive([reply], 1.0) == []
    assert session.subscriptions == ("/a",)
    handshake = one_sent(session.tick(3.0))
    session.receive([handshake_ok(handshake, CID2)], 3.0)
    subscribe, _ = sent(session.transport_selected("websocket", 3.0))
    ok = reply_to(subscribe, subscription="/a")
    assert session.receive([ok], 3.0) == [Resolve(ticket, ok)]


def test_s2_4_unsubscribe_sends_only_what_was_subscribed() -> None:
    session = new_session()
    connected(session)
    _, actions = session.subscribe("/a", 0.0)
    session.receive([reply_to(one_sent(actions), subscription="/a")], 0.0)
    ticket, actions = session.unsubscribe("/a", 0.0)
    unsubscribe = one_sent(actions)
    assert unsubscribe == {"channel": "/meta/unsubscribe", "subscription": "/a", "id": "4", "clientId": CID}
    assert session.subscriptions == ()
    reply = reply_to(unsubscribe, subscription="/a")
    assert session.receive([reply], 0.0) == [Resolve(ticket, reply)]


def test_s2_4_refused_unsubscribe_is_rejected() -> None:
    session = new_session()
    connected(session)
    session.subscribe("/a", 0.0)
    ticket, actions = session.unsubscribe("/a", 0.0)
    reply = reply_to(one_sent(actions), successful=False, error="405:/a:Invalid channel")
    assert session.receive([reply], 0.0) == [Reject(ticket, reply)]


def test_unsubscribe_abandons_waiting_subscribers_and_ignores_the_late_subscribe_reply() -> None:
    session = new_session()
    connected(session)
    waiting, actions = session.subscribe("/a", 0.0)
    subscribe = one_sent(actions)
    ticket, unsubscribe = session.unsubscribe("/a", 0.0)
    assert unsubscribe[0] == Abandon(waiting, "unsubscribed")
    assert session.receive([reply_to(subscribe, subscription="/a")], 0.0) == []
    _, again = session.subscribe("/a", 0.0)
    assert one_sent(again)["channel"] == "/meta/subscribe"
    assert ticket > waiting


def test_unsubscribe_before_connecting_needs_no_message() -> None:
    session = new_session()
    waiting, _ = session.subscribe("/a", 0.0)
    ticket, actions = session.unsubscribe("/a", 0.0)
    assert actions == [Abandon(waiting, "unsubscribed"),
                       Resolve(ticket, {"channel": "/meta/unsubscribe", "successful": True, "subscription": "/a"})]
    assert sent(connected(session)[0])[:-1] == []


@pytest.mark.parametrize(
    ("reply_fields", "settle"),
    [
        pytest.param({}, Resolve, id="acknowledged"),
        pytest.param({"successful": False, "error": "405:/a/*:Invalid channel"}, Reject, id="invalid-channel"),
        pytest.param({"successful": False, "error": "403::Authentication required"}, Reject, id="extension"),
    ],
)
def test_s2_6_publish_is_settled_by_its_reply(reply_fields: Message, settle: type[Resolve | Reject]) -> None:
    session = new_session()
    connected(session)
    ticket, actions = session.publish("/a", None, 0.0)
    publish = one_sent(actions)
    assert publish == {"channel": "/a", "data": None, "id": "3", "clientId": CID}
    reply = reply_to(publish, **reply_fields)
    assert session.receive([reply], 0.0) == [settle(ticket, reply)]


SUBSCRIBED = ("/chat/*", "/chat/a", "/**", "/other")


@pytest.mark.parametrize(
    ("message", "matched"),
    [
        pytest.param({"channel": "/chat/a", "data": 1}, ("/**", "/chat/a", "/chat/*"), id="s1-2-expand-order"),
        pytest.param({"channel": "/chat/a", "data": None, "id": "3"}, ("/**", "/chat/a", "/chat/*"),
                     id="own-publish-keeps-its-id"),
        pytest.param({"channel": "/x/y", "data": {}}, ("/**",), id="only-double-star"),
        pytest.param({"channel": "/chat/a"}, None, id="no-data-is-not-a-delivery"),
        pytest.param({"channel": "/meta/connect", "data": 1}, None, id="meta-is-not-a-delivery"),
        pytest.param({"channel": "/chat/*", "data": 1}, None, id="pattern-is-not-a-delivery"),
        pytest.param({"data": 1}, None, id="no-channel"),
        pytest.param({"channel": "/chat/a", "data": 1, "successful": True, "id": "zz"}, None,
                     id="s9-4-replies-are-never-delivered"),
    ],
)
def test_s9_4_deliveries_go_to_every_matching_subscription(message: Message, matched: Any) -> None:
    session = new_session()
    for channel in SUBSCRIBED:
        session.subscribe(channel, 0.0)
    connected(session)
    expected = [] if matched is None else [Deliver(message, matched)]
    assert session.receive([message], 0.0) == expected


def test_s9_4_unmatched_deliveries_and_non_objects_are_ignored() -> None:
    session = new_session()
    session.subscribe("/a", 0.0)
    connected(session)
    assert session.receive([None, 3, "x", [], {"channel": "/b", "data": 1}], 0.0) == []


def test_s2_5_disconnect_abandons_pending_requests_and_closes_on_reply() -> None:
    session = new_session()
    connected(session)
    pending, _ = session.publish("/a", 1, 0.0)
    waiting, _ = session.subscribe("/b", 0.0)
    ticket, actions = session.disconnect(0.0)
    assert actions[:2] == [Abandon(pending, "the client disconnected"), Abandon(waiting, "the client disconnected")]
    disconnect = one_sent(actions)
    assert disconnect == {"channel": "/meta/disconnect", "clientId": CID, "id": "5"}
    assert session.state is State.DISCONNECTED
    assert session.receive([{"channel": "/a", "data": 1}], 0.0) == []
    reply = reply_to(disconnect)
    assert session.receive([reply], 0.0) == [Resolve(ticket, reply), Closed("disconnected")]
    again, actions = session.disconnect(0.0)
    assert actions == [Resolve(again, {"channel": "/meta/disconnect", "successful": True})]


def test_s2_5_refused_disconnect_still_closes() -> None:
    session = new_session()
    connected(session)
    ticket, actions = session.disconnect(0.0)
    reply = reply_to(one_sent(actions), successful=False, error=f"401:{CID}:Unknown client")
    assert session.receive([reply], 0.0) == [Resolve(ticket, reply), Closed("disconnected")]


def test_disconnect_that_cannot_be_sent_still_closes() -> None:
    session = new_session()
    connected(session)
    ticket, actions = session.disconnect(0.0)
    assert session.send_failed(sent(actions), 0.0) == [
        Resolve(ticket, {"channel": "/meta/disconnect", "successful": True}), Closed("disconnected")]


def test_disconnect_before_any_session_closes_at_once() -> None:
    session = new_session()
    session.start(0.0)
    queued, _ = session.publish("/a", 1, 0.0)
    ticket, actions = session.disconnect(0.0)
    assert actions == [Abandon(queued, "the client disconnected"),
                       Resolve(ticket, {"channel": "/meta/disconnect", "successful": True}), Closed("disconnected")]


@pytest.mark.parametrize("request_kind", ["subscribe", "publish"])
def test_requests_after_disconnect_are_abandoned(request_kind: str) -> None:
    session: ClientSession = new_session()
    session.disconnect(0.0)
    if request_kind == "subscribe":
        ticket, actions = session.subscribe("/a", 0.0)
    else:
        ticket, actions = session.publish("/a", 1, 0.0)
    assert actions == [Abandon(ticket, "the client is disconnected")]
