"""Server extensions (faye ``src/protocol/extensible.js``, faye-protocol.md §6).

An extension sees every incoming message before validation and every outgoing reply and
delivered message after advice is added. Returning ``None`` drops the message; setting
``message["error"]`` on an incoming message blocks it and puts that error in the reply.
Both hooks may be plain functions or coroutines.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Mapping
from dataclasses import dataclass, field
from typing import Any

from protocol.commands import Message

__all__ = ["Context", "Extension", "run_pipeline"]


@dataclass(frozen=True, kw_only=True)
class Context:
    """What faye passes extensions as ``request``: how the message arrived.

    ``transport`` is ``"long-polling"``, ``"callback-polling"``, ``"websocket"`` or
    ``"in-process"``; ``headers`` are the HTTP (or WebSocket upgrade) request headers,
    lower-cased; ``local`` is True for the server-side client (faye's ``request === null``).
    """

    transport: str
    headers: Mapping[str, str] = field(default_factory=dict)
    url: str = ""
    client_host: str | None = None
    local: bool = False
    socket: Any = None
    holds: list[Any] = field(default_factory=list)
    """The connects this request is holding (so that the transport can release them)."""


class Extension:
    """Base class: override ``incoming`` and/or ``outgoing``."""

    def incoming(self, message: Message, context: Context) -> Message | Awaitable[Message | None] | None:
        return message

    def outgoing(self, message: Message, context: Context) -> Message | Awaitable[Message | None] | None:
        return message

    @property
    def has_incoming(self) -> bool:
        return type(self).incoming is not Extension.incoming

    @property
    def has_outgoing(self) -> bool:
        return type(self).outgoing is not Extension.outgoing


async def run_pipeline(hooks: list[Any], message: Message | None, context: Context) -> Message | None:
    """Run ``message`` through ``hooks`` in order; stop at the first that drops it."""
    for hook in hooks:
        if message is None:
            return None
        result = hook(message, context)
        if inspect.isawaitable(result):
            result = await result
        message = result
    return message
