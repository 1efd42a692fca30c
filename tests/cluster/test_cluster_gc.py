"""Issue 3: dead clients' keys are collected, under a lock, and nothing is left behind.

Key layout (``broker/engines/redis.py``, namespace ``ns``): ``ns:clients`` (zset),
``ns:nodes`` (hash client -> node), ``ns:client:<id>:channels``, ``ns:client:<id>:queue``,
``ns:channel:<channel>`` (set of client ids), ``ns:msg:<n>`` (payload, with a TTL),
``ns:msgseq`` and ``ns:locks:gc``. Every key must belong to a live client or have a TTL;
the only exceptions are the namespace's three fixed structures (``clients``, ``nodes``,
``msgseq``), whose entries are checked instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Collection
from dataclasses import dataclass, field

import pytest
import redis.asyncio as aioredis

from tests.cluster.conftest import Cluster
from tests.cluster.wire import (
    LongPoller,
    WsClient,
    assert_exactly_once,
    handshake,
    http_client,
    lp_session,
    new_channel,
    post,
    publish,
)
from tests.support.redis import RedisServer

pytestmark = pytest.mark.anyio

TIMEOUT = 1.0
"""The brokers' ``--timeout``: a client lives 2 x TIMEOUT without a connect."""
GC_INTERVAL = 0.5
"""The Redis engine collects every client_ttl / 4 seconds (jittered by +-25 %)."""
SETTLE = 2 * TIMEOUT + 1.25 * GC_INTERVAL + 3.0
"""Upper bound for a dead client's keys to be gone, with room for a loaded machine."""
GLOBAL_KEYS = ("clients", "nodes", "msgseq")


@pytest.fixture
async def redis_client(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_server.url, decode_responses=True)
    try:
        yield client
    finally:
        await client.aclose()


@dataclass
class Snapshot:
    """What a namespace holds, and which keys have no TTL."""

    keys: dict[str, str] = field(default_factory=dict)
    """key (without the namespace) -> Redis type"""
    ttl_ms: dict[str, int] = field(default_factory=dict)
    clients: set[str] = field(default_factory=set)
    nodes: set[str] = field(default_factory=set)
    channel_members: dict[str, set[str]] = field(default_factory=dict)


async def snapshot(r: aioredis.Redis, ns: str) -> Snapshot:
    snap = Snapshot()
    prefix = ns + ":"
    async for key in r.scan_iter(match=prefix + "*", count=500):
        name = key[len(prefix):]
        kind = await r.type(key)
        if kind == "none":
            continue  # expired or deleted since the scan saw it
        snap.keys[name] = kind
        snap.ttl_ms[name] = await r.pttl(key)
        if name.startswith("channel:") and kind == "set":
            snap.channel_members[name] = set(await r.smembers(key))
    snap.clients = set(await r.zrange(prefix + "clients", 0, -1))
    snap.nodes = set(await r.hkeys(prefix + "nodes"))
    return snap


def problems(snap: Snapshot, dead: Collection[str], live: Collection[str]) -> list[str]:
    """Every way the namespace breaks the rules; empty when it is clean."""
    found = []
    for client_id in dead:
        owned = [name for name in snap.keys if name.startswith(f"client:{client_id}:")]
        if owned:
            found.append(f"dead client {client_id} still has keys {owned}")
        if client_id in snap.clients:
            found.append(f"dead client {client_id} is still in the clients zset")
        if client_id in snap.nodes:
            found.append(f"dead client {client_id} is still in the nodes hash")
        for name, members in snap.channel_members.items():
            if client_id in members:
                found.append(f"dead client {client_id} is still in {name}")
    for client_id in live:
        if client_id not in snap.clients:
            found.append(f"live client {client_id} is missing from the clients zset")
    for name, kind in snap.keys.items():
        ttl = snap.ttl_ms[name]
        if name in GLOBAL_KEYS:
            continue
        if name.startswith("msg:"):
            if ttl < 0:
                found.append(f"payload {name} has no TTL ({ttl})")
            continue
        if name.startswith("client:"):
            owner = name.split(":")[1]
            if owner not in live and ttl < 0:
                found.append(f"{name} ({kind}) belongs to {owner}, who is not a live client, and has no TTL")
            continue
        if name.startswith("channel:"):
            strangers = snap.channel_members.get(name, set()) - set(live)
            if strangers:
                found.append(f"{name} holds clients that are not live: {sorted(strangers)}")
            continue
        if ttl < 0:
            found.append(f"{name} ({kind}) has no owner and no TTL")
    for client_id in snap.clients - set(live) - set(dead):
        found.append(f"unknown client {client_id} in the clients zset")
    for client_id in snap.nodes - snap.clients:
        found.append(f"nodes hash names {client_id}, who is not in the clients zset")
    return found


async def wait_clean(r: aioredis.Redis, ns: str, dead: Collection[str], live: Collection[str], within: float) -> None:
    deadline = time.monotonic() + within
    while True:
        snap = await snapshot(r, ns)
        found = problems(snap, dead, live)
        if not found:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{within} s after the clients died, namespace {ns} is not clean:\n"
                                 + "\n".join(found[:30]) + f"\nkeys: {sorted(snap.keys)[:60]}")
        await asyncio.sleep(0.25)


async def test_dead_clients_keys_are_collected(
    new_cluster: Callable[..., Cluster], redis_client: aioredis.Redis
) -> None:
    cluster = new_cluster(3, "--timeout", str(TIMEOUT))
    ns = cluster.namespace
    urls = cluster.urls
    root = new_channel("gc")
    async with asyncio.timeout(60), http_client() as http:
        pollers: list[LongPoller] = []
        sockets: list[WsClient] = []
        try:
            # live clients keep connecting for the whole test, on every node
            for n in range(3):
                client_id = await lp_session(http, urls[n], f"{root}/**", f"{root}/live")
                pollers.append(LongPoller(http, client_id, urls[n:] + urls[:n], f"live long-poll {n}").start())
            for n in range(2):
                ws = await WsClient.open(urls[n], f"live websocket {n}")
                sockets.append(ws)
                await ws.handshake()
                await ws.subscribe(f"{root}/*")
                ws.start_connecting()
                assert (await ws.next_connect_reply(5))["successful"] is True
            live = [p.client_id for p in pollers] + [ws.client_id for ws in sockets]

            dead: list[str] = []
            # disconnected politely
            for n in range(3):
                client_id = await lp_session(http, urls[n], f"{root}/*", f"{root}/bye{n}")
                message = {"channel": "/meta/disconnect", "clientId": client_id, "id": f"bye{n}"}
                [reply] = await post(http, urls[(n + 1) % 3], message)
                assert reply["successful"] is True, (message, reply)
                dead.append(client_id)
            # stopped connecting (some will have messages queued)
            for n in range(3):
                dead.append(await lp_session(http, urls[n], f"{root}/**", f"{root}/gone{n}"))
            # handshook and never connected
            for n in range(2):
                dead.append(await handshake(http, urls[n]))
            # a WebSocket closed without a disconnect
            for n in range(2):
                ws = await WsClient.open(urls[2 - n], f"abandoned websocket {n}")
                try:
                    await ws.handshake()
                    await ws.subscribe(f"{root}/*", f"{root}/ws{n}")
                    ws.start_connecting()
                    assert (await ws.next_connect_reply(5))["successful"] is True
                    dead.append(ws.client_id)
                finally:
                    await ws.close()

            expected = []
            for n in range(6):
                message_id = f"m{n}"
                expected.append(message_id)
                await publish(http, urls[n % 3], f"{root}/m", n, message_id)

            await wait_clean(redis_client, ns, dead, live, SETTLE)

            # the live clients were not harmed and still receive, on every node
            for n in range(3):
                message_id = f"late{n}"
                expected.append(message_id)
                await publish(http, urls[n], f"{root}/live", n, message_id)
            for poller in pollers:
                await poller.inbox.wait_for(expected, 10)
            for ws in sockets:
                await ws.inbox.wait_for(expected, 10)
            await asyncio.sleep(0.5)
            for poller in pollers:
                poller.check()
                assert_exactly_once(poller.inbox, expected, ordered=True)
            for ws in sockets:
                ws.check()
                assert_exactly_once(ws.inbox, expected, ordered=True)
        finally:
            for poller in pollers:
                await poller.stop()
            for ws in sockets:
                await ws.close()

        # now every client is gone: nothing may be left but the fixed structures and TTL'd keys
        await wait_clean(redis_client, ns, dead + live, [], SETTLE)
        snap = await snapshot(redis_client, ns)
        assert not snap.clients, snap.clients
        assert not snap.nodes, snap.nodes
        assert not [name for name in snap.keys if name.startswith(("client:", "channel:"))], sorted(snap.keys)


async def test_collection_waits_for_the_lock(new_cluster: Callable[..., Cluster], redis_client: aioredis.Redis) -> None:
    """No node collects while another holds ``ns:locks:gc``; once it is free, one does."""
    cluster = new_cluster(2, "--timeout", str(TIMEOUT))
    ns = cluster.namespace
    lock = f"{ns}:locks:gc"
    async with asyncio.timeout(60), http_client() as http:
        # wait until no node holds the lock, then hold it as if we were a node collecting
        deadline = time.monotonic() + 30
        while not await redis_client.set(lock, "held-by-the-test", nx=True, px=60_000):
            assert time.monotonic() < deadline, f"{lock} never became free: {await redis_client.get(lock)!r}"
            await asyncio.sleep(0.05)
        dead = [await lp_session(http, url, "/lock/test") for url in cluster.urls]
        await asyncio.sleep(2 * TIMEOUT + 4 * GC_INTERVAL + 0.5)
        members = set(await redis_client.zrange(f"{ns}:clients", 0, -1))
        assert members == set(dead), f"collected while {lock} was held by someone else: left {members} of {dead}"
        assert await redis_client.get(lock) == "held-by-the-test", "a node released a lock it does not hold"
        await redis_client.delete(lock)
        await wait_clean(redis_client, ns, dead, [], SETTLE)
