"""What the Redis engine promises beyond the shared contract (issue 3: better than faye-redis)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
import redis.asyncio as aioredis

from broker.delivery import Delivery
from broker.engines.redis import RedisEngine
from broker.errors import EngineUnavailable
from broker.testing.engines import Recorder
from protocol.channels import expand
from tests.support.redis import RedisServer, start_redis

pytestmark = pytest.mark.anyio


def _delivery(channel: str, data: object) -> Delivery:
    return Delivery({"channel": channel, "data": data})


async def _engine(url: str, namespace: str, recorder: Recorder, *, ttl: float = 5.0, gc: float | None = None,
                  max_queue: int = 100) -> RedisEngine:
    engine = RedisEngine(url, namespace=namespace, gc_interval=gc)
    engine.bind(recorder, events=recorder, client_ttl=ttl, max_queue=max_queue)
    await engine.start()
    return engine


@pytest.fixture
async def raw(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


@pytest.fixture
def namespace() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


async def _keys(raw: aioredis.Redis, namespace: str) -> set[str]:
    return {key.decode() async for key in raw.scan_iter(match=f"{namespace}:*", count=1000)}


async def _eventually(check: Callable[[], bool], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def test_a_payload_is_stored_once_for_every_recipient(
    redis_server: RedisServer, raw: aioredis.Redis, namespace: str
) -> None:
    engine = await _engine(redis_server.url, namespace, Recorder())
    try:
        clients = [f"c{i}" for i in range(20)]
        for client_id in clients:
            await engine.create_client(client_id)
            await engine.subscribe(client_id, "/news/*")
        assert await engine.publish(_delivery("/news/a", {"big": "x" * 1000}), expand("/news/a"), None) == 20
        messages = [key for key in await _keys(raw, namespace) if ":msg:" in key]
        assert len(messages) == 1
        assert 0 < await raw.pttl(messages[0]) <= 2 * 5000
        for client_id in clients[:3]:
            queue = f"{namespace}:client:{client_id}:queue"
            assert await raw.llen(queue) == 1
            assert await raw.pttl(queue) > 0
            [delivery] = await engine.take_queue(client_id)
            assert delivery.message == {"channel": "/news/a", "data": {"big": "x" * 1000}}
    finally:
        await engine.close()


async def _script_calls(raw: aioredis.Redis) -> int:
    stats = await raw.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{name}", {}).get("calls", 0)) for name in ("evalsha", "eval"))


async def test_the_takes_of_one_loop_turn_share_one_round_trip(
    redis_server: RedisServer, raw: aioredis.Redis, namespace: str
) -> None:
    """A fan-out wake-up names many clients of a node: their queues are taken in one script call."""
    engine = await _engine(redis_server.url, namespace, Recorder())
    try:
        clients = [f"c{i}" for i in range(50)]
        for client_id in clients:
            await engine.create_client(client_id)
            await engine.subscribe(client_id, "/fan")
        for n in range(3):
            await engine.publish(_delivery("/fan", n), expand("/fan"), None)
        before = await _script_calls(raw)
        taken = await asyncio.gather(*(engine.take_queue(client_id) for client_id in clients))
        assert await _script_calls(raw) - before == 1
        assert all([d.message["data"] for d in deliveries] == [0, 1, 2] for deliveries in taken)
        assert taken[0][0] is taken[1][0], "recipients of one message share its delivery (and its frame)"
    finally:
        await engine.close()


async def test_overlapping_takes_of_one_client_cannot_reorder_its_messages(
    redis_server: RedisServer, namespace: str
) -> None:
    """A socket's pump and a new connect may take one client's queue at once: the first gets the
    messages, the second what came after, so a writer cannot send later messages first."""
    engine = await _engine(redis_server.url, namespace, Recorder())
    try:
        await engine.create_client("c")
        await engine.subscribe("c", "/o")
        await engine.publish(_delivery("/o", 1), expand("/o"), None)
        first = asyncio.ensure_future(engine.take_queue("c"))
        second = asyncio.ensure_future(engine.take_queue("c"))
        await asyncio.sleep(0)
        await engine.publish(_delivery("/o", 2), expand("/o"), None)  # while the first take is in flight
        third = asyncio.ensure_future(engine.take_queue("c"))
        got = [[d.message["data"] for d in await future] for future in (first, second, third)]
        assert got[0] + got[1] + got[2] == [1, 2], got  # in the order the takes were made
        assert got[1] == [], "two takes of one turn: the first gets everything"
    finally:
        await engine.close()


async def test_a_take_whose_caller_gave_up_puts_its_messages_back(redis_server: RedisServer, namespace: str) -> None:
    engine = await _engine(redis_server.url, namespace, Recorder())
    try:
        await engine.create_client("c")
        await engine.ping("c")
        await engine.subscribe("c", "/g")
        for n in range(2):
            await engine.publish(_delivery("/g", n), expand("/g"), None)
        abandoned = asyncio.ensure_future(engine.take_queue("c"))
        await asyncio.sleep(0)
        abandoned.cancel()
        await asyncio.sleep(0.2)
        assert [d.message["data"] for d in await engine.take_queue("c")] == [0, 1]
    finally:
        await engine.close()


async def test_destroyed_clients_leave_no_keys_and_the_rest_expire(
    redis_server: RedisServer, raw: aioredis.Redis, namespace: str
) -> None:
    engine = await _engine(redis_server.url, namespace, Recorder())
    try:
        for client_id in ("a", "b"):
            await engine.create_client(client_id)
            await engine.ping(client_id)
            await engine.subscribe(client_id, "/x")
            await engine.subscribe(client_id, "/y/**")
        await engine.publish(_delivery("/x", 1), expand("/x"), None)
        for client_id in ("a", "b"):
            await engine.destroy_client(client_id)
        left = await _keys(raw, namespace)
        assert not [key for key in left if ":client:" in key or ":channel:" in key], left
        assert await raw.zcard(f"{namespace}:clients") == 0
        assert await raw.hlen(f"{namespace}:nodes") == 0
        for key in left - {f"{namespace}:msgseq"}:
            assert await raw.pttl(key) > 0, f"{key} has neither an owner nor a TTL"
    finally:
        await engine.close()


async def test_only_the_node_holding_a_client_is_woken(redis_server: RedisServer, namespace: str) -> None:
    on_a, on_b = Recorder(), Recorder()
    node_a = await _engine(redis_server.url, namespace, on_a)
    node_b = await _engine(redis_server.url, namespace, on_b)
    try:
        await node_a.create_client("roamer")
        await node_a.subscribe("roamer", "/r")
        await node_b.ping("roamer")  # its connect now arrives at node B
        await node_a.publish(_delivery("/r", 1), expand("/r"), None)
        await _eventually(lambda: on_b.woken() == ["roamer"])
        await asyncio.sleep(0.1)
        assert on_a.woken() == []
        assert [d.message["data"] for d in await node_a.take_queue("roamer")] == [1]
    finally:
        await node_a.close()
        await node_b.close()


async def test_destroy_notifies_every_node(redis_server: RedisServer, namespace: str) -> None:
    on_a, on_b = Recorder(), Recorder()
    node_a = await _engine(redis_server.url, namespace, on_a)
    node_b = await _engine(redis_server.url, namespace, on_b)
    try:
        await node_a.create_client("gone")
        await node_a.destroy_client("gone")
        assert on_a.closed() == ["gone"]
        await _eventually(lambda: on_b.closed() == ["gone"])
    finally:
        await node_a.close()
        await node_b.close()


async def test_garbage_collection_runs_on_one_node_at_a_time(redis_server: RedisServer, namespace: str) -> None:
    recorders = [Recorder() for _ in range(3)]
    nodes = [await _engine(redis_server.url, namespace, rec, ttl=0.3, gc=0.1) for rec in recorders]
    try:
        for i in range(10):
            await nodes[0].create_client(f"idle{i}")
        await asyncio.sleep(1.2)
        for i in range(10):
            assert not await nodes[1].client_exists(f"idle{i}")
        disconnects = [event for rec in recorders for event in rec.events() if event[0] == "disconnect"]
        assert sorted(disconnects) == sorted(("disconnect", f"idle{i}") for i in range(10))
    finally:
        for node in nodes:
            await node.close()


async def test_unreachable_redis_raises_engine_unavailable_and_recovers(namespace: str) -> None:
    server = start_redis()
    recorder = Recorder()
    engine = RedisEngine(server.url, namespace=namespace)
    engine.bind(recorder, events=recorder, client_ttl=5, max_queue=10)
    await engine.start()
    try:
        await engine.create_client("c")
        await asyncio.sleep(0.2)  # let the pub/sub listener subscribe
        server.stop()
        started = time.monotonic()
        with pytest.raises(EngineUnavailable):
            await engine.client_exists("c")
        assert time.monotonic() - started < 8
        server = start_redis(port=server.port, workdir=server.workdir)
        await _eventually(lambda: ("resync",) in recorder.since(), seconds=10)
        assert not await engine.client_exists("c")  # the restarted Redis kept nothing
        await engine.create_client("c2")
        assert await engine.client_exists("c2")
    finally:
        await engine.close()
        server.cleanup()
