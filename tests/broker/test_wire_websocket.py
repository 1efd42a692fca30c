"""docs/protocol.md §13 items 94-102: the ``websocket`` transport, with the ``websockets`` client."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.broker.wire import (
    FAST,
    HANDSHAKE,
    FrameLog,
    T,
    assert_held_about,
    channel,
    drain,
    handshake,
    http_client,
    publish,
    recv_json,
    subscribe,
    ws_url,
)
from tests.support.servers import BrokerProcess, start_broker

pytestmark = pytest.mark.anyio

RETRY = {"reconnect": "retry", "interval": 0, "timeout": int(T * 1000)}
WS_HANDSHAKE = {**HANDSHAKE, "supportedConnectionTypes": ["websocket", "long-polling"]}
PING = 0.5


@pytest.fixture(scope="module")
def broker_ping() -> Iterator[BrokerProcess]:
    process = start_broker("--timeout", "2", "--ping", str(PING))
    yield process
    process.stop()


def _open(url: str, **options: Any) -> Any:
    return connect(ws_url(url), ping_interval=None, open_timeout=10, close_timeout=5, **options)


async def _send(ws: ClientConnection, message: Any) -> None:
    await ws.send(json.dumps(message))


async def _ws_session(ws: ClientConnection, *subscriptions: str) -> str:
    """Handshake, subscribe and use up the first (immediate) connect, all over the socket."""
    await _send(ws, WS_HANDSHAKE)
    [reply] = await recv_json(ws)
    client_id: str = reply["clientId"]
    for name in subscriptions:
        await _send(ws, [{"channel": "/meta/subscribe", "clientId": client_id, "subscription": name}])
        [sub] = await recv_json(ws)
        assert sub["successful"] is True, sub
    await _send(ws, [{"channel": "/meta/connect", "clientId": client_id, "connectionType": "websocket"}])
    first = await recv_json(ws)
    assert first == [{"channel": "/meta/connect", "clientId": client_id, "successful": True, "advice": RETRY}]
    return client_id


async def _nothing_within(ws: ClientConnection, seconds: float) -> None:
    try:
        frame = await asyncio.wait_for(ws.recv(), seconds)
    except TimeoutError:
        return
    pytest.fail(f"unexpected frame {frame!r}")


@pytest.mark.parametrize("suffix", ["", "/", "/anything/else"], ids=["mount", "slash", "below"])
async def test_c94_upgrade_succeeds_without_subprotocol(broker: BrokerProcess, suffix: str) -> None:
    async with _open(broker.url + suffix) as ws:
        assert ws.response.status_code == 101
        assert ws.subprotocol is None
        assert "sec-websocket-protocol" not in ws.response.headers
        await _send(ws, WS_HANDSHAKE)
        [reply] = await recv_json(ws)
    assert reply["successful"] is True


@pytest.mark.parametrize("framing", ["object", "array"])
async def test_c95_handshake_frame_gets_one_array_frame(broker: BrokerProcess, framing: str) -> None:
    async with _open(broker.url) as ws:
        await _send(ws, WS_HANDSHAKE if framing == "object" else [WS_HANDSHAKE])
        frame = await recv_json(ws)
        await _nothing_within(ws, 0.3)
    assert isinstance(frame, list)
    assert len(frame) == 1
    assert frame[0]["channel"] == "/meta/handshake"
    assert frame[0]["successful"] is True
    assert frame[0]["supportedConnectionTypes"][3] == "websocket"


async def test_c96_delivery_is_pushed_at_once_while_connect_is_pending(broker: BrokerProcess) -> None:
    name = channel("c96")
    async with _open(broker.url) as ws, http_client() as http:
        client_id = await _ws_session(ws, name)
        await _send(ws, [{"channel": "/meta/connect", "clientId": client_id, "connectionType": "websocket",
                          "id": "held"}])
        await _nothing_within(ws, 0.3)
        published_at = time.monotonic()
        assert (await publish(http, broker.url, name, {"n": 96}))["successful"] is True
        frame = await recv_json(ws)
        latency = time.monotonic() - published_at
    # The connect (held for T) cannot have been answered yet: this frame is the push.
    assert latency < FAST
    assert frame == [{"channel": name, "data": {"n": 96}}]


async def test_c97_connect_reply_arrives_alone_after_about_timeout(broker: BrokerProcess) -> None:
    async with _open(broker.url) as ws:
        client_id = await _ws_session(ws)
        sent_at = time.monotonic()
        await _send(ws, [{"channel": "/meta/connect", "clientId": client_id, "connectionType": "websocket",
                          "id": "c97"}])
        frame = await recv_json(ws, within=T + 3)
        elapsed = time.monotonic() - sent_at
    assert_held_about(elapsed, T)
    assert frame == [{"id": "c97", "channel": "/meta/connect", "clientId": client_id, "successful": True,
                      "advice": RETRY}]


async def test_c98_own_publish_is_delivered_before_its_reply(broker: BrokerProcess) -> None:
    name = channel("c98")
    async with _open(broker.url) as ws:
        client_id = await _ws_session(ws, name)
        await _send(ws, [{"channel": name, "data": "self", "clientId": client_id, "id": "p98"}])
        first = await recv_json(ws)
        second = await recv_json(ws)
    assert [first, second] == [
        [{"channel": name, "data": "self", "id": "p98"}],
        [{"id": "p98", "clientId": client_id, "channel": name, "successful": True}],
    ]


@pytest.mark.parametrize("frame", ["{", "42", '"abc"', "[{]", "not json"])
async def test_c99_bad_frames_get_no_reply_and_the_socket_stays_open(broker: BrokerProcess, frame: str) -> None:
    async with _open(broker.url) as ws:
        await ws.send(frame)
        await _nothing_within(ws, 0.3)
        await _send(ws, WS_HANDSHAKE)
        [reply] = await recv_json(ws)
    assert reply["channel"] == "/meta/handshake"
    assert reply["successful"] is True


async def test_c100_empty_array_frame_gets_empty_array(broker: BrokerProcess) -> None:
    async with _open(broker.url) as ws:
        await ws.send("[]")
        frame = await asyncio.wait_for(ws.recv(), 5)
    assert json.loads(frame) == []


async def test_c101_after_close_messages_queue_for_the_next_http_connect(broker: BrokerProcess) -> None:
    name = channel("c101")
    async with http_client() as http:
        async with _open(broker.url) as ws:
            client_id = await _ws_session(ws, name)
            await _send(ws, [{"channel": "/meta/connect", "clientId": client_id, "connectionType": "websocket"}])
            await _nothing_within(ws, 0.2)
        await asyncio.sleep(0.2)
        for n in range(3):
            assert (await publish(http, broker.url, name, n))["successful"] is True
        delivered = await drain(http, broker.url, client_id)
    assert delivered == [{"channel": name, "data": n} for n in range(3)]


async def test_c101_ws_session_still_works_over_http_after_close(broker: BrokerProcess) -> None:
    name = channel("c101")
    async with http_client() as http:
        client_id = await handshake(http, broker.url)
        async with _open(broker.url) as ws:
            await _send(ws, [{"channel": "/meta/connect", "clientId": client_id, "connectionType": "websocket"}])
            [reply] = await recv_json(ws)
            assert reply["successful"] is True
        reply = await subscribe(http, broker.url, client_id, name)
        assert reply["successful"] is True
        await publish(http, broker.url, name, "later")
        delivered = await drain(http, broker.url, client_id)
    assert delivered == [{"channel": name, "data": "later"}]


async def test_c102_no_ping_frames_by_default(broker: BrokerProcess) -> None:
    frames = FrameLog("tests.wire.c102.default")
    with frames as logger:
        async with _open(broker.url, logger=logger) as ws:
            await _send(ws, WS_HANDSHAKE)
            await recv_json(ws)
            await _nothing_within(ws, 1.5)
    assert any(text.startswith("TEXT") for _, text in frames.received), frames.received
    assert frames.pings() == []


async def test_c102_ping_frames_every_ping_seconds_when_enabled(broker_ping: BrokerProcess) -> None:
    frames = FrameLog("tests.wire.c102.ping")
    with frames as logger:
        async with _open(broker_ping.url, logger=logger) as ws:
            start = time.monotonic()
            await _send(ws, WS_HANDSHAKE)
            await recv_json(ws)
            await _nothing_within(ws, 4.5 * PING)
    pings = [at - start for at in frames.pings()]
    assert len(pings) >= 3, pings
    gaps = [b - a for a, b in itertools.pairwise(pings)]
    assert all(0.6 * PING <= gap <= PING + 1.0 for gap in gaps), gaps
