"""A published message on its way to subscribers, encoded once for every recipient (docs/architecture.md §3)."""

from __future__ import annotations

from typing import Any

import orjson

from broker.frames import text_frame
from protocol.commands import Message

__all__ = ["Delivery"]


class Delivery:
    """One published message shared by every recipient's queue.

    The JSON is produced once, lazily, and the same bytes are written to every socket. A
    recipient whose outgoing extensions change the message gets its own copy instead. An
    engine that stores messages elsewhere (Redis) builds deliveries from their bytes, and
    may keep a ``token`` (its own id for the stored message) to requeue it.
    """

    __slots__ = ("_encoded", "_frame", "_message", "token")

    def __init__(self, message: Message | None = None, encoded: bytes | None = None, token: Any = None) -> None:
        if message is None and encoded is None:
            raise ValueError("a delivery needs a message or its encoding")
        self._message = message
        self._encoded = encoded
        self._frame: bytes | None = None
        self.token = token

    @classmethod
    def from_encoded(cls, encoded: bytes, token: Any = None) -> Delivery:
        return cls(None, encoded, token)

    @property
    def message(self) -> Message:
        if self._message is None:
            assert self._encoded is not None
            self._message = orjson.loads(self._encoded)
        return self._message

    @property
    def channel(self) -> str:
        channel: str = self.message["channel"]
        return channel

    @property
    def encoded(self) -> bytes:
        if self._encoded is None:
            self._encoded = orjson.dumps(self._message)
        return self._encoded

    @property
    def frame(self) -> bytes:
        """The WebSocket text frame carrying ``[<message>]``, built once for every recipient."""
        if self._frame is None:
            self._frame = text_frame(b"[" + self.encoded + b"]")
        return self._frame

    def copy_message(self) -> dict[str, Any]:
        """A deep copy for per-recipient changes (outgoing extensions)."""
        copied: dict[str, Any] = orjson.loads(self.encoded)
        return copied

    def __repr__(self) -> str:
        return f"Delivery({self.message!r})"
