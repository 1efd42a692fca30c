"""``eventsource``: ``GET <mount>/<clientId>`` streams deliveries (faye-websocket ``eventsource.js``).

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

from broker.connections import PushSink
from broker.delivery import Delivery
from broker.extensions import Context
from broker.server import Broker
from broker.transports.responses import error_response

__all__ = ["serve_eventsource"]


class EventSourceSink(PushSink):
    def __init__(self, broker: Broker, send: Send, context: Context) -> None:
        super().__init__()
        self.broker = broker
        self.send = send
        self.context = context
        self.ended = asyncio.Event()

    async def write(self, deliveries: list[Delivery]) -> None:
        payload = await self.broker.encode(deliveries, self.context)
        await self.send({"type": "http.response.body", "body": b"data: " + payload + b"\r\n\r\n", "more_body": True})

    async def on_write_failed(self, client_id: str, deliveries: list[Delivery]) -> None:
        await self.broker.engine.requeue(client_id, deliveries)
        self.ended.set()

    def detach(self) -> None:
        super().detach()
        self.ended.set()


async def serve_eventsource(broker: Broker, request: Request, scope: Scope, receive: Receive, send: Send) -> None:
    client_id = request.url.path.rsplit("/", 1)[-1]
    await broker.start()
    if not client_id or not await broker.engine.client_exists(client_id):
        await error_response(404, f"401:{client_id}:Unknown client")(scope, receive, send)
        return
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"text/event-stream"),
                (b"cache-control", b"no-cache, no-store"),
                (b"x-content-type-options", b"nosniff"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": b"retry: 5000\r\n\r\n", "more_body": True})
    context = Context(transport="eventsource", headers=request.headers, url=str(request.url))
    sink = EventSourceSink(broker, send, context)
    broker.connections.bind(client_id, sink, broker.engine.take_queue)
    await broker.engine.claim(client_id)
    await sink.drain()

    async def watch_disconnect() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        sink.ended.set()

    watcher = asyncio.ensure_future(watch_disconnect())
    try:
        while not sink.ended.is_set() and not broker.closing:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(sink.ended.wait(), broker.settings.eventsource_ping)
                break
            await send({"type": "http.response.body", "body": b":\r\n\r\n", "more_body": True})
    except OSError:
        pass
    finally:
        watcher.cancel()
        await broker.unbind(sink)
        with contextlib.suppress(Exception):
            await send({"type": "http.response.body", "body": b"", "more_body": False})
