"""Shared constants for the pure protocol tests (no event loop, no I/O)."""

from __future__ import annotations

import orjson

from protocol.commands import Message, Publish
from protocol.server import Facts, Policy

CLIENT = "u38mqgjpv9xlp25dk8iipzovt224rdq"
"""A 31-character base-36 client id, as faye generates them (docs/protocol.md §5.1)."""

NEW_ID = "0a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5"
"""The id the broker hands to a handshake decision."""

TIMEOUT_MS = 45_000
POLICY = Policy(timeout_ms=TIMEOUT_MS)
"""faye with ``timeout: 45``: advice ``{"reconnect":"retry","interval":0,"timeout":45000}``."""

RETRY = {"reconnect": "retry", "interval": 0, "timeout": TIMEOUT_MS}
HANDSHAKE_ADVICE = {"reconnect": "handshake"}

KNOWN = Facts(client_exists=True)
UNKNOWN = Facts()
LOCAL = Facts(client_exists=True, local=True)

FAYE_CONNECTION_TYPES = [
    "long-polling",
    "cross-origin-long-polling",
    "callback-polling",
    "websocket",
    "eventsource",
    "in-process",
]
"""faye ``CONNECTION_TYPES`` in order (docs/protocol.md §0.2): the tests' one copy of the expected
list, which ``test_s0_2_constants`` checks the broker's against."""


def published(channel: str, message: Message, publisher: object = None) -> Publish:
    """The publish command a handler decides for ``message``: with its JSON, encoded once."""
    return Publish(channel, message, orjson.dumps(message), publisher)


def handshake(**fields: object) -> Message:
    message: Message = {
        "channel": "/meta/handshake",
        "version": "1.0",
        "supportedConnectionTypes": ["long-polling"],
    }
    message.update(fields)
    return message


def connect(**fields: object) -> Message:
    message: Message = {"channel": "/meta/connect", "clientId": CLIENT, "connectionType": "long-polling"}
    message.update(fields)
    return message


def without(message: Message, *keys: str) -> Message:
    """A copy of ``message`` with ``keys`` removed (a field that was never sent)."""
    return {key: value for key, value in message.items() if key not in keys}
