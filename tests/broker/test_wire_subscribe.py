"""docs/protocol.md §13 items 28-43: ``/meta/subscribe`` and ``/meta/unsubscribe`` over POST-JSON."""

from __future__ import annotations

from typing import Any

import pytest

from tests.broker.wire import channel, drain, handshake, http_client, post, publish, session, subscribe
from tests.support.servers import BrokerProcess

pytestmark = pytest.mark.anyio


async def _subscribe_reply(
    broker: BrokerProcess, subscription: Any, *, meta: str = "/meta/subscribe"
) -> tuple[str, dict[str, Any]]:
    """A fresh client sends one subscribe (or unsubscribe, ``meta``); returns its id and the reply."""
    async with http_client() as http:
        client_id = await handshake(http, broker.url)
        [reply] = await post(http, broker.url, {"channel": meta, "clientId": client_id, "subscription": subscription})
    return client_id, reply


async def test_c28_subscribe_with_a_string_echoes_the_string(broker: BrokerProcess) -> None:
    async with http_client() as http:
        client_id = await handshake(http, broker.url)
        replies = await post(http, broker.url, {"channel": "/meta/subscribe", "clientId": client_id,
                                                "subscription": "/foo", "id": "s1"})
    assert replies == [{"id": "s1", "clientId": client_id, "channel": "/meta/subscribe", "successful": True,
                        "subscription": "/foo"}]


async def test_c29_subscribe_with_an_array_echoes_the_array(broker: BrokerProcess) -> None:
    client_id, reply = await _subscribe_reply(broker, ["/a/*", "/b/**"])
    assert reply == {"clientId": client_id, "channel": "/meta/subscribe", "successful": True,
                     "subscription": ["/a/*", "/b/**"]}


async def test_c30_subscribe_to_meta_is_forbidden(broker: BrokerProcess) -> None:
    client_id, reply = await _subscribe_reply(broker, "/meta/foo")
    assert reply == {"clientId": client_id, "channel": "/meta/subscribe", "successful": False,
                     "error": "403:/meta/foo:Forbidden channel", "subscription": "/meta/foo"}


@pytest.mark.parametrize("name", ["/service/x", "/service/**"])
async def test_c31_subscribe_to_service_is_forbidden(broker: BrokerProcess, name: str) -> None:
    _, reply = await _subscribe_reply(broker, name)
    assert reply["successful"] is False
    assert reply["error"] == f"403:{name}:Forbidden channel"


async def test_c32_subscribe_without_leading_slash_is_invalid(broker: BrokerProcess) -> None:
    _, reply = await _subscribe_reply(broker, "foo")
    assert reply["successful"] is False
    assert reply["error"] == "405:foo:Invalid channel"


@pytest.mark.parametrize("name", ["/foo/*/bar", "/foo*", "/foo/***"])
async def test_c33_subscribe_to_a_bad_pattern_is_invalid(broker: BrokerProcess, name: str) -> None:
    _, reply = await _subscribe_reply(broker, name)
    assert reply["successful"] is False
    assert reply["error"] == f"405:{name}:Invalid channel"


async def test_c34_subscribe_without_subscription(broker: BrokerProcess) -> None:
    async with http_client() as http:
        client_id = await handshake(http, broker.url)
        replies = await post(http, broker.url, {"channel": "/meta/subscribe", "clientId": client_id})
    assert replies == [{"clientId": client_id, "channel": "/meta/subscribe", "successful": False,
                        "error": "402:subscription:Missing required parameter", "subscription": []}]


async def test_c35_subscribe_with_unknown_client(broker: BrokerProcess) -> None:
    async with http_client() as http:
        replies = await post(http, broker.url, {"channel": "/meta/subscribe", "clientId": "nobody",
                                                "subscription": "/foo"})
    assert replies == [{"clientId": "nobody", "channel": "/meta/subscribe", "successful": False,
                        "error": "401:nobody:Unknown client", "subscription": "/foo"}]


async def test_c36_subscribe_without_client_id(broker: BrokerProcess) -> None:
    async with http_client() as http:
        replies = await post(http, broker.url, {"channel": "/meta/subscribe", "subscription": "/foo"})
    assert replies == [{"channel": "/meta/subscribe", "successful": False,
                        "error": "402:clientId:Missing required parameter", "subscription": "/foo"}]


async def test_c37_failed_subscribe_keeps_channels_before_the_error(broker: BrokerProcess) -> None:
    p1, p2 = channel("c37-p1"), channel("c37-p2")
    async with http_client() as http:
        client_id = await session(http, broker.url)
        reply = await subscribe(http, broker.url, client_id, [p1, "/meta/x", p2])
        await publish(http, broker.url, p1, 1)
        await publish(http, broker.url, p2, 2)
        delivered = await drain(http, broker.url, client_id)
    assert reply == {"clientId": client_id, "channel": "/meta/subscribe", "successful": False,
                     "error": "403:/meta/x:Forbidden channel", "subscription": [p1, "/meta/x", p2]}
    assert delivered == [{"channel": p1, "data": 1}]


async def test_c38_subscribe_to_an_empty_list_succeeds(broker: BrokerProcess) -> None:
    client_id, reply = await _subscribe_reply(broker, [])
    assert reply == {"clientId": client_id, "channel": "/meta/subscribe", "successful": True, "subscription": []}


async def test_c39_subscribing_twice_delivers_once(broker: BrokerProcess) -> None:
    name = channel("c39")
    async with http_client() as http:
        client_id = await session(http, broker.url, name)
        again = await subscribe(http, broker.url, client_id, name)
        await publish(http, broker.url, name, "once")
        delivered = await drain(http, broker.url, client_id)
    assert again["successful"] is True
    assert delivered == [{"channel": name, "data": "once"}]


async def test_c40_subscribe_and_unsubscribe_replies_carry_no_advice(broker: BrokerProcess) -> None:
    name = channel("c40")
    async with http_client() as http:
        client_id = await handshake(http, broker.url)
        sub = await subscribe(http, broker.url, client_id, name)
        [unsub] = await post(http, broker.url, {"channel": "/meta/unsubscribe", "clientId": client_id,
                                                "subscription": name})
        bad = await subscribe(http, broker.url, client_id, "/meta/x")
    assert sub["successful"] is True
    assert unsub["successful"] is True
    for reply in (sub, unsub, bad):
        assert "advice" not in reply


async def test_c41_unsubscribe_from_a_channel_never_subscribed_succeeds(broker: BrokerProcess) -> None:
    name = channel("c41")
    client_id, reply = await _subscribe_reply(broker, name, meta="/meta/unsubscribe")
    assert reply == {"clientId": client_id, "channel": "/meta/unsubscribe", "successful": True, "subscription": name}


async def test_c42_after_unsubscribe_publishes_are_not_delivered(broker: BrokerProcess) -> None:
    name, other = channel("c42"), channel("c42-other")
    async with http_client() as http:
        client_id = await session(http, broker.url, name, other)
        [reply] = await post(http, broker.url, {"channel": "/meta/unsubscribe", "clientId": client_id,
                                                "subscription": name})
        await publish(http, broker.url, name, "gone")
        await publish(http, broker.url, other, "still")
        delivered = await drain(http, broker.url, client_id)
    assert reply["successful"] is True
    assert delivered == [{"channel": other, "data": "still"}]


async def test_c43_unsubscribe_from_meta_is_forbidden(broker: BrokerProcess) -> None:
    client_id, reply = await _subscribe_reply(broker, "/meta/*", meta="/meta/unsubscribe")
    assert reply == {"clientId": client_id, "channel": "/meta/unsubscribe", "successful": False,
                     "error": "403:/meta/*:Forbidden channel", "subscription": "/meta/*"}
