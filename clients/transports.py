"""Client transports: ``long-polling`` (JSON POST, httpx) and ``websocket`` (websockets).

Every transport has the shape of :class:`Transport`, and a :class:`Connector` opens them by
connection type: :class:`NetworkConnector` for a broker at a URL, and the broker's in-process
connector for the server-side client (``broker.local``). A transport only moves message batches.
What it receives goes to ``on_receive``; a batch it could not deliver, or whose replies never
came, goes to ``on_failed`` (the state machine then retries after a backoff). httpx, websockets,
socket and JSON errors stop here.

* long-polling (docs/protocol.md §4.2, §9.6): each batch is one ``POST`` with
  ``Content-Type: application/json``; the reply body is a JSON array. Batches are posted
  concurrently, so a held ``/meta/connect`` never delays a publish.
* websocket (§4.5, §9.2): the endpoint URL with ``ws:``/``wss:``; each batch is one text frame
  holding a JSON array; the server pushes deliveries as they happen. When the socket closes,
  every message still waiting for its reply is handed to ``on_failed``; the next send reopens it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import orjson
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from clients.errors import TransportError

__all__ = [
    "Connector",
    "LongPolling",
    "NetworkConnector",
    "Receiver",
    "Transport",
    "TransportHooks",
    "WebSocketTransport",
    "decode_replies",
    "websocket_url",
]

log = logging.getLogger(__name__)

Message = dict[str, Any]
Receiver = Callable[[list[Message]], Awaitable[None]]
Failed = Callable[[list[Message]], None]

WS_MAX_SIZE = 16 * 1024 * 1024
"""Largest frame accepted from the server."""


@dataclass(frozen=True, slots=True)
class TransportHooks:
    """What a transport reports to its client."""

    on_receive: Receiver
    """Messages arrived (replies and deliveries, in the order received)."""
    on_failed: Failed
    """These sent messages got no reply and never will (the client retries them)."""
    request_timeout: Callable[[], float]
    """How long a reply may take now (it follows the advised connect timeout)."""


class Transport(Protocol):
    """Moves message batches between a client and a broker."""

    connection_type: str

    async def open(self) -> None:
        """Be ready to send; raise :class:`TransportError` when this transport cannot be used."""

    async def send(self, messages: list[Message]) -> None:
        """Send one batch; replies come through ``on_receive``, a failure through ``on_failed``."""

    async def close(self) -> None:
        """Stop; no callback is made afterwards."""


class Connector(Protocol):
    """Opens a client's transports by connection type."""

    handshake_type: str
    """The connection type that carries the handshake, and the fallback that always opens."""
    connection_types: tuple[str, ...]
    """Every connection type it can open."""

    def transport(self, connection_type: str, hooks: TransportHooks) -> Transport: ...


class NetworkConnector:
    """Transports to a broker at ``url``: long-polling (which carries the handshake, as faye's
    client does) and WebSocket."""

    handshake_type: str = "long-polling"
    connection_types: tuple[str, ...] = ("websocket", "long-polling")

    def __init__(self, url: str, *, headers: Mapping[str, str] | None = None) -> None:
        self.url = url
        self.headers = dict(headers or {})

    def transport(self, connection_type: str, hooks: TransportHooks) -> Transport:
        options: dict[str, Any] = {"on_receive": hooks.on_receive, "on_failed": hooks.on_failed,
                                   "request_timeout": hooks.request_timeout, "headers": self.headers}
        if connection_type == "websocket":
            return WebSocketTransport(self.url, **options)
        if connection_type == "long-polling":
            return LongPolling(self.url, **options)
        raise ValueError(f"no {connection_type!r} transport to {self.url}")


def decode_replies(body: bytes | str) -> list[Message]:
    """A reply body: one JSON object or an array of them (faye accepts both, §9.2)."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise TransportError("the server sent malformed JSON") from exc
    if isinstance(value, dict):
        return [value]
    if not isinstance(value, list):
        raise TransportError("the server sent JSON that is not a message batch")
    return [item for item in value if isinstance(item, dict)]


def websocket_url(url: str) -> str:
    """faye's rule (§9.2): ``http:`` becomes ``ws:`` and ``https:`` becomes ``wss:``; path and query stay."""
    if url.startswith("https:"):
        return "wss:" + url[len("https:"):]
    if url.startswith("http:"):
        return "ws:" + url[len("http:"):]
    return url


class LongPolling:
    """``long-polling``: one HTTP POST per batch, posted concurrently."""

    connection_type = "long-polling"

    def __init__(self, url: str, *, on_receive: Receiver, on_failed: Failed, request_timeout: Callable[[], float],
                 headers: Mapping[str, str] | None = None) -> None:
        self.url = url
        self._on_receive = on_receive
        self._on_failed = on_failed
        self._request_timeout = request_timeout
        self._http = httpx.AsyncClient(headers={"Content-Type": "application/json", **(headers or {})})
        self._tasks: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        """Nothing to open: each batch is its own request."""

    async def send(self, messages: list[Message]) -> None:
        """Post ``messages`` in the background; the replies arrive through ``on_receive``."""
        task = asyncio.ensure_future(self._post(messages))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def request(self, messages: list[Message]) -> list[Message]:
        """POST a batch and return the replies; raise :class:`TransportError` on any failure."""
        timeout = httpx.Timeout(self._request_timeout(), connect=10.0)
        try:
            response = await self._http.post(self.url, content=orjson.dumps(messages), timeout=timeout)
        except httpx.HTTPError as exc:
            raise TransportError(f"POST {self.url} failed: {exc!r}") from exc
        if not response.is_success:
            raise TransportError(f"POST {self.url} answered HTTP {response.status_code}")
        return decode_replies(response.content)

    async def _post(self, messages: list[Message]) -> None:
        try:
            replies = await self.request(messages)
        except TransportError as exc:
            log.debug("long-polling: %s", exc)
            self._on_failed(messages)
            return
        await self._on_receive(replies)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._http.aclose()


class WebSocketTransport:
    """``websocket``: one socket, one JSON array per frame, deliveries pushed by the server."""

    connection_type = "websocket"

    def __init__(self, url: str, *, on_receive: Receiver, on_failed: Failed, request_timeout: Callable[[], float],
                 headers: Mapping[str, str] | None = None, open_timeout: float = 5.0) -> None:
        self.url = websocket_url(url)
        self._on_receive = on_receive
        self._on_failed = on_failed
        self._request_timeout = request_timeout
        self._headers = dict(headers or {})
        self._open_timeout = open_timeout
        self._socket: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._unanswered: dict[str, Message] = {}
        self._closing: set[asyncio.Task[None]] = set()

    async def open(self) -> None:
        """Open the socket if it is not open; raise :class:`TransportError` when it cannot be."""
        if self._socket is not None:
            return
        try:
            self._socket = await ws_connect(
                self.url, additional_headers=self._headers, open_timeout=self._open_timeout,
                max_size=WS_MAX_SIZE, compression=None,
            )
        except (OSError, TimeoutError, websockets.WebSocketException) as exc:
            raise TransportError(f"cannot open {self.url}: {exc!r}") from exc
        self._reader = asyncio.ensure_future(self._read(self._socket))

    async def send(self, messages: list[Message]) -> None:
        """Send one frame; if the socket cannot be (re)opened or written, report the batch failed."""
        try:
            await self.open()
            assert self._socket is not None
            for message in messages:
                if "id" in message:
                    self._unanswered[str(message["id"])] = message
            await self._socket.send(orjson.dumps(messages).decode())
        except (TransportError, websockets.WebSocketException, OSError) as exc:
            log.debug("websocket: send failed: %r", exc)
            self._lost()
            self._on_failed(messages)

    async def _read(self, socket: ClientConnection) -> None:
        """Read frames until the socket closes or stays silent longer than a connect may be held."""
        try:
            while True:
                frame = await asyncio.wait_for(socket.recv(), self._request_timeout())
                try:
                    messages = decode_replies(frame)
                except TransportError:
                    continue
                for message in messages:
                    if "successful" in message:
                        self._unanswered.pop(str(message.get("id")), None)
                await self._on_receive(messages)
        except (TimeoutError, websockets.WebSocketException, OSError) as exc:
            log.debug("websocket: connection lost: %r", exc)
        if self._socket is socket:
            self._lost()

    def _lost(self) -> None:
        """Forget the socket; every message still waiting for a reply has failed."""
        socket, self._socket = self._socket, None
        if socket is not None:
            closing = asyncio.ensure_future(socket.close())
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)
        unanswered = list(self._unanswered.values())
        self._unanswered.clear()
        if unanswered:
            self._on_failed(unanswered)

    async def close(self) -> None:
        socket, self._socket = self._socket, None
        self._unanswered.clear()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if socket is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(socket.close(), 2)
