"""Server extensions (faye ``src/protocol/extensible.js``, docs/protocol.md §6).

An extension sees every incoming message before validation and every outgoing reply and
delivered message after advice is added. Returning ``None`` drops the message; setting
``message["error"]`` on an incoming message blocks it and puts that error in the reply.
Both hooks may be plain functions or coroutines.

Extensions see raw messages, before ``protocol`` has validated them: a ``subscription`` may be
a string or a list, and may be a wildcard. To allow or deny subscribes and publishes, use an
authorizer (``broker.authorization``), which sees one validated channel or pattern at a time.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from types import MappingProxyType
from typing import NamedTuple

import orjson

from broker.delivery import Delivery
from protocol.commands import Message
from protocol.connection_types import ConnectionType
from protocol.messages import join_encoded

__all__ = ["Context", "Extension", "Pipeline"]


_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


class Context(NamedTuple):
    """What faye passes extensions as ``request``: how the message arrived (immutable).

    ``transport`` is the connection type (``long-polling``, ``callback-polling``, ``websocket``,
    ``eventsource`` or ``in-process``; a ``str`` enum, so it compares equal to those names);
    ``headers`` are the HTTP (or WebSocket upgrade) request headers, lower-cased; ``url`` the
    request URL; ``client_host`` the peer's address; ``local`` is True for the server-side client
    (faye's ``request === null``). A named tuple because one is built for every request, and a
    tuple is built in C (a frozen dataclass costs about 2 us here).
    """

    transport: ConnectionType
    headers: Mapping[str, str] = _NO_HEADERS
    url: str = ""
    client_host: str | None = None
    local: bool = False


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


Hook = Callable[[Message, Context], Message | Awaitable[Message | None] | None]


async def _run(hooks: Sequence[Hook], message: Message | None, context: Context) -> Message | None:
    for hook in hooks:
        if message is None:
            return None
        result = hook(message, context)
        message = await result if inspect.isawaitable(result) else result
    return message


class Pipeline:
    """The broker's extensions, in order, and the encoding of what they let out.

    While no extension has an ``outgoing`` hook, a delivery is the same bytes for every
    recipient (``shared_encoding``) and the fan-out fast path may write it as one prebuilt frame.
    """

    def __init__(self, extensions: Sequence[Extension] = ()) -> None:
        self._extensions: list[Extension] = []
        self._incoming: list[Hook] = []
        self._outgoing: list[Hook] = []
        self.has_incoming = False
        """Whether an extension has an ``incoming`` hook (a plain attribute: read for every message)."""
        self.shared_encoding = True
        for extension in extensions:
            self.add(extension)

    def add(self, extension: Extension) -> None:
        self._extensions.append(extension)
        self._rebuild()

    def remove(self, extension: Extension) -> None:
        self._extensions.remove(extension)
        self._rebuild()

    def _rebuild(self) -> None:
        self._incoming = [e.incoming for e in self._extensions if e.has_incoming]
        self._outgoing = [e.outgoing for e in self._extensions if e.has_outgoing]
        self.has_incoming = bool(self._incoming)
        self.shared_encoding = not self._outgoing

    async def incoming(self, message: Message, context: Context) -> Message | None:
        return await _run(self._incoming, message, context)

    async def outgoing(self, message: Message, context: Context) -> Message | None:
        if not self._outgoing:
            return message
        return await _run(self._outgoing, message, context)

    async def encode_one(self, item: Message | Delivery, context: Context) -> bytes | None:
        """JSON of one outgoing item; a delivery passes the outgoing extensions first (on its own copy)."""
        if isinstance(item, Delivery):
            if not self._outgoing:
                return item.encoded
            message = await _run(self._outgoing, item.copy_message(), context)
            return None if message is None else orjson.dumps(message)
        return orjson.dumps(item)

    async def encode(self, items: Sequence[Message | Delivery], context: Context) -> bytes:
        """A JSON array of outgoing items, with each delivery encoded once for everyone."""
        if not self._outgoing:
            return join_encoded([item.encoded if isinstance(item, Delivery) else orjson.dumps(item) for item in items])
        parts = []
        for item in items:
            encoded = await self.encode_one(item, context)
            if encoded is not None:
                parts.append(encoded)
        return join_encoded(parts)
