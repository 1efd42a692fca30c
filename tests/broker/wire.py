"""Helpers for the wire tests (docs/protocol.md §13): raw Bayeux over real loopback sockets.

Everything here talks to a running broker through httpx (long-polling, JSONP, EventSource)
or the ``websockets`` asyncio client. Nothing is mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable
from typing import Any, TypeVar

import httpx

from tests.protocol.helpers import FAYE_CONNECTION_TYPES

__all__ = [
    "CLIENT_ID",
    "CONNECTION_TYPES",
    "FAST",
    "HANDSHAKE",
    "T",
    "EventStream",
    "FrameLog",
    "assert_held_about",
    "assert_json_error",
    "channel",
    "connect",
    "drain",
    "event_stream",
    "handshake",
    "http_client",
    "post",
    "publish",
    "recv_json",
    "session",
    "subscribe",
    "timed",
    "ws_url",
]

T = 2.0
"""The session ``broker`` fixture runs with ``--timeout 2``."""
FAST = 0.6
"""Upper bound, in seconds, for what faye does "at once" (about 100 ms) on a loaded machine."""
CLIENT_ID = re.compile(r"^[0-9a-z]{31}$")
CONNECTION_TYPES = FAYE_CONNECTION_TYPES
HANDSHAKE: dict[str, Any] = {
    "channel": "/meta/handshake",
    "version": "1.0",
    "supportedConnectionTypes": ["long-polling"],
}

Message = dict[str, Any]
R = TypeVar("R")
_counter = itertools.count(1)


def channel(prefix: str) -> str:
    """A channel name nobody else uses, e.g. ``/c55-3-1a2b3c4d``."""
    return f"/{prefix}-{next(_counter)}-{secrets.token_hex(4)}"


def http_client(**options: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(timeout=httpx.Timeout(20.0), **options)


def ws_url(url: str) -> str:
    assert url.startswith("http://")
    return "ws://" + url[len("http://"):]


def assert_held_about(elapsed: float, seconds: float) -> None:
    """A hold of ``seconds``: at least 0.8x, at most 1.5 s late (loaded 2-core machine)."""
    assert 0.8 * seconds <= elapsed <= seconds + 1.5, f"held {elapsed:.3f} s, expected about {seconds} s"


def assert_json_error(response: httpx.Response, status: int) -> str:
    """Deliberate difference: HTTP-level errors are ``{"error": reason, "status": N}`` JSON.

    faye answers them with a ``text/plain; charset=utf-8`` body ``Bad request``; the status
    codes are the same. Returns the reason.
    """
    assert response.status_code == status, (response.status_code, response.text)
    media_type = response.headers.get("content-type", "").split(";")[0].strip()
    assert media_type == "application/json", response.headers.get("content-type")
    body = response.json()
    assert isinstance(body, dict), body
    assert set(body) == {"error", "status"}, body
    assert body["status"] == status, body
    assert isinstance(body["error"], str), body
    assert body["error"], body
    reason: str = body["error"]
    return reason


async def timed(awaitable: Awaitable[R]) -> tuple[R, float]:
    start = time.monotonic()
    result = await awaitable
    return result, time.monotonic() - start


async def post(http: httpx.AsyncClient, url: str, body: Any) -> list[Message]:
    """POST-JSON a body; the HTTP status must be 200 and the reply a JSON array."""
    response = await http.post(url, json=body)
    assert response.status_code == 200, (response.status_code, response.text)
    replies = response.json()
    assert isinstance(replies, list), replies
    return replies


async def handshake(http: httpx.AsyncClient, url: str) -> str:
    [reply] = await post(http, url, HANDSHAKE)
    assert reply["successful"] is True, reply
    client_id: str = reply["clientId"]
    return client_id


async def connect(
    http: httpx.AsyncClient,
    url: str,
    client_id: str,
    *,
    timeout_ms: int | None = None,
    connection_type: str = "long-polling",
    **fields: Any,
) -> list[Message]:
    message: Message = {"channel": "/meta/connect", "clientId": client_id, "connectionType": connection_type, **fields}
    if timeout_ms is not None:
        message["advice"] = {"timeout": timeout_ms}
    return await post(http, url, message)


async def drain(http: httpx.AsyncClient, url: str, client_id: str) -> list[Message]:
    """Collect what is queued for a client: a connect with ``advice.timeout: 0``."""
    replies = await connect(http, url, client_id, timeout_ms=0)
    assert replies[0]["channel"] == "/meta/connect", replies
    assert replies[0]["successful"] is True, replies
    return replies[1:]


async def subscribe(http: httpx.AsyncClient, url: str, client_id: str, subscription: Any) -> Message:
    [reply] = await post(http, url, {"channel": "/meta/subscribe", "clientId": client_id,
                                     "subscription": subscription})
    return reply


async def publish(http: httpx.AsyncClient, url: str, name: Any, data: Any, **fields: Any) -> Message:
    [reply] = await post(http, url, {"channel": name, "data": data, **fields})
    return reply


async def session(http: httpx.AsyncClient, url: str, *subscriptions: str) -> str:
    """Handshake, use up the first connect (answered at once by this broker), subscribe."""
    client_id = await handshake(http, url)
    first = await connect(http, url, client_id)
    assert first[0]["successful"] is True, first
    for name in subscriptions:
        reply = await subscribe(http, url, client_id, name)
        assert reply["successful"] is True, reply
    return client_id


async def recv_json(ws: Any, within: float = 5.0) -> Any:
    """The next WebSocket text frame, parsed."""
    frame = await asyncio.wait_for(ws.recv(), within)
    return json.loads(frame)


class FrameLog(logging.Handler):
    """Records the frames a ``websockets`` connection logs at DEBUG level ("< PING ...")."""

    def __init__(self, name: str) -> None:
        super().__init__(logging.DEBUG)
        self.logger = logging.getLogger(name)
        self.received: list[tuple[float, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if text.startswith("< "):
            self.received.append((time.monotonic(), text[2:]))

    def pings(self) -> list[float]:
        return [at for at, text in self.received if text.startswith("PING")]

    def __enter__(self) -> logging.Logger:
        self.logger.setLevel(logging.DEBUG)
        self.logger.propagate = False
        self.logger.addHandler(self)
        return self.logger

    def __exit__(self, *exc: object) -> None:
        self.logger.removeHandler(self)


class EventStream:
    """Reads an EventSource response in the background; events are split on a blank line."""

    def __init__(self, response: httpx.Response) -> None:
        self.response = response
        self._chunks: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._buffer = b""
        self._task = asyncio.ensure_future(self._pump())

    async def _pump(self) -> None:
        try:
            async for chunk in self.response.aiter_raw():
                await self._chunks.put(chunk)
        except httpx.HTTPError:
            pass
        finally:
            await self._chunks.put(None)

    async def read(self, size: int, within: float) -> bytes:
        """At least ``size`` bytes (fewer only if the stream ends), as they arrive."""
        while len(self._buffer) < size:
            chunk = await asyncio.wait_for(self._chunks.get(), within)
            if chunk is None:
                break
            self._buffer += chunk
        data, self._buffer = self._buffer[:size], self._buffer[size:]
        return data

    async def event(self, within: float) -> tuple[float, bytes]:
        """The next event including its ``\\r\\n\\r\\n``, and when it was complete."""
        deadline = time.monotonic() + within
        while b"\r\n\r\n" not in self._buffer:
            chunk = await asyncio.wait_for(self._chunks.get(), max(0.0, deadline - time.monotonic()))
            if chunk is None:
                raise EOFError(f"stream ended; unread: {self._buffer!r}")
            self._buffer += chunk
        end = self._buffer.index(b"\r\n\r\n") + 4
        event, self._buffer = self._buffer[:end], self._buffer[end:]
        return time.monotonic(), event

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@contextlib.asynccontextmanager
async def event_stream(http: httpx.AsyncClient, url: str, client_id: str) -> AsyncIterator[EventStream]:
    """``GET <mount>/<clientId>`` with ``Accept: text/event-stream``."""
    async with http.stream("GET", f"{url}/{client_id}", headers={"Accept": "text/event-stream"}) as response:
        stream = EventStream(response)
        try:
            yield stream
        finally:
            await stream.close()
