"""Issue 3: Redis is restarted under a running cluster.

The brokers keep running and answer while Redis is down (a Bayeux ``500::Engine unavailable``
reply in an HTTP 200, not an HTTP 500), use little CPU meanwhile (no busy loop), reconnect
by themselves, and clients whose state was lost are told to re-handshake and keep working.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.cluster.conftest import Cluster, make_cluster
from tests.cluster.wire import (
    HANDSHAKE_ADVICE,
    LongPoller,
    WsClient,
    assert_exactly_once,
    connect,
    cpu_seconds,
    handshake,
    http_client,
    lp_session,
    new_channel,
    post,
    publish,
)
from tests.conftest import require
from tests.support.redis import RedisServer, redis_available, start_redis

pytestmark = pytest.mark.anyio

OUTAGE = 3.0
"""Seconds Redis stays down while the brokers' CPU time is measured."""
MAX_CPU = 0.5
"""CPU seconds a broker may use during the outage (a busy loop would use about OUTAGE)."""
UNAVAILABLE = "500::Engine unavailable"
FAST = 1.0
"""Upper bound for "at once" across two processes and Redis on a loaded 2-core machine."""


@pytest.fixture
def own_redis() -> Iterator[list[RedisServer]]:
    """A redis-server of this test only (it is stopped and restarted); the last one is cleaned up."""
    require(redis_available(), "redis-server is not installed")
    servers = [start_redis()]
    yield servers
    for server in servers:
        server.stop(kill=True)
    servers[0].workdir.cleanup()


@pytest.fixture
def cluster2(own_redis: list[RedisServer]) -> Iterator[Cluster]:
    cluster = make_cluster(own_redis[0].url, 2, "--timeout", "2")
    yield cluster
    cluster.stop()


def _assert_unavailable(sent: dict[str, Any], replies: list[dict[str, Any]], where: str) -> None:
    assert len(replies) == 1, (where, sent, replies)
    [reply] = replies
    assert reply.get("successful") is False, (where, sent, reply)
    assert reply.get("error") == UNAVAILABLE, (where, sent, reply)
    assert reply.get("channel") == sent["channel"], (where, sent, reply)
    assert reply.get("id") == sent["id"], (where, sent, reply)
    if sent["channel"] in ("/meta/handshake", "/meta/connect"):
        assert reply.get("advice", {}).get("reconnect") == "retry", (where, sent, reply)


async def _handshake_when_back(http: httpx.AsyncClient, url: str, within: float) -> float:
    """Seconds until a handshake on ``url`` succeeds again."""
    start = time.monotonic()
    while True:
        replies = await post(http, url, {"channel": "/meta/handshake", "version": "1.0",
                                         "supportedConnectionTypes": ["long-polling"], "id": "h"})
        if replies[0].get("successful") is True:
            return time.monotonic() - start
        assert replies[0].get("error") == UNAVAILABLE, (url, replies)
        assert time.monotonic() - start < within, f"{url} still answers {replies} {within} s after Redis is back"
        await asyncio.sleep(0.2)


async def test_brokers_survive_a_redis_restart(own_redis: list[RedisServer], cluster2: Cluster) -> None:
    a, b = cluster2.urls
    root = new_channel("restart")
    async with asyncio.timeout(80), http_client() as http:
        ws: WsClient | None = None
        poller: LongPoller | None = None
        try:
            # before: a long-polling client on A, a WebSocket client on A, a publisher on B
            lp_id = await lp_session(http, a, f"{root}/**")
            ws = await WsClient.open(a, "websocket client on A")
            ws_id = await ws.handshake()
            await ws.subscribe(f"{root}/*")
            ws.start_connecting()
            assert (await ws.next_connect_reply(5))["successful"] is True
            await publish(http, b, f"{root}/m", "before", "before")
            replies = await connect(http, a, lp_id)
            assert [m.get("id") for m in replies[1:]] == ["before"], replies
            await ws.inbox.wait_for(["before"], 5)

            # Redis goes away
            old = own_redis[0]
            old.stop()
            pids = [node.process.pid for node in cluster2.nodes]
            cpu_before = [cpu_seconds(pid) for pid in pids]
            await asyncio.sleep(OUTAGE)
            cpu_used = [cpu_seconds(pid) - before for pid, before in zip(pids, cpu_before, strict=True)]
            for node, used in zip(cluster2.nodes, cpu_used, strict=True):
                assert node.process.poll() is None, f"broker {node.url} exited with {node.process.returncode}"
                assert used < MAX_CPU, f"broker {node.url} used {used:.2f} s of CPU in {OUTAGE} s without Redis"

            # while it is down, every request gets a Bayeux error reply in an HTTP 200
            requests: list[tuple[str, dict[str, Any]]] = [
                (a, {"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": ["long-polling"],
                     "id": "d1"}),
                (b, {"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": ["long-polling"],
                     "id": "d2"}),
                (a, {"channel": "/meta/connect", "clientId": lp_id, "connectionType": "long-polling", "id": "d3"}),
                (b, {"channel": "/meta/connect", "clientId": lp_id, "connectionType": "long-polling", "id": "d4"}),
                (a, {"channel": "/meta/subscribe", "clientId": lp_id, "subscription": f"{root}/x", "id": "d5"}),
                (b, {"channel": f"{root}/m", "data": "lost", "id": "d6"}),
            ]
            for url, message in requests:
                _assert_unavailable(message, await post(http, url, message), url)
            failed = [r for r in ws.connect_replies if r.get("successful") is False]
            assert failed, f"the WebSocket client's connects got no reply while Redis was down: {ws.connect_replies}"
            for reply in failed:
                assert reply.get("error") == UNAVAILABLE, reply
                assert reply.get("advice", {}).get("reconnect") == "retry", reply

            # Redis is back, empty, on the same port
            own_redis.append(start_redis(port=old.port, workdir=old.workdir))
            for url in (a, b):
                await _handshake_when_back(http, url, 10)
            for node in cluster2.nodes:
                assert node.process.poll() is None, f"broker {node.url} exited with {node.process.returncode}"

            # state was lost: the next connect says 401 and advises a handshake
            replies = await connect(http, a, lp_id)
            assert replies[0]["successful"] is False, replies
            assert replies[0]["error"] == f"401:{lp_id}:Unknown client", replies
            assert replies[0]["advice"] == HANDSHAKE_ADVICE, replies
            deadline = time.monotonic() + 10
            while not any(str(r.get("error", "")).startswith("401:") for r in ws.connect_replies):
                assert time.monotonic() < deadline, f"no 401 for the WebSocket client: {ws.connect_replies[-3:]}"
                await asyncio.sleep(0.05)
            last = ws.connect_replies[-1]
            assert last["error"] == f"401:{ws_id}:Unknown client", last
            assert last["advice"] == HANDSHAKE_ADVICE, last

            # they re-handshake and keep working, across nodes
            new_lp = await lp_session(http, b, f"{root}/**")
            poller = LongPoller(http, new_lp, [a, b], "re-handshaken long-poll client").start()
            await ws.handshake()
            await ws.subscribe(f"{root}/*")
            connects_from = len(ws.connect_replies)
            ws.start_connecting()
            assert (await ws.next_connect_reply(5))["successful"] is True
            await asyncio.sleep(0.3)
            # a publish on B reaches the socket on A at once only through A's pub/sub wake-up
            # channel: it must have reconnected by itself (with backoff, so give it a few seconds)
            probes: list[str] = []
            latency = float("inf")
            deadline = time.monotonic() + 10
            while latency > FAST:
                assert time.monotonic() < deadline, f"a publish on B took {latency:.2f} s to reach a socket on A"
                probes.append(f"probe{len(probes)}")
                start = time.monotonic()
                await publish(http, b, f"{root}/probe", probes[-1], probes[-1])
                await ws.inbox.wait_for(probes, 10)
                latency = time.monotonic() - start
            after = [f"after{n}" for n in range(4)]
            for n, message_id in enumerate(after):
                await publish(http, (b, a)[n % 2], f"{root}/m", message_id, message_id)
            await poller.inbox.wait_for([*probes, *after], 10)
            await ws.inbox.wait_for(["before", *probes, *after], 10)
            await asyncio.sleep(0.5)
            poller.check()
            ws.check(connects_from=connects_from)
            assert_exactly_once(poller.inbox, [*probes, *after], ordered=True)
            assert_exactly_once(ws.inbox, ["before", *probes, *after], ordered=True)
            assert await handshake(http, b)
        finally:
            if poller is not None:
                await poller.stop()
            if ws is not None:
                await ws.close()
    for node in cluster2.nodes:
        assert node.process.poll() is None, f"broker {node.url} exited with {node.process.returncode}"
        assert node.stop(signal.SIGTERM) == 0, f"broker {node.url} did not stop cleanly after the outage"
