"""A WebSocket subscriber that stops reading: backpressure on the fan-out fast path.

Deliveries are written straight to sockets while a socket can take them; once a reader
stops, the server's transport buffer passes its high-water mark, uvicorn pauses writing,
and later deliveries must take the queued path instead (``Connections.push_many`` refuses,
the engine queues, the sink's pump writes when the socket drains). Nothing may be lost,
duplicated or reordered, and other subscribers must not wait for the slow one.
"""

from __future__ import annotations

import asyncio
import json
import socket
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.broker.wire import HANDSHAKE, channel, handshake, http_client, publish, ws_url
from tests.support.servers import BrokerProcess

pytestmark = pytest.mark.anyio

MESSAGES = 300
PAYLOAD = "x" * 30_000
"""300 x 30 kB = 9 MB: far more than a loopback socket's buffers once the reader's is shrunk."""


def _small_buffer_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect, so the window stays small
    sock.connect(("127.0.0.1", port))
    sock.setblocking(False)
    return sock


async def _ws_session(url: str, client_id: str, name: str, sock: socket.socket | None = None) -> ClientConnection:
    """A socket bound to ``client_id`` (its connect is held), subscribed to ``name``."""
    ws = await connect(ws_url(url), sock=sock, max_size=None, max_queue=4, open_timeout=10)
    await ws.send(json.dumps([{"channel": "/meta/subscribe", "clientId": client_id, "subscription": name}]))
    [reply] = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert reply["successful"] is True, reply
    await ws.send(json.dumps([{"channel": "/meta/connect", "clientId": client_id, "connectionType": "websocket",
                               "advice": {"timeout": 0}}]))
    [reply] = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert reply["successful"] is True, reply
    await ws.send(json.dumps([{"channel": "/meta/connect", "clientId": client_id, "connectionType": "websocket"}]))
    return ws


async def _read_all(ws: ClientConnection, client_id: str, name: str, want: int, within: float) -> list[int]:
    """Sequence numbers of the deliveries on ``name``, re-sending each connect as it is answered."""
    seen: list[int] = []
    async with asyncio.timeout(within):
        while len(seen) < want:
            batch: list[dict[str, Any]] = json.loads(await ws.recv())
            for message in batch:
                if message.get("channel") == name:
                    seen.append(message["data"]["n"])
                elif message.get("channel") == "/meta/connect":
                    await ws.send(json.dumps([{"channel": "/meta/connect", "clientId": client_id,
                                               "connectionType": "websocket"}]))
    return seen


async def test_slow_websocket_reader_loses_nothing_and_does_not_hold_up_others(broker: BrokerProcess) -> None:
    name = channel("backpressure")
    port = int(broker.url.split(":")[2].split("/")[0])
    async with http_client() as http:
        slow_id = await handshake(http, broker.url)
        fast_id = await handshake(http, broker.url)
        slow = await _ws_session(broker.url, slow_id, name, _small_buffer_socket(port))
        fast = await _ws_session(broker.url, fast_id, name)
        try:
            fast_reader = asyncio.create_task(_read_all(fast, fast_id, name, MESSAGES, within=30))
            # the slow subscriber reads nothing while all of it is published
            for n in range(MESSAGES):
                reply = await publish(http, broker.url, name, {"n": n, "pad": PAYLOAD})
                assert reply["successful"] is True, reply
            assert await fast_reader == list(range(MESSAGES))  # not held up by the slow one
            assert (await http.post(broker.url, json=HANDSHAKE)).status_code == 200  # the broker still serves
            assert await _read_all(slow, slow_id, name, MESSAGES, within=30) == list(range(MESSAGES))
            with pytest.raises(TimeoutError):  # and no duplicate follows
                await _read_all(slow, slow_id, name, 1, within=1.0)
        finally:
            await slow.close()
            await fast.close()
