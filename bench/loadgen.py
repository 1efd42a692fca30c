"""A raw Bayeux load generator: it speaks the wire protocol itself, no Bayeux client library.

- ``handshake``/``post``: HTTP POST of a JSON array (docs/protocol.md §4.2), with httpx.
- :class:`WebSocketClient`: an asyncio protocol that upgrades with the ``websockets``
  sans-I/O :class:`ClientProtocol` (handshake and masked client frames) and then reads
  server frames with a small parser of its own, because the subscriber process has to read
  tens of thousands of frames per second on one core. Every frame is a JSON array
  (docs/protocol.md §4.5, §9.2); each message goes out in its own one-element array, as the
  faye client sends it, and ``/meta/connect`` is sent again whenever its reply arrives.
- :class:`Recorder`: per step delivery counts and latencies, and arrivals per 100 ms.
- :class:`Publisher`: publishes at a paced rate; each message's data carries the step, a
  sequence number and the send time (``time.monotonic_ns()``, which is CLOCK_MONOTONIC and
  so comparable between processes on one Linux machine).
"""

from __future__ import annotations

import asyncio
import importlib.util
import itertools
import sys
import time
from array import array
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import httpx
import orjson
from websockets.client import ClientProtocol
from websockets.frames import Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State
from websockets.uri import parse_uri

if importlib.util.find_spec("sniffio") is None:
    # httpcore tries ``import sniffio`` on every request; when it is not installed each try
    # searches sys.path again (about 1 ms). A None entry makes the import fail at once.
    sys.modules.setdefault("sniffio", None)  # type: ignore[arg-type]

__all__ = [
    "CHANNEL",
    "BayeuxError",
    "LongPollConnection",
    "Publisher",
    "Recorder",
    "WebSocketClient",
    "handshake",
    "post",
]

CHANNEL = "/bench/fanout"
BUCKET_NS = 100_000_000
"""Arrivals are counted per 100 ms of CLOCK_MONOTONIC."""
REQUEST_TIMEOUT = 30.0

loads = orjson.loads
dumps = orjson.dumps
monotonic_ns = time.monotonic_ns


class BayeuxError(Exception):
    """A Bayeux request failed (unsuccessful reply, bad HTTP status, closed socket)."""


async def post(http: httpx.AsyncClient, url: str, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    response = await http.post(url, content=dumps(messages), headers={"Content-Type": "application/json"})
    if response.status_code != 200:
        raise BayeuxError(f"HTTP {response.status_code}: {response.text[:200]}")
    replies: list[dict[str, Any]] = loads(response.content)
    return replies


async def handshake(http: httpx.AsyncClient, url: str) -> str:
    """``/meta/handshake`` over HTTP POST; returns the client id."""
    replies = await post(http, url, [{
        "channel": "/meta/handshake",
        "version": "1.0",
        "supportedConnectionTypes": ["websocket", "long-polling"],
        "id": "1",
    }])
    for reply in replies:
        if reply.get("channel") == "/meta/handshake":
            if reply.get("successful") and isinstance(reply.get("clientId"), str):
                return str(reply["clientId"])
            raise BayeuxError(f"handshake failed: {reply}")
    raise BayeuxError(f"no handshake reply in {replies}")


class Recorder:
    """Counts deliveries of :data:`CHANNEL` per step, with latency in nanoseconds.

    ``scan`` is the hot path: it is called once per received frame or HTTP body, takes the
    receive time once for everything in it, and returns the messages that are not
    deliveries (replies) for the caller to handle.
    """

    def __init__(self) -> None:
        self.latencies: defaultdict[int, array[int]] = defaultdict(lambda: array("q"))
        self.arrivals: defaultdict[int, int] = defaultdict(int)
        self.frames: defaultdict[int, int] = defaultdict(int)
        """Frames (or HTTP responses) that carried at least one delivery, per 100 ms."""
        self.out_of_order = 0
        self.errors: defaultdict[str, int] = defaultdict(int)

    def scan(self, payload: bytes, received_ns: int, last_seq: list[int]) -> list[dict[str, Any]]:
        messages = loads(payload)
        if isinstance(messages, dict):
            messages = [messages]
        replies = []
        delivered = 0
        latencies = self.latencies
        for message in messages:
            data = message.get("data")
            if data is not None and message.get("channel") == CHANNEL:
                latencies[data["k"]].append(received_ns - data["t"])
                seq = data["n"]
                if seq <= last_seq[0]:
                    self.out_of_order += 1
                last_seq[0] = seq
                delivered += 1
            else:
                replies.append(message)
        if delivered:
            bucket = received_ns // BUCKET_NS
            self.arrivals[bucket] += delivered
            self.frames[bucket] += 1
        return replies

    def count(self, step: int) -> int:
        return len(self.latencies.get(step, ()))

    def arrived_between(self, start_ns: int, end_ns: int, counts: dict[int, int] | None = None) -> int:
        first, last = start_ns // BUCKET_NS, end_ns // BUCKET_NS
        counts = self.arrivals if counts is None else counts
        return sum(n for bucket, n in counts.items() if first <= bucket < last)

    def summary(self, step: int) -> dict[str, Any]:
        values = sorted(self.latencies.get(step, ()))
        if not values:
            return {"count": 0, "p50_ms": None, "p99_ms": None, "max_ms": None}

        def pick(q: float) -> float:
            return values[min(len(values) - 1, int(q * len(values)))] / 1e6

        return {"count": len(values), "p50_ms": pick(0.50), "p99_ms": pick(0.99), "max_ms": values[-1] / 1e6}


class LongPollConnection(asyncio.Protocol):
    """A minimal HTTP/1.1 keep-alive client for the ``/meta/connect`` loop of one subscriber.

    httpx costs about 1 ms of CPU per request on this kind of machine, more than either server
    spends answering it, so a long-polling load generator built on it measures itself. This
    protocol writes each request in one ``write`` and reads a ``Content-Length`` response.
    """

    def __init__(self, url: str) -> None:
        self.uri = parse_uri(url.replace("http", "ws", 1))
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.waiter: asyncio.Future[tuple[int, bytes, int]] | None = None
        self.head: tuple[int, int, int] | None = None
        self.received_ns = 0
        self.prefix = (f"POST {self.uri.resource_name} HTTP/1.1\r\nHost: {self.uri.host}:{self.uri.port}\r\n"
                       "Content-Type: application/json\r\nContent-Length: ").encode()

    @classmethod
    async def open(cls, url: str) -> LongPollConnection:
        connection = cls(url)
        loop = asyncio.get_running_loop()
        await loop.create_connection(lambda: connection, connection.uri.host, connection.uri.port)
        return connection

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(BayeuxError(f"connection closed: {exc}"))

    def data_received(self, data: bytes) -> None:
        if not self.buffer:
            self.received_ns = monotonic_ns()
        self.buffer += data
        if self.head is None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            lines = self.buffer[:end].split(b"\r\n")
            status = int(lines[0].split(b" ", 2)[1])
            length = -1
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length < 0:
                self._fail(BayeuxError("response without Content-Length"))
                return
            self.head = (status, end + 4, length)
        status, start, length = self.head
        if len(self.buffer) >= start + length:
            body = self.buffer[start:start + length]
            self.buffer = self.buffer[start + length:]
            self.head = None
            if self.waiter is not None and not self.waiter.done():
                self.waiter.set_result((status, body, self.received_ns))

    def _fail(self, error: Exception) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(error)
        if self.transport is not None:
            self.transport.close()

    async def post(self, body: bytes) -> tuple[int, bytes, int]:
        """POST a JSON body; returns the status, the body and when the response began to arrive."""
        if self.transport is None or self.transport.is_closing():
            raise BayeuxError("connection closed")
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(b"%s%d\r\n\r\n%s" % (self.prefix, len(body), body))
        return await self.waiter

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


class WebSocketClient(asyncio.Protocol):
    """One Bayeux client on one WebSocket: connect cycle, subscribe, deliveries into a Recorder."""

    def __init__(self, url: str, client_id: str, recorder: Recorder | None = None) -> None:
        loop = asyncio.get_running_loop()
        self.url = url
        self.client_id = client_id
        self.recorder = recorder
        self.ws = ClientProtocol(parse_uri(url.replace("http", "ws", 1)), max_size=None)
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.on_reply: Callable[[dict[str, Any]], None] | None = None
        self.ids = itertools.count(1)
        self.fast = False
        self.pending = b""
        self.fragments: list[bytes] = []
        self.last_seq = [-1]
        self.connect_failures = 0

    @classmethod
    async def open(cls, url: str, client_id: str, recorder: Recorder | None = None) -> WebSocketClient:
        uri = parse_uri(url.replace("http", "ws", 1))
        loop = asyncio.get_running_loop()
        _, client = await loop.create_connection(lambda: cls(url, client_id, recorder), uri.host, uri.port)
        await client.opened
        return client

    # -- asyncio.Protocol ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio's classes, so no isinstance check here
        self.transport = transport  # type: ignore[assignment]
        self.ws.send_request(self.ws.connect())
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        error = BayeuxError(f"socket closed: {exc}")
        if not self.opened.done():
            self.opened.set_exception(error)
        for future in self.waiting.values():
            if not future.done():
                future.set_exception(error)
        self.waiting.clear()
        if not self.closed.done():
            self.closed.set_result(None)

    def data_received(self, data: bytes) -> None:
        received_ns = monotonic_ns()
        if self.fast:
            self._parse(data, received_ns)
            return
        self.ws.receive_data(data)
        for event in self.ws.events_received():
            if isinstance(event, Response):
                if self.ws.state is State.OPEN:
                    self.fast = True
                    self.opened.set_result(None)
                else:
                    self.opened.set_exception(BayeuxError(f"upgrade refused: HTTP {event.status_code}"))
            elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                self._text(bytes(event.data), received_ns)
        self._flush()

    def _parse(self, data: bytes, received_ns: int) -> None:
        """Server frames are unmasked: FIN/opcode byte, length (7, 16 or 64 bit), payload."""
        if self.pending:
            data = self.pending + data
        pos, end = 0, len(data)
        while end - pos >= 2:
            length = data[pos + 1] & 0x7F
            header = 2
            if length == 126:
                if end - pos < 4:
                    break
                length = int.from_bytes(data[pos + 2:pos + 4], "big")
                header = 4
            elif length == 127:
                if end - pos < 10:
                    break
                length = int.from_bytes(data[pos + 2:pos + 10], "big")
                header = 10
            if end - pos < header + length:
                break
            first = data[pos]
            payload = data[pos + header:pos + header + length]
            pos += header + length
            opcode = first & 0x0F
            if not first & 0x80 or (opcode == 0 and self.fragments):
                self.fragments.append(payload)
                if first & 0x80:
                    payload, self.fragments = b"".join(self.fragments), []
                    self._text(payload, received_ns)
            elif opcode == 1:
                self._text(payload, received_ns)
            elif opcode == 8:
                self.close()
                return
            elif opcode == 9:
                self.ws.send_pong(payload)
                self._flush()
        self.pending = data[pos:]

    def _text(self, payload: bytes, received_ns: int) -> None:
        if self.recorder is not None:
            replies = self.recorder.scan(payload, received_ns, self.last_seq)
        else:
            replies = loads(payload)
            if isinstance(replies, dict):
                replies = [replies]
        for reply in replies:
            self._reply(reply)

    def _reply(self, reply: dict[str, Any]) -> None:
        if reply.get("channel") == "/meta/connect" and "successful" in reply:
            if reply["successful"]:
                self.connect()
            else:
                self.connect_failures += 1
                if self.recorder is not None:
                    self.recorder.errors[f"connect: {reply.get('error')}"] += 1
            return
        future = self.waiting.pop(str(reply.get("id")), None)
        if future is not None and not future.done():
            future.set_result(reply)
        elif self.on_reply is not None:
            self.on_reply(reply)

    # -- sending ---------------------------------------------------------------------

    def _flush(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            for chunk in self.ws.data_to_send():
                if chunk:
                    self.transport.write(chunk)

    def send(self, message: dict[str, Any]) -> str:
        """Send one message in its own one-element array frame; returns its id."""
        message_id = message.setdefault("id", str(next(self.ids)))
        if self.ws.state is State.OPEN:
            self.ws.send_text(dumps([message]))
            self._flush()
        return str(message_id)

    async def request(self, message: dict[str, Any]) -> dict[str, Any]:
        message["id"] = str(next(self.ids))
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[message["id"]] = future
        self.send(message)
        reply = await asyncio.wait_for(future, REQUEST_TIMEOUT)
        if not reply.get("successful"):
            raise BayeuxError(f"{message['channel']} failed: {reply}")
        return reply

    def connect(self) -> None:
        self.send({"channel": "/meta/connect", "clientId": self.client_id, "connectionType": "websocket"})

    async def subscribe(self, channel: str = CHANNEL) -> None:
        await self.request({"channel": "/meta/subscribe", "clientId": self.client_id, "subscription": channel})

    def close(self) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        if self.ws.state is State.OPEN:
            self.ws.send_close()
            self._flush()
        self.transport.close()


async def open_subscriber(
    http: httpx.AsyncClient, url: str, recorder: Recorder | None, channel: str = CHANNEL
) -> WebSocketClient:
    """Handshake over HTTP, open a WebSocket, start the connect cycle and subscribe."""
    client_id = await handshake(http, url)
    client = await WebSocketClient.open(url, client_id, recorder)
    client.connect()
    await client.subscribe(channel)
    return client


class Publisher:
    """One Bayeux client over WebSocket publishing to :data:`CHANNEL` at a paced rate."""

    def __init__(self, client: WebSocketClient) -> None:
        self.client = client
        self.seq = 0
        self.acked = 0
        self.failed = 0
        client.on_reply = self._on_reply

    @classmethod
    async def open(cls, http: httpx.AsyncClient, url: str) -> Publisher:
        client_id = await handshake(http, url)
        client = await WebSocketClient.open(url, client_id)
        client.connect()
        return cls(client)

    def _on_reply(self, reply: dict[str, Any]) -> None:
        if reply.get("channel") == CHANNEL:
            if reply.get("successful"):
                self.acked += 1
            else:
                self.failed += 1

    async def run(self, step: int, rate: float, seconds: float) -> int:
        """Publish ``rate`` messages per second for ``seconds``; returns how many were sent."""
        client = self.client
        total = max(1, round(rate * seconds))
        start = time.monotonic()
        sent = 0
        while sent < total:
            due = min(total, int((time.monotonic() - start) * rate) + 1)
            while sent < due:
                self.seq += 1
                client.send({
                    "channel": CHANNEL,
                    "clientId": client.client_id,
                    "data": {"k": step, "n": self.seq, "t": monotonic_ns()},
                })
                sent += 1
            next_at = start + sent / rate
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
        return sent

    def close(self) -> None:
        self.client.close()
