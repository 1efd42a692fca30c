"""``websocket`` transport (faye ``src/protocol/socket.js``, faye-protocol.md §4.5).

Each text frame is a JSON object or array; malformed frames are ignored and the socket
stays open. A frame holding ``/meta/connect`` binds the socket to that client (only if the
client exists). Replies to a frame go out as one JSON array frame; deliveries are pushed
as they happen, coalesced per loop turn into one array frame. A frame with a connect is
held with a timer, not a suspended task, and its reply is sent as its own frame when it ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from broker.connections import PushSink
from broker.delivery import Delivery
from broker.extensions import Context
from broker.server import Broker
from broker.transports.uvicorn_ws import SEND_FRAME_NOWAIT
from protocol.commands import Message
from protocol.messages import DecodeError, decode_batch

__all__ = ["BayeuxWebSocket"]

log = logging.getLogger(__name__)


class WebSocketSink(PushSink):
    __slots__ = ("broker", "context", "send")

    def __init__(self, broker: Broker, send: Send, send_frame_nowait: Callable[[bytes], bool] | None) -> None:
        super().__init__()
        self.broker = broker
        self.send = send
        self.send_frame = send_frame_nowait
        self.context: Context | None = None

    replies_later = True

    async def send_replies(self, payload: bytes) -> None:
        await self.send({"type": "websocket.send", "text": payload.decode()})

    async def write(self, deliveries: list[Delivery]) -> None:
        assert self.context is not None
        # queued deliveries (Redis engine, a socket that was paused) take the frame path too
        if not self.broker.outgoing_hooks and self.write_frame(deliveries):
            return
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
        sink = WebSocketSink(self.broker, send, scope.get("extensions", {}).get(SEND_FRAME_NOWAIT))
        client = websocket.client
        context = Context(
            transport="websocket",
            headers=websocket.headers,
            url=str(websocket.url),
            client_host=client.host if client else None,
            socket=sink,
        )
        sink.context = context
        max_messages = self.broker.settings.max_batch_messages
        try:
            while True:
                text = await websocket.receive_text()
                try:
                    messages = decode_batch(text, max_messages=max_messages)
                except DecodeError:
                    continue
                await self._reply(websocket, messages, sink, context)
        except (WebSocketDisconnect, RuntimeError, KeyError):
            pass
        finally:
            await self.broker.unbind(sink)

    async def _reply(self, websocket: WebSocket, messages: list[Message], sink: PushSink, context: Context) -> None:
        """Process one frame in order. A held connect is answered later, by the broker, as its own frame."""
        replies = await self.broker.process(messages, context)
        if not replies and any(m.get("channel") == "/meta/connect" for m in messages):
            return
        if sink.client_id is not None:
            await sink.flush()  # a publish's own delivery goes out before its reply, as in faye
        payload = await self.broker.encode(replies, context)
        try:
            await websocket.send_text(payload.decode())
        except Exception:
            log.debug("websocket closed before a reply could be sent", exc_info=True)
