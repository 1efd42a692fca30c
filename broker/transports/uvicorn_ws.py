"""uvicorn's sans-I/O WebSocket protocol with a synchronous frame write for fan-out.

ASGI's ``send`` is a coroutine per message; fanning one publish out to a thousand sockets
through it costs a task wake-up and several awaits per recipient. A server's text frame is
not masked (RFC 6455 §5.1), so the frame carrying one message is the same bytes for every
recipient: the broker builds it once (:func:`broker.frames.text_frame`) and this subclass offers the app
``scope["extensions"]["bayeux.send_frame_nowait"]`` to write such a frame now, or return
False when the socket cannot take it now (paused by backpressure, closing), in which case
the app falls back to the ordinary awaited ``send``. Selected by the CLI with
``ws="broker.transports.uvicorn_ws:FastWebSocketProtocol"``; under any other server the
extension is absent and the broker uses plain ASGI. Only the CLI imports this module: it
subclasses uvicorn's ``WebSocketsSansIOProtocol``, which uvicorn has since 0.35.
"""

from __future__ import annotations

from uvicorn._types import ASGISendEvent
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request
from websockets.protocol import State

from broker.frames import SEND_FRAME_NOWAIT

__all__ = ["FastWebSocketProtocol"]


class FastWebSocketProtocol(WebSocketsSansIOProtocol):
    # A socket takes a direct frame while the connection is open, uvicorn has sent no close
    # frame and the transport is neither paused (backpressure) nor closing. ``fast_writable``
    # caches the first three, refreshed wherever they can change (ASGI send, received data,
    # close_sent, pause/resume, loss), so a delivery costs one flag and one C call to check.
    _close_sent = False
    _paused = False
    fast_writable = False

    @property
    def close_sent(self) -> bool:
        return self._close_sent

    @close_sent.setter
    def close_sent(self, value: bool) -> None:
        self._close_sent = value
        self._refresh()

    def _refresh(self) -> None:
        conn = getattr(self, "conn", None)  # None while the base class is being initialised
        self.fast_writable = (
            conn is not None and conn.state is State.OPEN and not self._close_sent and not self._paused
        )

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        # the ASGI task is scheduled but has not run yet, so the app sees the extension
        extensions: dict[str, object] = self.scope["extensions"]  # type: ignore[assignment]
        extensions[SEND_FRAME_NOWAIT] = self.send_frame_nowait

    async def send(self, message: ASGISendEvent) -> None:
        """ASGI send (accept, replies, close): the connection may have opened or closed."""
        try:
            await super().send(message)
        finally:
            self._refresh()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._refresh()  # a close frame from the peer moves the connection out of OPEN

    def pause_writing(self) -> None:
        self._paused = True
        self._refresh()
        super().pause_writing()

    def resume_writing(self) -> None:
        self._paused = False
        self._refresh()
        super().resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.fast_writable = False
        super().connection_lost(exc)

    def send_frame_nowait(self, frame: bytes) -> bool:
        """Write a frame built by :func:`broker.frames.text_frame` now; False if the socket cannot take it."""
        if self.fast_writable and not self.transport.is_closing():
            self.transport.write(frame)
            return True
        return False
