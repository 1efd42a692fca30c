"""The push-sink contract (``broker.sinks.PushSink``, docs/architecture.md §5), run on every sink.

Each sink is a real connection: a WebSocket served by uvicorn (its stock protocol, the plain ASGI
path; and the CLI's protocol, the frame fast path), an EventSource response read by httpx, and the
server-side client's in-process sink. The suite drives each through the same ``SinkFeed`` and
checks what arrives at the peer: every message once, in order, whether written as a batch, drained
from the queue or written as prebuilt frames; and when the peer is gone, what a write could not send
is handed back to the feed (requeued) and the sink closes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import orjson
import pytest
from starlette.types import Receive, Scope, Send
from websockets.asyncio.client import connect as ws_connect

from broker.delivery import Delivery
from broker.extensions import Context
from broker.frames import SEND_FRAME_NOWAIT
from broker.http_io import on_disconnect
from broker.local import InProcessSink
from broker.sinks import PushSink
from broker.transports.eventsource import EventSourceSink
from broker.transports.websocket import WebSocketSink
from protocol.connection_types import ConnectionType
from protocol.messages import join_encoded
from tests.support.servers import serve_app

pytestmark = pytest.mark.anyio

PATIENCE = 5.0


class Feed:
    """A ``SinkFeed`` over a list: what the engine would have queued, and what came back."""

    def __init__(self, *, frames: bool = True) -> None:
        self.queue: list[Delivery] = []
        self.requeued: list[Delivery] = []
        self.frames_allowed = frames

    async def take(self, _client_id: str) -> list[Delivery]:
        taken, self.queue = self.queue, []
        return taken

    async def encode(self, deliveries: list[Delivery], _context: Context) -> bytes:
        return join_encoded([delivery.encoded for delivery in deliveries])

    async def requeue(self, _client_id: str, deliveries: list[Delivery]) -> None:
        self.requeued[:0] = deliveries


@dataclass
class Connected:
    """A sink whose peer is a real connection, and that peer's side."""

    sink: PushSink
    received: asyncio.Queue[list[dict[str, Any]]]
    """Each batch the peer received, decoded."""
    break_peer: Callable[[], Awaitable[None]]
    """Make the peer go away (close its connection)."""


SinkMaker = Callable[[], contextlib.AbstractAsyncContextManager[Connected]]


def _handing_over(make_sink: Callable[[Scope, Send], PushSink], handed: asyncio.Queue[PushSink],
                  start: Callable[[Send], Awaitable[None]], finished: asyncio.Event,
                  watch: Callable[[Receive, Any], Awaitable[None]] | None = None) -> Any:
    """An ASGI app that starts a response (or accepts a socket), hands the test a sink on it, and
    keeps it open until the test is done; ``watch`` is what the transport runs beside it."""
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                event = (await receive())["type"]
                await send({"type": event + ".complete"})  # lifespan.startup / lifespan.shutdown
                if event == "lifespan.shutdown":
                    return
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
        await start(send)
        sink = make_sink(scope, send)
        watcher = asyncio.ensure_future(watch(receive, sink)) if watch is not None else None
        handed.put_nowait(sink)
        await finished.wait()
        if watcher is not None:
            watcher.cancel()

    return app


@contextlib.asynccontextmanager
async def websocket_sink(**server: object) -> AsyncIterator[Connected]:
    handed: asyncio.Queue[PushSink] = asyncio.Queue()
    finished = asyncio.Event()
    context = Context(transport=ConnectionType.WEBSOCKET)

    async def accept(send: Send) -> None:
        await send({"type": "websocket.accept"})

    def make(scope: Scope, send: Send) -> PushSink:
        return WebSocketSink(send, context, scope.get("extensions", {}).get(SEND_FRAME_NOWAIT))

    received: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    app = _handing_over(make, handed, accept, finished)
    async with serve_app(app, **server) as base, ws_connect(base.replace("http", "ws") + "/") as peer:
        sink = await asyncio.wait_for(handed.get(), PATIENCE)

        async def read() -> None:
            with contextlib.suppress(Exception):
                async for frame in peer:
                    received.put_nowait(orjson.loads(frame))

        reader = asyncio.ensure_future(read())
        try:
            yield Connected(sink, received, peer.close)
        finally:
            finished.set()
            reader.cancel()


@contextlib.asynccontextmanager
async def eventsource_sink() -> AsyncIterator[Connected]:
    handed: asyncio.Queue[PushSink] = asyncio.Queue()
    finished = asyncio.Event()
    context = Context(transport=ConnectionType.EVENTSOURCE)

    async def start(send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/event-stream")]})
        await send({"type": "http.response.body", "body": b"retry: 5000\r\n\r\n", "more_body": True})

    def make(_scope: Scope, send: Send) -> PushSink:
        sink = EventSourceSink(send, context)
        sink.opened.set()
        return sink

    received: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    app = _handing_over(make, handed, start, finished,
                        lambda receive, sink: on_disconnect(receive, sink.ended.set))
    async with (
        serve_app(app) as base,
        httpx.AsyncClient() as http,
        http.stream("GET", base + "/", headers={"Accept": "text/event-stream"}) as response,
    ):
        sink = await asyncio.wait_for(handed.get(), PATIENCE)

        async def read() -> None:
            with contextlib.suppress(Exception):
                async for line in response.aiter_lines():
                    if line.startswith("data: "):
                        received.put_nowait(orjson.loads(line[len("data: "):]))

        reader = asyncio.ensure_future(read())
        try:
            yield Connected(sink, received, response.aclose)
        finally:
            finished.set()
            reader.cancel()


@contextlib.asynccontextmanager
async def in_process_sink() -> AsyncIterator[Connected]:
    received: asyncio.Queue[list[dict[str, Any]]] = asyncio.Queue()
    gone = False

    async def receive(messages: list[dict[str, Any]]) -> None:
        if gone:
            raise ConnectionError("the client is closed")
        received.put_nowait(messages)

    async def break_peer() -> None:
        nonlocal gone
        gone = True

    yield Connected(InProcessSink(receive), received, break_peer)


SINKS: dict[str, SinkMaker] = {
    "websocket-asgi": lambda: websocket_sink(ws="websockets-sansio"),
    "websocket-frames": lambda: websocket_sink(ws="broker.transports.uvicorn_ws:FastWebSocketProtocol"),
    "eventsource": eventsource_sink,
    "in-process": in_process_sink,
}


@pytest.fixture(params=list(SINKS.values()), ids=list(SINKS))
async def connected(request: pytest.FixtureRequest) -> AsyncIterator[Connected]:
    maker: SinkMaker = request.param
    async with maker() as made:
        yield made


def delivery(n: int) -> Delivery:
    return Delivery({"channel": "/c", "data": n})


async def received_data(connected: Connected, count: int) -> list[object]:
    data: list[object] = []
    while len(data) < count:
        batch = await asyncio.wait_for(connected.received.get(), PATIENCE)
        data += [message["data"] for message in batch]
    return data


async def test_a_written_batch_arrives_as_it_was_sent(connected: Connected) -> None:
    await connected.sink.write(join_encoded([delivery(1).encoded, delivery(2).encoded]))
    assert await asyncio.wait_for(connected.received.get(), PATIENCE) == [{"channel": "/c", "data": 1},
                                                                          {"channel": "/c", "data": 2}]


async def test_a_drain_writes_pending_then_queued_in_order_once(connected: Connected) -> None:
    feed = Feed()
    sink = connected.sink
    sink.attach("client", feed)
    sink.pending = [delivery(0), delivery(1)]
    feed.queue = [delivery(n) for n in range(2, 10)]
    await sink.drain()
    feed.queue = [delivery(10)]
    sink.wake()  # the pump takes what was queued since
    assert await received_data(connected, 11) == list(range(11))
    assert connected.received.empty()
    assert feed.requeued == []


async def test_a_sink_with_frames_writes_prebuilt_frames_and_the_others_do_not_need_to(connected: Connected) -> None:
    sink = connected.sink
    wrote = sink.write_frame([delivery(1)]) and sink.write_frame([delivery(2), delivery(3)])
    if sink.send_frame is None:
        assert not wrote  # no fast path: the registry falls back to the pump, which writes a batch
        return
    assert wrote
    assert await received_data(connected, 3) == [1, 2, 3]


async def test_what_a_failed_write_did_not_send_goes_back_to_the_feed_and_the_sink_closes(
        connected: Connected) -> None:
    feed = Feed(frames=False)
    sink = connected.sink
    sink.attach("client", feed)
    await connected.break_peer()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE
    n = 0
    # a peer that went away is noticed on some write (a socket may take a few more bytes first)
    while not sink.closed:
        assert loop.time() < deadline, "the sink never noticed that its peer was gone"
        feed.queue = [delivery(n)]
        n += 1
        await sink.drain()
        await asyncio.sleep(0.01)
    assert feed.requeued == [feed.requeued[0]]  # exactly the batch that failed, nothing else
    assert feed.requeued[0].message["data"] == n - 1
    feed.queue = [delivery(n)]
    await sink.drain()
    assert [d.message["data"] for d in feed.queue] == [n]  # a closed sink takes nothing more
