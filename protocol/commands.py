"""Decisions made by the pure handlers: one reply plus the commands the broker applies.

Commands are frozen dataclasses; the broker applies them to an engine in order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

__all__ = [
    "Command",
    "Connect",
    "CreateClient",
    "Decision",
    "DestroyClient",
    "Message",
    "Publish",
    "Subscribe",
    "Unsubscribe",
]

Message: TypeAlias = dict[str, Any]
"""A Bayeux message is a JSON object; published ones are forwarded field for field (faye §2.6)."""


@dataclass(frozen=True, slots=True)
class CreateClient:
    """Register a new client id (faye ``engine.createClient``); fires ``handshake``."""

    client_id: str


@dataclass(frozen=True, slots=True)
class Connect:
    """Ping the client and hold its connect for ``hold_ms`` (0 answers at once)."""

    client_id: str
    hold_ms: int
    connection_type: str


@dataclass(frozen=True, slots=True)
class Subscribe:
    """Subscribe the client to one channel or one pattern (a list is split by the handler)."""

    client_id: str
    channel: str


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """Drop one of the client's subscriptions."""

    client_id: str
    channel: str


@dataclass(frozen=True, slots=True)
class Publish:
    """Route ``message`` (already stripped for delivery) to the subscribers of ``channel``.

    ``encoded`` is its JSON, made once by the handler (which checked its size) and written as
    is to every recipient. ``publisher`` is the clientId the publish carried (faye's
    ``publish`` event argument).
    """

    channel: str
    message: Message
    encoded: bytes
    publisher: object = None


@dataclass(frozen=True, slots=True)
class DestroyClient:
    """Remove a client, its subscriptions and its queue (faye ``engine.destroyClient``)."""

    client_id: str


Command: TypeAlias = CreateClient | Connect | Subscribe | Unsubscribe | Publish | DestroyClient


@dataclass(frozen=True, slots=True)
class Decision:
    """What a handler decided: the reply to send (None for none) and commands to apply."""

    reply: Message | None
    commands: tuple[Command, ...] = field(default=())
