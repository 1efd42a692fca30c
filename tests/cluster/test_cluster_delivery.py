"""Issue 3: several brokers on one Redis behave as one broker.

A subscriber on one node receives what is published on another, over long-polling and
WebSocket, wildcards included, exactly once; a client may send each ``/meta/connect`` to any
node (no sticky sessions) and still receives every message exactly once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from tests.cluster.conftest import Cluster
from tests.cluster.wire import (
    Inbox,
    LongPoller,
    WsClient,
    assert_exactly_once,
    connect,
    http_client,
    lp_session,
    new_channel,
    publish,
)

pytestmark = pytest.mark.anyio

GRACE = 0.7
"""Seconds to keep listening after the last expected message, to catch duplicates."""
FAST = 1.0
"""Upper bound for "at once" across two processes and Redis on a loaded 2-core machine."""


def _plan(root: str) -> tuple[list[tuple[str, str]], dict[str, list[str]]]:
    """Messages ``(channel, id)`` to publish, and which ids each subscription pattern must get."""
    messages: list[tuple[str, str]] = []
    for n in range(6):
        messages.append((f"{root}/x", f"x{n}"))
        messages.append((f"{root}/y/z", f"yz{n}"))
        messages.append(("/elsewhere" + root, f"e{n}"))
    one_level = [mid for ch, mid in messages if ch == f"{root}/x"]
    all_levels = [mid for ch, mid in messages if ch.startswith(root + "/")]
    return messages, {"star": one_level, "glob": all_levels, "all": all_levels}


def _subscriptions(root: str) -> dict[str, tuple[str, ...]]:
    return {
        "star": (f"{root}/*",),
        "glob": (f"{root}/**",),
        # three matching subscriptions; each message must still arrive once (faye: SUNION)
        "all": (f"{root}/*", f"{root}/**", f"{root}/x"),
    }


Publisher = Callable[[str, str], Awaitable[None]]


async def _publish_all(messages: list[tuple[str, str]], publisher: Publisher) -> None:
    for channel, message_id in messages:
        await publisher(channel, message_id)


async def test_long_polling_subscribers_receive_from_other_node_exactly_once(cluster3: Cluster) -> None:
    a, b, c = cluster3.urls
    root = new_channel("lp")
    messages, expected = _plan(root)
    async with asyncio.timeout(60), http_client() as http:
        pollers: list[tuple[LongPoller, list[str]]] = []
        try:
            for node, url in (("A", a), ("C", c)):
                for kind, patterns in _subscriptions(root).items():
                    client_id = await lp_session(http, url, *patterns)
                    poller = LongPoller(http, client_id, [url], f"long-poll {kind} on {node}").start()
                    pollers.append((poller, expected[kind]))
            await asyncio.sleep(0.3)  # every poller holds a connect now

            async def publish_on_b(channel: str, message_id: str) -> None:
                await publish(http, b, channel, {"n": message_id}, message_id)

            await _publish_all(messages, publish_on_b)
            for poller, wanted in pollers:
                await poller.inbox.wait_for(wanted, 10)
            await asyncio.sleep(GRACE)
            for poller, wanted in pollers:
                poller.check()
                assert_exactly_once(poller.inbox, wanted, ordered=True)
                for delivery in poller.inbox.deliveries:
                    assert delivery["data"] == {"n": delivery["id"]}, delivery
        finally:
            for poller, _ in pollers:
                await poller.stop()


async def test_websocket_subscribers_receive_from_other_node_exactly_once(cluster3: Cluster) -> None:
    a, b, c = cluster3.urls
    root = new_channel("ws")
    messages, expected = _plan(root)
    async with asyncio.timeout(60):
        clients: list[tuple[WsClient, list[str]]] = []
        publisher: WsClient | None = None
        try:
            for node, url in (("A", a), ("C", c)):
                for kind, patterns in _subscriptions(root).items():
                    client = await WsClient.open(url, f"websocket {kind} on {node}")
                    clients.append((client, expected[kind]))
                    await client.handshake()
                    await client.subscribe(*patterns)
                    client.start_connecting()
                    first = await client.next_connect_reply(5)
                    assert first["successful"] is True, first
            publisher = await WsClient.open(b, "publisher on B")

            async def publish_on_b(channel: str, message_id: str) -> None:
                assert publisher is not None
                await publisher.publish(channel, {"n": message_id}, message_id)

            await _publish_all(messages, publish_on_b)
            for client, wanted in clients:
                await client.inbox.wait_for(wanted, 10)
            await asyncio.sleep(GRACE)
            for client, wanted in clients:
                client.check()
                assert_exactly_once(client.inbox, wanted, ordered=True)
            assert publisher.inbox.deliveries == []
        finally:
            for client, _ in clients:
                await client.close()
            if publisher is not None:
                await publisher.close()


async def test_connect_on_another_node_receives_what_was_queued(cluster3: Cluster) -> None:
    """No sticky sessions: handshake on A, connect on C, then B, then A again."""
    a, b, c = cluster3.urls
    root = new_channel("move")
    async with asyncio.timeout(60), http_client() as http:
        client_id = await lp_session(http, a, f"{root}/*")
        inbox = Inbox("moving client")
        # queued in Redis while the client has no connect open anywhere
        queued = [f"q{n}" for n in range(3)]
        for message_id in queued:
            await publish(http, b, f"{root}/m", message_id, message_id)
        replies = await connect(http, c, client_id)
        assert replies[0]["successful"] is True, replies
        inbox.add(replies[1:])
        assert inbox.ids() == queued, f"connect on C after publishes on B: expected {queued}, got {replies}"

        # a connect held on B is answered soon after a publish on A (the wake-up crosses nodes)
        expected = list(queued)
        for holder, publisher, message_id in ((b, a, "held-on-b"), (a, c, "held-on-a"), (c, b, "held-on-c")):
            replies = await connect(http, holder, client_id, timeout_ms=0)  # this node's first connect, maybe
            assert replies[0]["successful"] is True, replies
            inbox.add(replies[1:])
            held = asyncio.ensure_future(connect(http, holder, client_id))
            await asyncio.sleep(0.3)
            assert not held.done(), f"connect on {holder} was not held: {held.result()}"
            start = time.monotonic()
            await publish(http, publisher, f"{root}/m", message_id, message_id)
            replies = await held
            elapsed = time.monotonic() - start
            assert replies[0]["successful"] is True, replies
            inbox.add(replies[1:])
            expected.append(message_id)
            assert message_id in inbox.ids(), (
                f"connect held on {holder}, publish on {publisher}: reply after {elapsed:.2f} s had {replies}")
            assert elapsed < FAST, f"connect held on {holder} answered {elapsed:.2f} s after a publish on {publisher}"
        replies = await connect(http, a, client_id, timeout_ms=300)
        inbox.add(replies[1:])
        assert_exactly_once(inbox, expected, ordered=True)


async def test_long_polling_round_robin_across_nodes_exactly_once(cluster3: Cluster) -> None:
    """Each client sends every connect to the next node in turn while messages keep coming."""
    urls = cluster3.urls
    root = new_channel("rr")
    count = 60
    async with asyncio.timeout(60), http_client() as http:
        pollers: list[LongPoller] = []
        try:
            for n in range(6):
                order = urls[n % 3:] + urls[:n % 3]
                client_id = await lp_session(http, order[0], f"{root}/**")
                pollers.append(LongPoller(http, client_id, order[1:] + order[:1], f"round-robin client {n}").start())
            await asyncio.sleep(0.3)
            expected = []
            for n in range(count):
                message_id = f"rr{n}"
                expected.append(message_id)
                await publish(http, urls[n % 3], f"{root}/t{n % 4}", n, message_id)
                await asyncio.sleep(0.02)
            for poller in pollers:
                await poller.inbox.wait_for(expected, 15)
            await asyncio.sleep(GRACE)
            for poller in pollers:
                poller.check()
                assert_exactly_once(poller.inbox, expected, ordered=True)
                assert poller.connects >= 4, f"{poller.inbox.label}: only {poller.connects} connects"
        finally:
            for poller in pollers:
                await poller.stop()
