"""Connection types: how a client reaches the broker (docs/protocol.md §0.2, §4).

The names travel on the wire (``supportedConnectionTypes`` in a handshake, ``connectionType``
in a connect); :class:`ConnectionType` is a ``str`` enum, so a member compares equal to its
name and encodes to it.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["BROKER_CONNECTION_TYPES", "ConnectionType"]


class ConnectionType(StrEnum):
    """Every connection type faye's server offers, in faye's order, plus our in-process one."""

    LONG_POLLING = "long-polling"
    CROSS_ORIGIN_LONG_POLLING = "cross-origin-long-polling"
    CALLBACK_POLLING = "callback-polling"
    WEBSOCKET = "websocket"
    EVENTSOURCE = "eventsource"
    IN_PROCESS = "in-process"
    """The server-side client (faye's ``in-process``), which runs inside the broker."""


BROKER_CONNECTION_TYPES: tuple[str, ...] = tuple(ConnectionType)
"""What a handshake reply offers, in faye's order (faye ``CONNECTION_TYPES``)."""
