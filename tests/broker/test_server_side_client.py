"""The server-side client (faye ``bayeux.getClient()``, docs/protocol.md §7.2) survives losing its session.

It is an ordinary Bayeux client driven by ``protocol.client.ClientSession`` over an in-process
transport: when the engine forgets its session (reaped, flushed, Redis restarted), its next
connect is refused with ``401``, it handshakes again, subscribes again, and its subscribers keep
receiving. These tests destroy the session under it and wait for a delivery, bounded in time.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import pytest
import redis.asyncio as aioredis

from broker.config import Settings
from broker.engines.redis import RedisEngine
from broker.server import Broker
from clients.subscription import Message as Delivered
from tests.support.redis import RedisServer

pytestmark = pytest.mark.anyio

RECOVERY_BOUND = 5.0
"""Seconds within which the client must receive again after its session was destroyed."""


async def _received_after_loss(broker: Broker, forget: Callable[[str], Awaitable[None]]) -> list[object]:
    got: list[object] = []
    arrived = asyncio.Event()

    def on_message(message: Delivered) -> None:
        got.append(message.data)
        arrived.set()

    client = broker.client()
    await client.subscribe("/x", on_message)
    await broker.publish("/x", 1)
    await asyncio.wait_for(arrived.wait(), RECOVERY_BOUND)
    old_id = client.client_id
    assert old_id is not None
    await forget(old_id)
    arrived.clear()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + RECOVERY_BOUND
    # publish until one arrives: a publish sent before the new session subscribed reaches no one
    n = 2
    while not arrived.is_set():
        assert loop.time() < deadline, f"no delivery within {RECOVERY_BOUND}s after the session was lost: {got}"
        await broker.publish("/x", n)
        n += 1
        try:
            await asyncio.wait_for(arrived.wait(), 0.1)
        except TimeoutError:
            continue
    assert client.client_id != old_id
    assert await broker.engine.client_exists(str(client.client_id))
    return got


async def test_server_side_client_recovers_when_the_memory_engine_forgets_its_session() -> None:
    broker = Broker(settings=Settings(timeout=0.2))
    await broker.start()
    try:
        got = await _received_after_loss(broker, broker.engine.destroy_client)
        assert got[0] == 1
        assert len(got) >= 2
        # and the new session stays alive past the client TTL (2 x timeout): its connect loop runs
        await asyncio.sleep(1.0)
        assert await broker.engine.client_exists(str(broker.client().client_id))
    finally:
        await broker.close()


async def test_server_side_client_recovers_when_the_redis_data_is_flushed(redis_server: RedisServer) -> None:
    namespace = f"ssc-{uuid.uuid4().hex[:10]}"
    broker = Broker(settings=Settings(timeout=0.2), engine=RedisEngine(redis_server.url, namespace=namespace))
    await broker.start()

    async def flush(_client_id: str) -> None:
        redis = aioredis.Redis.from_url(redis_server.url)
        try:
            keys = await redis.keys(f"{namespace}:*")
            if keys:
                await redis.delete(*keys)
        finally:
            await redis.aclose()

    try:
        got = await _received_after_loss(broker, flush)
        assert got[0] == 1
        assert len(got) >= 2
    finally:
        await broker.close()
