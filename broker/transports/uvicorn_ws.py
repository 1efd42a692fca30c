"""uvicorn's sans-I/O WebSocket protocol with a synchronous frame write for fan-out.

ASGI's ``send`` is a coroutine per message; fanning one publish out to a thousand sockets
through it costs a task wake-up and several awaits per recipient. A server's text frame is
not masked (RFC 6455 §5.1), so the frame carrying one message is the same bytes for every
recipient: the broker builds it once (:func:`broker.frames.text_frame`) and this subclass offers the app
``scope["extensions"]["bayeux.send_frame_nowait"]`` to write such a frame now, or return
False when the socket cannot take it now (paused by backpressure, closing), in which case
the app falls back to the ordinary awaited ``send``. Selected by the CLI with
``ws="broker.transports.uvicorn_ws:FastWebSocketProtocol"``; under any other server the
extension is absent and the broker uses plain ASGI.
"""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request
from websockets.protocol import State

__all__ = ["SEND_FRAME_NOWAIT", "FastWebSocketProtocol"]

SEND_FRAME_NOWAIT = "bayeux.send_frame_nowait"


class FastWebSocketProtocol(WebSocketsSansIOProtocol):
    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        # the ASGI task is scheduled but has not run yet, so the app sees the extension
        extensions: dict[str, object] = self.scope["extensions"]  # type: ignore[assignment]
        extensions[SEND_FRAME_NOWAIT] = self.send_frame_nowait

    def send_frame_nowait(self, frame: bytes) -> bool:
        """Write a frame built by :func:`broker.frames.text_frame` now; False if the socket cannot take it."""
        if (
            self.close_sent
            or self.conn.state is not State.OPEN
            or not self.writable.is_set()
            or self.transport.is_closing()
        ):
            return False
        self.transport.write(frame)
        return True
