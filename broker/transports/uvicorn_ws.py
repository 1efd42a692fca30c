"""uvicorn's sans-I/O WebSocket protocol with a synchronous send for fan-out.

ASGI's ``send`` is a coroutine per message; fanning one publish out to a thousand sockets
through it costs a task wake-up and several awaits per recipient. This subclass offers the
app ``scope["extensions"]["bayeux.send_text_nowait"]``: write one text frame (UTF-8 bytes)
now, or return False when the socket cannot take it now (paused by backpressure, closing),
in which case the app falls back to the ordinary awaited ``send``. Selected by the CLI with
``ws="broker.transports.uvicorn_ws:FastWebSocketProtocol"``; under any other server the
extension is absent and the broker uses plain ASGI.
"""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

__all__ = ["SEND_TEXT_NOWAIT", "FastWebSocketProtocol"]

SEND_TEXT_NOWAIT = "bayeux.send_text_nowait"


class FastWebSocketProtocol(WebSocketsSansIOProtocol):
    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        # the ASGI task is scheduled but has not run yet, so the app sees the extension
        extensions: dict[str, object] = self.scope["extensions"]  # type: ignore[assignment]
        extensions[SEND_TEXT_NOWAIT] = self.send_text_nowait

    def send_text_nowait(self, data: bytes) -> bool:
        """Write one text frame holding ``data`` (UTF-8) now; False if the socket cannot take it now."""
        if (
            self.disconnected
            or self.close_sent
            or not self.handshake_complete
            or not self.writable.is_set()
            or self.transport.is_closing()
        ):
            return False
        self.conn.send_text(data)
        self.transport.write(b"".join(self.conn.data_to_send()))
        return True
