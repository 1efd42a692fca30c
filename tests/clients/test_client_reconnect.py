"""Reconnecting (docs/protocol.md §9.3): the broker process restarts on the same port; the client
backs off while it is down (no busy loop), re-handshakes, subscribes again and sends what was
published meanwhile."""

from __future__ import annotations

import asyncio
import time

import pytest

from clients import Client
from tests.clients.support import TRANSPORTS, next_message, wait_until
from tests.support.servers import BrokerProcess, free_port, start_broker

pytestmark = pytest.mark.anyio


def broker_on(port: int) -> BrokerProcess:
    return start_broker("--timeout", "2", "--port", str(port))


@pytest.mark.parametrize("transport", list(TRANSPORTS))
async def test_client_survives_a_broker_restart_on_the_same_port(transport: str) -> None:
    port = free_port()
    broker = await asyncio.to_thread(broker_on, port)
    try:
        async with Client(broker.url, transports=TRANSPORTS[transport], timeout=2, retry=0.2,
                          max_retry=1.0) as client:
            subscription = await client.subscribe("/restart/*")
            old_id = client.client_id
            await asyncio.to_thread(broker.stop)
            # published while the broker is down: waits, then goes out once the client is back
            pending = asyncio.ensure_future(client.publish("/restart/queued", "while down"))
            await asyncio.sleep(1.0)
            assert not pending.done()
            broker = await asyncio.to_thread(broker_on, port)
            reply = await asyncio.wait_for(pending, 20)
            assert reply["successful"] is True
            assert (await next_message(subscription, 10)).data == "while down"
            assert client.client_id not in (None, old_id)
            assert client.connection_type == transport
            await client.publish("/restart/after", "after")
            assert (await next_message(subscription)).data == "after"
    finally:
        await asyncio.to_thread(broker.stop)


async def test_no_busy_loop_while_the_broker_is_unreachable() -> None:
    """Jittered exponential backoff (retry 0.2 s doubling): a handful of attempts in 3 s, not thousands."""
    client = Client(f"http://127.0.0.1:{free_port()}/faye", retry=0.2, max_retry=5.0)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(client.connect(), 3.0)
    attempts = client.statistics()["handshakes"]
    await client.close()
    assert time.monotonic() - started < 5
    # delays are at least 0.1, 0.2, 0.4, 0.8, 1.6 s: at most 5 retries after the first attempt
    assert 3 <= attempts <= 6, attempts


async def test_client_connects_once_a_broker_comes_up_late() -> None:
    port = free_port()
    client = Client(f"http://127.0.0.1:{port}/faye", retry=0.2, max_retry=1.0, timeout=2)
    connecting = asyncio.ensure_future(client.connect())
    await asyncio.sleep(0.5)
    broker = await asyncio.to_thread(broker_on, port)
    try:
        await asyncio.wait_for(connecting, 15)
        await wait_until(lambda: client.client_id is not None)
        assert (await client.publish("/late", 1))["successful"] is True
        await client.disconnect()
    finally:
        await asyncio.to_thread(broker.stop)
