"""Decoding and encoding of Bayeux batches (faye ``Server#process`` input rules, §4.2).

A body is one JSON object or an array of them. ``null`` entries, and the other falsy
entries ``false``, ``0`` and ``""``, are skipped (faye Node ``_handle`` answers ``!message``
with no reply); any other non-object entry is kept as an empty message so that it gets
faye's publish error.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import orjson

from protocol.commands import Message

__all__ = [
    "BAYEUX_VERSION",
    "DecodeError",
    "JSONP_CALLBACK",
    "decode_batch",
    "encode_batch",
    "encode_jsonp",
    "is_valid_jsonp_callback",
    "join_encoded",
]

BAYEUX_VERSION = "1.0"
"""The protocol version a handshake names and its reply echoes (docs/protocol.md §2.2)."""
JSONP_CALLBACK = "jsonpcallback"
_CALLBACK = re.compile(r"[a-z_$][\w$]*(?:\.[a-z_$][\w$]*)*", re.IGNORECASE | re.ASCII)


class DecodeError(ValueError):
    """The body is not a Bayeux batch; ``reason`` is safe to show to the sender."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decode_batch(body: bytes | str, *, max_messages: int) -> list[Message]:
    """Parse a body into a list of messages; raise :class:`DecodeError` when it is not one."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise DecodeError("Bad request: malformed JSON") from exc
    if _may_nest_deeper_than_encodable(body):
        try:
            orjson.dumps(value)
        except TypeError as exc:
            raise DecodeError("Bad request: JSON nested too deeply") from exc
    if isinstance(value, dict):
        return [value]
    if value is None:
        return []
    if not isinstance(value, list):
        raise DecodeError("Bad request: expected a JSON object or array")
    if len(value) > max_messages:
        raise DecodeError(f"Bad request: more than {max_messages} messages in one batch")
    return [item if isinstance(item, dict) else {} for item in value if isinstance(item, list | dict) or item]


_MAX_ENCODABLE_DEPTH = 254
"""orjson reads 1024 levels of nesting but writes only 254: deeper input could never be answered."""


def _may_nest_deeper_than_encodable(body: bytes | str) -> bool:
    if isinstance(body, bytes):
        return body.count(b"[") + body.count(b"{") > _MAX_ENCODABLE_DEPTH
    return body.count("[") + body.count("{") > _MAX_ENCODABLE_DEPTH


def encode_batch(messages: Iterable[Message]) -> bytes:
    """Encode replies as one JSON array (faye's HTTP and WebSocket reply framing)."""
    return orjson.dumps(list(messages))


def join_encoded(encoded: Iterable[bytes]) -> bytes:
    """Build a JSON array out of messages that are already encoded (encode once, send many)."""
    return b"[" + b",".join(encoded) + b"]"


def is_valid_jsonp_callback(name: str) -> bool:
    """faye's callback rule: identifiers (letters, digits, ``_``, ``$``) joined by dots."""
    return _CALLBACK.fullmatch(name) is not None


def encode_jsonp(callback: str, payload: bytes) -> bytes:
    """``/**/cb([...]);`` with U+2028/U+2029 escaped, the Rosetta Flash mitigations (§4.4)."""
    safe = payload.replace("\u2028".encode(), b"\\u2028").replace("\u2029".encode(), b"\\u2029")
    return b"/**/" + callback.encode() + b"(" + safe + b");"
