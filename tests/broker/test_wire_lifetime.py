"""docs/protocol.md §13 items 62-69: ``/meta/disconnect``, session reaping, unknown meta channels.

Reaping (items 66-68) runs against its own broker with ``--timeout 1`` (clients are reaped
after 2T = 2 s without a connect).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from tests.broker.wire import (
    channel,
    connect,
    handshake,
    http_client,
    post,
    session,
    subscribe,
    timed,
)
from tests.support.servers import BrokerProcess, start_broker

pytestmark = pytest.mark.anyio

T1 = 1.0


@pytest.fixture(scope="module")
def broker_t1() -> Iterator[BrokerProcess]:
    process = start_broker("--timeout", "1")
    yield process
    process.stop()


async def test_c62_disconnect(broker: BrokerProcess) -> None:
    async with http_client() as http:
        client_id = await handshake(http, broker.url)
        replies = await post(http, broker.url, {"channel": "/meta/disconnect", "clientId": client_id, "id": "d1"})
    assert replies == [{"id": "d1", "clientId": client_id, "channel": "/meta/disconnect", "successful": True}]


async def test_c63_second_disconnect_is_unknown_client(broker: BrokerProcess) -> None:
    async with http_client() as http:
        client_id = await handshake(http, broker.url)
        await post(http, broker.url, {"channel": "/meta/disconnect", "clientId": client_id, "id": "d1"})
        replies = await post(http, broker.url, {"channel": "/meta/disconnect", "clientId": client_id, "id": "d2"})
    assert replies == [{"id": "d2", "channel": "/meta/disconnect", "successful": False,
                        "error": f"401:{client_id}:Unknown client"}]


async def test_c64_disconnect_without_client_id(broker: BrokerProcess) -> None:
    async with http_client() as http:
        replies = await post(http, broker.url, {"channel": "/meta/disconnect", "id": "d3"})
    assert replies == [{"id": "d3", "channel": "/meta/disconnect", "successful": False,
                        "error": "402:clientId:Missing required parameter"}]


async def test_c65_connect_after_disconnect_asks_for_a_handshake(broker: BrokerProcess) -> None:
    async with http_client() as http:
        client_id = await handshake(http, broker.url)
        await post(http, broker.url, {"channel": "/meta/disconnect", "clientId": client_id})
        replies = await connect(http, broker.url, client_id)
    assert replies == [{"channel": "/meta/connect", "successful": False, "error": f"401:{client_id}:Unknown client",
                        "advice": {"reconnect": "handshake"}}]


async def test_c66_client_that_never_connects_is_reaped_after_2t(broker_t1: BrokerProcess) -> None:
    url = broker_t1.url
    name = channel("c66")
    async with http_client() as http:
        client_id = await handshake(http, url)
        start = time.monotonic()
        await asyncio.sleep(1.4 * T1)
        # Subscribing does not ping (faye §5.2), so this only checks the client is still there.
        alive = await subscribe(http, url, client_id, name)
        assert time.monotonic() - start < 2 * T1, "too slow to check the client before 2T"
        await asyncio.sleep(max(0.0, 2 * T1 + 0.8 - (time.monotonic() - start)))
        replies = await connect(http, url, client_id)
    assert alive["successful"] is True, alive
    assert replies == [{"channel": "/meta/connect", "successful": False, "error": f"401:{client_id}:Unknown client",
                        "advice": {"reconnect": "handshake"}}]


async def test_c67_client_that_keeps_connecting_is_never_reaped(broker_t1: BrokerProcess) -> None:
    url = broker_t1.url
    async with http_client() as http:
        client_id = await handshake(http, url)
        start = time.monotonic()
        while time.monotonic() - start < 3 * T1:
            replies = await connect(http, url, client_id)
            assert replies[0]["successful"] is True, (time.monotonic() - start, replies)
        reply = await subscribe(http, url, client_id, channel("c67"))
    assert reply["successful"] is True, reply


async def test_c68_long_client_hold_is_cut_by_reaping_at_2t(broker_t1: BrokerProcess) -> None:
    url = broker_t1.url
    async with http_client() as http:
        client_id = await session(http, url)
        replies, elapsed = await timed(connect(http, url, client_id, timeout_ms=int(5 * T1 * 1000)))
        after = await connect(http, url, client_id)
    assert 2 * T1 * 0.8 <= elapsed <= 2 * T1 + 1.5, f"poll returned after {elapsed:.3f} s, expected about 2T"
    assert replies == [{"channel": "/meta/connect", "clientId": client_id, "successful": True,
                        "advice": {"reconnect": "retry", "interval": 0, "timeout": int(T1 * 1000)}}]
    assert after == [{"channel": "/meta/connect", "successful": False, "error": f"401:{client_id}:Unknown client",
                      "advice": {"reconnect": "handshake"}}]


async def test_c69_unknown_meta_channel_is_forbidden_without_advice(broker: BrokerProcess) -> None:
    async with http_client() as http:
        client_id = await handshake(http, broker.url)
        plain = await post(http, broker.url, {"channel": "/meta/foo"})
        echoed = await post(http, broker.url, {"channel": "/meta/foo", "id": "m", "clientId": client_id})
    assert plain == [{"channel": "/meta/foo", "successful": False, "error": "403:/meta/foo:Forbidden channel"}]
    assert echoed == [{"id": "m", "clientId": client_id, "channel": "/meta/foo", "successful": False,
                       "error": "403:/meta/foo:Forbidden channel"}]

