"""A published message on its way to subscribers, encoded once for every recipient (design.md §3)."""

from __future__ import annotations

from typing import Any

import orjson

from protocol.commands import Message

__all__ = ["Delivery"]


class Delivery:
    """One published message shared by every recipient's queue.

    The JSON is produced once, lazily, and the same bytes are written to every socket. A
    recipient whose outgoing extensions change the message gets its own copy instead.
    """

    __slots__ = ("_encoded", "channel", "message")

    def __init__(self, message: Message, encoded: bytes | None = None) -> None:
        self.message = message
        self.channel: str = message["channel"]
        self._encoded = encoded

    @classmethod
    def from_encoded(cls, encoded: bytes) -> Delivery:
        return cls(orjson.loads(encoded), encoded)

    @property
    def encoded(self) -> bytes:
        if self._encoded is None:
            self._encoded = orjson.dumps(self.message)
        return self._encoded

    def copy_message(self) -> dict[str, Any]:
        """A deep copy for per-recipient changes (outgoing extensions)."""
        copied: dict[str, Any] = orjson.loads(self.encoded)
        return copied

    def __repr__(self) -> str:
        return f"Delivery({self.message!r})"
