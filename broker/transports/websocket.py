"""``websocket`` transport (faye ``src/protocol/socket.js``, faye-protocol.md §4.5).

Each text frame is a JSON object or array; malformed frames are ignored and the socket
stays open. A frame holding ``/meta/connect`` binds the socket to that client (only if the
client exists). Replies to a frame go out as one JSON array frame; deliveries are pushed
as they happen, coalesced per loop turn into one array frame. A frame with a connect is
processed in its own task so that the held reply does not block later frames.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from broker.connections import PushSink
from broker.delivery import Delivery
from broker.extensions import Context
from broker.server import Broker
from broker.transports.uvicorn_ws import SEND_TEXT_NOWAIT
from protocol.commands import Message
from protocol.messages import DecodeError, decode_batch, join_encoded

__all__ = ["BayeuxWebSocket"]

log = logging.getLogger(__name__)


class WebSocketSink(PushSink):
    def __init__(self, broker: Broker, send: Send, send_nowait: Callable[[bytes], bool] | None) -> None:
        super().__init__()
        self.broker = broker
        self.send = send
        self._send_nowait = send_nowait
        self.context: Context | None = None

    @property
    def direct(self) -> bool:
        return self._send_nowait is not None and not self.broker.outgoing_hooks

    def write_now(self, deliveries: list[Delivery]) -> bool:
        assert self._send_nowait is not None
        if len(deliveries) == 1:
            return self._send_nowait(deliveries[0].frame)
        return self._send_nowait(join_encoded([d.encoded for d in deliveries]))

    async def write(self, deliveries: list[Delivery]) -> None:
        assert self.context is not None
        payload = await self.broker.encode(deliveries, self.context)
        if payload != b"[]":
            # raw ASGI send: this is the fan-out hot path
            await self.send({"type": "websocket.send", "text": payload.decode()})

    async def on_write_failed(self, client_id: str, deliveries: list[Delivery]) -> None:
        await self.broker.engine.requeue(client_id, deliveries)


class BayeuxWebSocket:
    """ASGI app for WebSocket upgrades on the mount."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        await self.broker.start()
        await websocket.accept()
        sink = WebSocketSink(self.broker, send, scope.get("extensions", {}).get(SEND_TEXT_NOWAIT))
        client = websocket.client
        context = Context(
            transport="websocket",
            headers=dict(websocket.headers),
            url=str(websocket.url),
            client_host=client.host if client else None,
            socket=sink,
        )
        sink.context = context
        tasks: set[asyncio.Task[None]] = set()
        max_messages = self.broker.settings.max_batch_messages
        try:
            while True:
                text = await websocket.receive_text()
                try:
                    messages = decode_batch(text, max_messages=max_messages)
                except DecodeError:
                    continue
                if any(m.get("channel") == "/meta/connect" for m in messages):
                    task = asyncio.ensure_future(self._reply(websocket, messages, context))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                else:
                    await self._reply(websocket, messages, context)
        except (WebSocketDisconnect, RuntimeError, KeyError):
            pass
        finally:
            for task in tasks:
                task.cancel()
            await self.broker.unbind(sink)

    async def _reply(self, websocket: WebSocket, messages: list[Message], context: Context) -> None:
        replies = await self.broker.process(messages, context)
        sink = context.socket
        if isinstance(sink, PushSink) and sink.client_id is not None:
            await sink.flush()  # a publish's own delivery goes out before its reply, as in faye
        payload = await self.broker.encode(replies, context)
        try:
            await websocket.send_text(payload.decode())
        except Exception:
            log.debug("websocket closed before a reply could be sent", exc_info=True)
