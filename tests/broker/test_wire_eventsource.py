"""docs/protocol.md §13 items 103-105: the ``eventsource`` transport (streaming GET ``<mount>/<clientId>``)."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import time
from typing import Any

import httpx
import pytest

from broker.app import create_app
from tests.broker.wire import (
    FAST,
    T,
    assert_json_error,
    channel,
    connect,
    event_stream,
    handshake,
    http_client,
    publish,
    subscribe,
)
from tests.support.servers import BrokerProcess, serve_app

pytestmark = pytest.mark.anyio

RETRY_CHUNK = b"retry: 5000\r\n\r\n"
ES_ADVICE = {"reconnect": "retry", "interval": int(T * 1000), "timeout": 0}


def _data(event: bytes) -> list[dict[str, Any]]:
    """The JSON array of a ``data: [...]\\r\\n\\r\\n`` event."""
    assert event.startswith(b"data: "), event
    assert event.endswith(b"\r\n\r\n"), event
    payload = event[len(b"data: "):-4]
    assert b"\n" not in payload, event
    messages = json.loads(payload)
    assert isinstance(messages, list), event
    return messages


async def test_c103_stream_headers_and_retry_chunk(broker: BrokerProcess) -> None:
    async with http_client() as http:
        client_id = await handshake(http, broker.url)
        async with event_stream(http, broker.url, client_id) as stream:
            response = stream.response
            first = await stream.read(len(RETRY_CHUNK), within=5)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    assert response.headers["cache-control"] == "no-cache, no-store"
    assert first == RETRY_CHUNK


async def test_c103_stream_for_unknown_client_is_404_json_error_deliberate(broker: BrokerProcess) -> None:
    """Deliberate difference: faye opens a stream for any id; we refuse an unknown one."""
    async with http_client() as http:
        response = await http.get(f"{broker.url}/nosuchclient", headers={"Accept": "text/event-stream"})
    reason = assert_json_error(response, 404)
    assert reason == "401:nosuchclient:Unknown client"


async def test_c104_queued_messages_are_streamed_once_the_eventsource_connect_arrives(broker: BrokerProcess) -> None:
    name = channel("c104")
    async with http_client() as http:
        client_id = await handshake(http, broker.url)
        assert (await subscribe(http, broker.url, client_id, name))["successful"] is True
        await publish(http, broker.url, name, {"queued": 1}, id="q1")
        async with event_stream(http, broker.url, client_id) as stream:
            assert await stream.read(len(RETRY_CHUNK), within=5) == RETRY_CHUNK
            replies = await connect(http, broker.url, client_id, connection_type="eventsource", id="es")
            _, event = await stream.event(within=5)
    assert replies == [{"id": "es", "channel": "/meta/connect", "clientId": client_id, "successful": True,
                        "advice": ES_ADVICE}]
    assert event == b'data: [{"channel":"' + name.encode() + b'","data":{"queued":1},"id":"q1"}]\r\n\r\n'


async def test_c104_live_publishes_are_streamed_at_once_in_order(broker: BrokerProcess) -> None:
    name = channel("c104")
    async with http_client() as http:
        client_id = await handshake(http, broker.url)
        assert (await subscribe(http, broker.url, client_id, name))["successful"] is True
        async with event_stream(http, broker.url, client_id) as stream:
            assert await stream.read(len(RETRY_CHUNK), within=5) == RETRY_CHUNK
            [reply] = await connect(http, broker.url, client_id, connection_type="eventsource")
            assert reply["successful"] is True
            published_at = time.monotonic()
            assert (await publish(http, broker.url, name, "live"))["successful"] is True
            at, event = await stream.event(within=5)
            latency = at - published_at
            for n in range(5):
                await publish(http, broker.url, name, n)
            received: list[dict[str, Any]] = []
            while len(received) < 5:
                received.extend(_data((await stream.event(within=5))[1]))
    assert latency < FAST
    assert _data(event) == [{"channel": name, "data": "live"}]
    assert received == [{"channel": name, "data": n} for n in range(5)]


async def _heartbeat(http: httpx.AsyncClient, url: str, client_id: str) -> None:
    """What the browser does on eventsource: a connect every ``advice.interval`` (T) seconds."""
    while True:
        [reply] = await connect(http, url, client_id, connection_type="eventsource")
        assert reply["successful"] is True, reply
        await asyncio.sleep(T / 2)


async def test_c105_keepalive_comment_every_10_s_by_default(broker: BrokerProcess) -> None:
    async with http_client() as http:
        client_id = await handshake(http, broker.url)
        async with event_stream(http, broker.url, client_id) as stream:
            opened = time.monotonic()
            heartbeat = asyncio.ensure_future(_heartbeat(http, broker.url, client_id))
            try:
                assert await stream.read(len(RETRY_CHUNK), within=5) == RETRY_CHUNK
                at, event = await stream.event(within=13)
            finally:
                heartbeat.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await heartbeat
    assert event == b":\r\n\r\n"
    assert 8.0 <= at - opened <= 11.5, at - opened


async def test_c105_keepalive_comments_repeat_at_the_configured_cadence(anyio_backend: str) -> None:
    ping = 0.3
    app = create_app(timeout=T, eventsource_ping=ping)
    async with serve_app(app) as base, http_client() as http:
        url = f"{base}/faye"
        client_id = await handshake(http, url)
        async with event_stream(http, url, client_id) as stream:
            opened = time.monotonic()
            assert await stream.read(len(RETRY_CHUNK), within=5) == RETRY_CHUNK
            comments = []
            for _ in range(4):
                at, event = await stream.event(within=5)
                assert event == b":\r\n\r\n"
                comments.append(at - opened)
    gaps = [b - a for a, b in itertools.pairwise([0.0, *comments])]
    assert all(0.6 * ping <= gap <= ping + 1.0 for gap in gaps), gaps
