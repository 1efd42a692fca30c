"""WebSocket framing for the fan-out fast path (RFC 6455 §5.2)."""

from __future__ import annotations

import struct

__all__ = ["SEND_FRAME_NOWAIT", "text_frame"]

SEND_FRAME_NOWAIT = "bayeux.send_frame_nowait"
"""The ASGI scope extension under which a server offers a synchronous frame write
(``broker.transports.uvicorn_ws`` does, under the CLI); absent elsewhere, where plain ASGI is used."""


def text_frame(payload: bytes) -> bytes:
    """A final, unmasked text frame holding ``payload`` (UTF-8).

    A server's frames are not masked (RFC 6455 §5.1), so the frame that carries one
    message is the same bytes for every recipient and can be built once.
    """
    length = len(payload)
    if length < 126:
        return bytes((0x81, length)) + payload
    if length < 65536:
        return struct.pack("!BBH", 0x81, 126, length) + payload
    return struct.pack("!BBQ", 0x81, 127, length) + payload
