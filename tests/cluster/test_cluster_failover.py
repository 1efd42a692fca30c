"""Issue 3: a node is killed with SIGKILL while clients are connected to it.

Its clients send their next ``/meta/connect`` to another node with the same clientId and
lose no message that was queued in Redis meanwhile.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

import httpx
import pytest

from tests.cluster.conftest import Cluster
from tests.cluster.wire import (
    LongPoller,
    WsClient,
    assert_exactly_once,
    http_client,
    lp_session,
    new_channel,
    publish,
)

pytestmark = pytest.mark.anyio

CLIENTS = 4
"""Clients of each transport on the node that is killed."""


async def test_clients_of_a_killed_node_resume_elsewhere_with_the_same_client_id(
    new_cluster: Callable[..., Cluster],
) -> None:
    cluster = new_cluster(3, "--timeout", "2")
    a, b, c = cluster.urls
    root = new_channel("failover")
    async with asyncio.timeout(60), http_client() as http:
        pollers: list[LongPoller] = []
        sockets: list[WsClient] = []
        try:
            for n in range(CLIENTS):
                client_id = await lp_session(http, a, f"{root}/**")
                pollers.append(LongPoller(http, client_id, [a], f"long-poll client {n}").start())
                ws = await WsClient.open(a, f"websocket client {n}")
                sockets.append(ws)
                await ws.handshake()
                await ws.subscribe(f"{root}/*")
                ws.start_connecting()
                assert (await ws.next_connect_reply(5))["successful"] is True

            before = [f"before{n}" for n in range(3)]
            for message_id in before:
                await publish(http, b, f"{root}/m", message_id, message_id)
            for client in [*pollers, *sockets]:
                await client.inbox.wait_for(before, 10)
            await asyncio.sleep(0.4)  # every client holds a connect on A again

            assert cluster.nodes[0].stop(signal.SIGKILL) == -signal.SIGKILL
            for poller in pollers:
                with pytest.raises(httpx.TransportError):
                    await asyncio.wait_for(poller.wait(), 10)
            for ws in sockets:
                await asyncio.wait_for(ws.closed.wait(), 10)

            # published while every client is between nodes: only Redis holds these
            during = [f"during{n}" for n in range(5)]
            for n, message_id in enumerate(during):
                await publish(http, (b, c)[n % 2], f"{root}/m", message_id, message_id)

            resumed_pollers = []
            for n, poller in enumerate(pollers):
                target = (b, c)[n % 2]
                resumed = LongPoller(http, poller.client_id, [target], poller.inbox.label)
                resumed.inbox = poller.inbox
                resumed_pollers.append(resumed.start())
            pollers = resumed_pollers
            resumed_sockets = []
            for n, ws in enumerate(sockets):
                await ws.close()
                fresh = await WsClient.open((c, b)[n % 2], ws.inbox.label)
                fresh.inbox = ws.inbox
                resumed_sockets.append(fresh)
                fresh.start_connecting(ws.client_id)
            sockets = resumed_sockets
            for client in [*pollers, *sockets]:
                await client.inbox.wait_for(before + during, 10)

            after = [f"after{n}" for n in range(3)]
            for n, message_id in enumerate(after):
                await publish(http, (c, b)[n % 2], f"{root}/m", message_id, message_id)
            for client in [*pollers, *sockets]:
                await client.inbox.wait_for(before + during + after, 10)
            await asyncio.sleep(0.7)

            for poller in pollers:
                poller.check()
                assert_exactly_once(poller.inbox, before + during + after, ordered=True)
            for ws in sockets:
                ws.check()
                assert ws.connect_replies, ws.inbox.label
                for reply in ws.connect_replies:
                    assert reply["successful"] is True, (ws.inbox.label, reply)
                    assert reply["clientId"] == ws.client_id, (ws.inbox.label, reply)
                assert_exactly_once(ws.inbox, before + during + after, ordered=True)
        finally:
            for poller in pollers:
                await poller.stop()
            for ws in sockets:
                await ws.close()
