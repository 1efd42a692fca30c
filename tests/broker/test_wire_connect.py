"""docs/protocol.md §13 items 13-27: ``/meta/connect`` over POST-JSON (long-polling).

This broker answers the first connect after a handshake at once (CometD style), so every
"held" check first uses up that immediate connect (``wire.session``).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.broker.wire import (
    FAST,
    T,
    assert_held_about,
    channel,
    connect,
    drain,
    handshake,
    http_client,
    post,
    publish,
    session,
    subscribe,
    timed,
)
from tests.support.servers import BrokerProcess

pytestmark = pytest.mark.anyio

RETRY = {"reconnect": "retry", "interval": 0, "timeout": int(T * 1000)}


async def test_c13_first_connect_after_handshake_is_answered_at_once_deliberate(broker: BrokerProcess) -> None:
    """Deliberate difference: faye holds the first connect too; CometD clients need it answered."""
    async with http_client() as http:
        client_id = await handshake(http, broker.url)
        replies, elapsed = await timed(connect(http, broker.url, client_id))
    assert elapsed < FAST
    assert replies == [{"channel": "/meta/connect", "clientId": client_id, "successful": True, "advice": RETRY}]


async def test_c13_connect_is_held_about_timeout(broker: BrokerProcess) -> None:
    async with http_client() as http:
        client_id = await session(http, broker.url)
        replies, elapsed = await timed(connect(http, broker.url, client_id))
    assert_held_about(elapsed, T)
    assert replies == [{"channel": "/meta/connect", "clientId": client_id, "successful": True, "advice": RETRY}]


async def test_c13_superseded_connect_is_answered_at_once_deliberate(broker: BrokerProcess) -> None:
    """Deliberate difference: faye never answers a superseded connect; we answer it, empty."""
    async with http_client() as http:
        client_id = await session(http, broker.url)
        first = asyncio.ensure_future(timed(connect(http, broker.url, client_id, id="first")))
        await asyncio.sleep(0.3)
        assert not first.done()
        # The newer connect asks for 1 s so the test stays short; it must be held, not inherit anything.
        second = asyncio.ensure_future(timed(connect(http, broker.url, client_id, id="second", timeout_ms=1000)))
        start = time.monotonic()
        first_replies, _ = await first
        superseded_after = time.monotonic() - start
        assert not second.done()
        second_replies, second_elapsed = await second
    assert superseded_after < FAST
    assert first_replies == [{"id": "first", "channel": "/meta/connect", "clientId": client_id, "successful": True,
                              "advice": RETRY}]
    assert_held_about(second_elapsed, 1.0)
    assert second_replies == [{"id": "second", "channel": "/meta/connect", "clientId": client_id, "successful": True,
                               "advice": RETRY}]


async def test_c14_connect_with_advice_timeout_0_returns_at_once(broker: BrokerProcess) -> None:
    async with http_client() as http:
        client_id = await session(http, broker.url)
        replies, elapsed = await timed(connect(http, broker.url, client_id, timeout_ms=0))
    assert elapsed < FAST
    assert replies == [{"channel": "/meta/connect", "clientId": client_id, "successful": True, "advice": RETRY}]


async def test_c15_client_requested_hold_is_honoured(broker: BrokerProcess) -> None:
    async with http_client() as http:
        client_id = await session(http, broker.url)
        replies, elapsed = await timed(connect(http, broker.url, client_id, timeout_ms=1500))
    assert_held_about(elapsed, 1.5)
    assert replies[0]["successful"] is True
    assert replies[1:] == []


async def test_c16_publish_releases_pending_connect(broker: BrokerProcess) -> None:
    name = channel("c16")
    async with http_client() as http:
        client_id = await session(http, broker.url, name)
        pending = asyncio.ensure_future(connect(http, broker.url, client_id, id="c16"))
        await asyncio.sleep(0.4)
        assert not pending.done()
        published_at = time.monotonic()
        assert (await publish(http, broker.url, name, {"n": 16}))["successful"] is True
        replies = await pending
        latency = time.monotonic() - published_at
    assert latency < FAST
    assert replies == [
        {"id": "c16", "channel": "/meta/connect", "clientId": client_id, "successful": True, "advice": RETRY},
        {"channel": name, "data": {"n": 16}},
    ]


async def test_c17_queued_messages_come_with_next_connect_at_once(broker: BrokerProcess) -> None:
    name = channel("c17")
    async with http_client() as http:
        client_id = await session(http, broker.url, name)
        await publish(http, broker.url, name, "queued")
        replies, elapsed = await timed(connect(http, broker.url, client_id))
    assert elapsed < FAST
    assert replies[0]["successful"] is True
    assert replies[1:] == [{"channel": name, "data": "queued"}]


async def test_c18_queued_messages_are_delivered_in_publish_order(broker: BrokerProcess) -> None:
    name = channel("c18")
    async with http_client() as http:
        client_id = await session(http, broker.url, name)
        for n in range(8):
            await publish(http, broker.url, name, n)
        delivered = await drain(http, broker.url, client_id)
    assert [m["data"] for m in delivered] == list(range(8))


async def test_c19_connect_with_unknown_client(broker: BrokerProcess) -> None:
    async with http_client() as http:
        replies = await post(http, broker.url, {"channel": "/meta/connect", "clientId": "nope",
                                                "connectionType": "long-polling", "id": "c3"})
    assert replies == [{"id": "c3", "channel": "/meta/connect", "successful": False,
                        "error": "401:nope:Unknown client", "advice": {"reconnect": "handshake"}}]


async def test_c20_connect_without_client_id(broker: BrokerProcess) -> None:
    async with http_client() as http:
        replies = await post(http, broker.url, {"channel": "/meta/connect", "connectionType": "long-polling"})
    assert replies == [{"channel": "/meta/connect", "successful": False,
                        "error": "402:clientId:Missing required parameter", "advice": {"reconnect": "handshake"}}]


async def test_c21_connect_without_connection_type(broker: BrokerProcess) -> None:
    async with http_client() as http:
        client_id = await handshake(http, broker.url)
        replies = await post(http, broker.url, {"channel": "/meta/connect", "clientId": client_id})
    assert replies == [{"channel": "/meta/connect", "successful": False,
                        "error": "402:connectionType:Missing required parameter",
                        "advice": {"reconnect": "handshake"}}]


async def test_c22_connect_with_unsupported_connection_type(broker: BrokerProcess) -> None:
    async with http_client() as http:
        client_id = await handshake(http, broker.url)
        replies = await connect(http, broker.url, client_id, connection_type="flash")
    assert replies == [{"channel": "/meta/connect", "successful": False,
                        "error": "301:flash:Connection types not supported", "advice": {"reconnect": "handshake"}}]


@pytest.mark.parametrize("connection_type", ["websocket", "in-process"])
async def test_c23_any_known_connection_type_is_accepted_over_http(
    broker: BrokerProcess, connection_type: str
) -> None:
    async with http_client() as http:
        client_id = await handshake(http, broker.url)
        first = await connect(http, broker.url, client_id, connection_type=connection_type)
        later = await connect(http, broker.url, client_id, connection_type=connection_type, timeout_ms=0)
    for replies in (first, later):
        assert replies == [{"channel": "/meta/connect", "clientId": client_id, "successful": True, "advice": RETRY}]


async def test_c24_eventsource_connect_returns_at_once_with_eventsource_advice(broker: BrokerProcess) -> None:
    async with http_client() as http:
        client_id = await session(http, broker.url)
        replies, elapsed = await timed(connect(http, broker.url, client_id, connection_type="eventsource"))
    assert elapsed < FAST
    assert replies == [{"channel": "/meta/connect", "clientId": client_id, "successful": True,
                        "advice": {"reconnect": "retry", "interval": int(T * 1000), "timeout": 0}}]


async def test_c25_connect_reply_echoes_id_and_client_id(broker: BrokerProcess) -> None:
    async with http_client() as http:
        client_id = await handshake(http, broker.url)
        [reply] = await connect(http, broker.url, client_id, id="c25")
    assert reply["id"] == "c25"
    assert reply["clientId"] == client_id


async def test_c26_delivered_messages_have_no_client_id(broker: BrokerProcess) -> None:
    name = channel("c26")
    async with http_client() as http:
        client_id = await session(http, broker.url, name)
        publisher = await handshake(http, broker.url)
        assert (await publish(http, broker.url, name, "x", clientId=publisher))["clientId"] == publisher
        delivered = await drain(http, broker.url, client_id)
    assert delivered == [{"channel": name, "data": "x"}]


async def test_c27_disconnect_releases_pending_connect(broker: BrokerProcess) -> None:
    name = channel("c27")
    async with http_client() as http:
        client_id = await session(http, broker.url, name)
        pending = asyncio.ensure_future(connect(http, broker.url, client_id, id="held"))
        await asyncio.sleep(0.4)
        assert not pending.done()
        disconnected_at = time.monotonic()
        [bye] = await post(http, broker.url, {"channel": "/meta/disconnect", "clientId": client_id})
        assert bye["successful"] is True
        replies = await pending
        latency = time.monotonic() - disconnected_at
        reply = await subscribe(http, broker.url, client_id, name)
    assert latency < FAST
    assert replies == [{"id": "held", "channel": "/meta/connect", "clientId": client_id, "successful": True,
                        "advice": RETRY}]
    assert reply["error"] == f"401:{client_id}:Unknown client"
