"""``websocket`` transport (faye ``src/protocol/socket.js``, docs/protocol.md §4.5).

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

from broker.extensions import Context
from broker.frames import SEND_FRAME_NOWAIT
from broker.request_state import RequestState
from broker.server import Broker
from broker.sinks import PushSink
from protocol import channels
from protocol.commands import Message
from protocol.connection_types import ConnectionType
from protocol.messages import DecodeError, decode_batch

__all__ = ["BayeuxWebSocket", "WebSocketSink"]

log = logging.getLogger(__name__)


class WebSocketSink(PushSink):
    """A WebSocket: replies and deliveries as text frames; prebuilt frames written at once when the
    server offers ``send_frame_nowait`` (the CLI's uvicorn protocol), else through ASGI ``send``."""

    __slots__ = ("send",)
    transport = ConnectionType.WEBSOCKET
    replies_later = True

    def __init__(self, send: Send, context: Context, send_frame_nowait: Callable[[bytes], bool] | None) -> None:
        super().__init__(context)
        self.send = send
        self.send_frame = send_frame_nowait

    async def write(self, payload: bytes) -> None:
        await self.send({"type": "websocket.send", "text": payload.decode()})


class BayeuxWebSocket:
    """ASGI app for WebSocket upgrades on the mount."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        websocket = WebSocket(scope, receive, send)
        await self.broker.start()
        await websocket.accept()
        client = websocket.client
        context = Context(
            transport=ConnectionType.WEBSOCKET,
            headers=websocket.headers,
            url=str(websocket.url),
            client_host=client.host if client else None,
        )
        sink = WebSocketSink(send, context, scope.get("extensions", {}).get(SEND_FRAME_NOWAIT))
        max_messages = self.broker.settings.max_batch_messages
        try:
            while True:
                try:
                    text = await websocket.receive_text()
                except (WebSocketDisconnect, RuntimeError, KeyError):  # closed, or a binary frame (no "text")
                    return
                try:
                    messages = decode_batch(text, max_messages=max_messages)
                except DecodeError:
                    continue
                await self._reply(messages, sink)
        finally:
            await self.broker.close_stream(sink)

    async def _reply(self, messages: list[Message], sink: WebSocketSink) -> None:
        """Process one frame in order. A held connect is answered later, by the broker, as its own frame."""
        replies = await self.broker.process(messages, RequestState(sink.context, sink))
        if not replies and any(m.get("channel") == channels.CONNECT for m in messages):
            return
        if sink.client_id is not None:
            await sink.flush()  # a publish's own delivery goes out before its reply, as in faye
        payload = await self.broker.encode(replies, sink.context)
        try:
            await sink.write(payload)
        except Exception:
            log.debug("websocket closed before a reply could be sent", exc_info=True)
