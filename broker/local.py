"""The server-side client (faye ``bayeux.getClient()``, faye-protocol.md §7.2).

It speaks the same protocol messages as any client, through ``Broker.process`` with the
``in-process`` transport, so server extensions see its messages (with ``context.local``
True, faye's ``request === null``). Being local it may subscribe to ``/meta/**`` and
``/service/**``, which is how server-side handlers receive ``/service/*`` requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import itertools
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from broker.connections import PushSink
from broker.delivery import Delivery
from broker.extensions import Context, run_pipeline
from protocol import channels
from protocol.commands import Message
from protocol.errors import parse_error

if TYPE_CHECKING:
    from broker.server import Broker

__all__ = ["BayeuxError", "LocalClient", "Subscriber"]

log = logging.getLogger(__name__)

Subscriber = Callable[[Message], object | Awaitable[object]]
"""Called with each delivered message (a dict with ``channel``, ``data`` and any ``ext``)."""


class BayeuxError(Exception):
    """The broker refused a request; ``error`` is the Bayeux error string (``403:/x:Forbidden channel``)."""

    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error
        self.code, self.args_list, self.reason = parse_error(error)


class _LocalSink(PushSink):
    def __init__(self, client: LocalClient) -> None:
        super().__init__()
        self.client = client

    async def write(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            await self.client._dispatch(delivery)


class LocalClient:
    """In-process publish and subscribe from Python; obtained with ``broker.client()``."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self._sink = _LocalSink(self)
        self._context = Context(transport="in-process", local=True, socket=self._sink)
        self._ids = itertools.count(1)
        self._subscribers: dict[str, list[Subscriber]] = {}
        self._client_id: str | None = None
        self._connect_task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    @property
    def client_id(self) -> str | None:
        return self._client_id

    async def _send(self, message: Message) -> Message:
        message.setdefault("id", format(next(self._ids), "x"))
        replies = await self._broker.process([message], self._context)
        for reply in replies:
            if isinstance(reply, dict) and reply.get("id") == message["id"]:
                return reply
        raise BayeuxError(f"407:{message.get('channel', '')}:Failed to publish")

    async def _ensure_session(self) -> str:
        async with self._lock:
            if self._client_id is None:
                reply = await self._send(
                    {"channel": channels.HANDSHAKE, "version": "1.0", "supportedConnectionTypes": ["in-process"]}
                )
                if not reply.get("successful"):
                    raise BayeuxError(str(reply.get("error", "")))
                self._client_id = reply["clientId"]
                for channel in list(self._subscribers):
                    await self._send({"channel": channels.SUBSCRIBE, "clientId": self._client_id,
                                      "subscription": channel})
                if self._connect_task is None or self._connect_task.done():
                    self._connect_task = asyncio.ensure_future(self._connect_loop())
            return self._client_id

    async def _connect_loop(self) -> None:
        """Keep one connect outstanding, as every faye client does, so the session stays alive."""
        while not self._broker.closing and self._client_id is not None:
            reply = await self._send(
                {"channel": channels.CONNECT, "clientId": self._client_id, "connectionType": "in-process"}
            )
            if not reply.get("successful"):
                self._client_id = None
                await self._ensure_session()
                return

    async def subscribe(self, channel: str, callback: Subscriber) -> None:
        """Subscribe ``callback`` to a channel or pattern; raise :class:`BayeuxError` if refused."""
        client_id = await self._ensure_session()
        if channel not in self._subscribers:
            reply = await self._send({"channel": channels.SUBSCRIBE, "clientId": client_id, "subscription": channel})
            if not reply.get("successful"):
                raise BayeuxError(str(reply.get("error", "")))
            self._subscribers[channel] = []
        self._subscribers[channel].append(callback)

    async def unsubscribe(self, channel: str, callback: Subscriber | None = None) -> None:
        """Remove one callback, or all of them; the channel is unsubscribed when none is left."""
        callbacks = self._subscribers.get(channel)
        if callbacks is None:
            return
        if callback is not None and callback in callbacks:
            callbacks.remove(callback)
        if callback is None or not callbacks:
            del self._subscribers[channel]
            client_id = await self._ensure_session()
            await self._send({"channel": channels.UNSUBSCRIBE, "clientId": client_id, "subscription": channel})

    async def publish(self, channel: str, data: Any, *, ext: Message | None = None) -> Message:
        """Publish ``data``; return the broker's reply, or raise :class:`BayeuxError` if refused."""
        client_id = await self._ensure_session()
        message: Message = {"channel": channel, "data": data, "clientId": client_id}
        if ext is not None:
            message["ext"] = ext
        reply = await self._send(message)
        if not reply.get("successful"):
            raise BayeuxError(str(reply.get("error", "")))
        return reply

    async def disconnect(self) -> None:
        client_id, self._client_id = self._client_id, None
        if client_id is not None:
            await self._send({"channel": channels.DISCONNECT, "clientId": client_id})
        if self._connect_task is not None:
            self._connect_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connect_task
        self._sink.stop()

    async def _dispatch(self, delivery: Delivery) -> None:
        message = delivery.copy_message()
        outgoing = self._broker.outgoing_hooks
        if outgoing:
            changed = await run_pipeline(outgoing, message, self._context)
            if changed is None:
                return
            message = changed
        for key in channels.expand(delivery.channel):
            for callback in tuple(self._subscribers.get(key, ())):
                try:
                    result = callback(message)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    log.exception("server-side subscriber of %s failed", key)
