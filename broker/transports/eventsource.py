"""``eventsource``: ``GET <mount>/<clientId>`` streams deliveries (docs/protocol.md §4.6).

The stream is bound to the client like a socket; the client still sends its messages,
including ``/meta/connect`` with ``connectionType: "eventsource"``, by POST. The body
starts with ``retry: 5000``, each delivery batch is ``data: [...]`` and a ``:`` comment is
sent every ``eventsource_ping`` seconds. Unlike faye, a stream for an unknown client id is
refused (404) and a stream whose client is destroyed is ended.
"""

from __future__ import annotations

import asyncio
import contextlib

from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from broker.extensions import Context
from broker.http_io import on_disconnect
from broker.server import Broker, Stream
from broker.sinks import PushSink
from broker.transports.responses import bayeux_header_list, error_response
from protocol import errors
from protocol.connection_types import ConnectionType

__all__ = ["EventSourceSink", "serve_eventsource"]


class EventSourceSink(PushSink):
    """Writes each batch as one ``data:`` event of an open ``text/event-stream`` response."""

    __slots__ = ("ended", "opened", "send")
    transport = ConnectionType.EVENTSOURCE

    def __init__(self, send: Send, context: Context) -> None:
        super().__init__(context)
        self.send = send
        self.opened = asyncio.Event()
        """Set once the response has started: nothing is written before its headers."""
        self.ended = asyncio.Event()

    async def write(self, payload: bytes) -> None:
        await self.opened.wait()
        if self.ended.is_set():
            # the client went away: the server may drop bytes silently, so say it, and the batch is requeued
            raise ConnectionError("the EventSource stream has ended")
        await self.send({"type": "http.response.body", "body": b"data: " + payload + b"\r\n\r\n", "more_body": True})

    def write_failed(self) -> None:
        self.ended.set()

    def detach(self) -> None:
        super().detach()
        self.ended.set()


async def serve_eventsource(broker: Broker, request: Request, scope: Scope, receive: Receive, send: Send) -> None:
    client_id = request.url.path.rsplit("/", 1)[-1]
    client = request.scope.get("client")
    context = Context(transport=ConnectionType.EVENTSOURCE, headers=request.headers, url=str(request.url),
                      client_host=client[0] if client else None)
    sink = EventSourceSink(send, context)
    headers = bayeux_header_list(request.headers, b"text/event-stream")
    if await broker.open_stream(client_id, sink) is Stream.UNKNOWN_CLIENT:
        await error_response(404, errors.client_unknown(client_id))(scope, receive, send)
        return
    watcher = asyncio.ensure_future(on_disconnect(receive, sink.ended.set))
    try:
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"retry: 5000\r\n\r\n", "more_body": True})
        sink.opened.set()
        await sink.drain()  # what was queued before the stream opened
        while not sink.ended.is_set() and not broker.closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sink.ended.wait(), broker.settings.eventsource_ping)
                break
            await send({"type": "http.response.body", "body": b":\r\n\r\n", "more_body": True})
    except OSError:
        pass
    finally:
        watcher.cancel()
        await broker.close_stream(sink)
        with contextlib.suppress(Exception):
            await send({"type": "http.response.body", "body": b"", "more_body": False})

