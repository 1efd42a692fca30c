"""Subscriptions: what ``Client.subscribe`` returns, and the delivered :class:`Message`.

A :class:`Subscription` is awaitable (``await`` waits for the server's acknowledgement and returns
the subscription, or raises :class:`~clients.errors.SubscribeError`) and async-iterable
(``async for message in subscription``). With a callback, every message is passed to it instead,
in order; a coroutine callback is awaited before the next message is handed over.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from clients.errors import ClientClosed, ClientError

if TYPE_CHECKING:
    from clients.client import Client

__all__ = ["Callback", "Message", "Subscription"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Message:
    """A delivered message: its ``channel``, ``data``, ``ext`` if any, and the ``subscription``
    (channel or pattern) it arrived through. ``raw`` is the whole message as received."""

    channel: str
    data: Any
    subscription: str
    ext: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


Callback = Callable[[Message], object | Awaitable[object]]


class Subscription:
    """One ``subscribe`` call. Delivered messages wait in a bounded queue (``max_pending``); when it
    is full the oldest is dropped and counted in :attr:`dropped`, so a slow reader cannot make the
    client grow without bound."""

    def __init__(self, client: Client, channel: str, callback: Callback | None, *, max_pending: int) -> None:
        self.client = client
        self.channel = channel
        self.callback = callback
        self.dropped = 0
        self.acknowledged: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue: collections.deque[Message] = collections.deque()
        self._max_pending = max_pending
        self._ready = asyncio.Event()
        self._closed = False
        self._consumer: asyncio.Task[None] | None = None
        if callback is not None:
            self._consumer = asyncio.ensure_future(self._consume(callback))

    @property
    def closed(self) -> bool:
        return self._closed

    def __await__(self) -> Generator[Any, None, Subscription]:
        return self._wait_acknowledged().__await__()

    async def _wait_acknowledged(self) -> Subscription:
        await asyncio.shield(self.acknowledged)
        return self

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Message:
        if not self.acknowledged.done() or self.acknowledged.exception() is not None:
            await self._wait_acknowledged()
        while not self._queue:
            if self._closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        return self._queue.popleft()

    async def unsubscribe(self) -> None:
        """Stop this subscription; the channel is unsubscribed when no other subscription wants it."""
        await self.client.unsubscribe(self)

    def _push(self, message: Message) -> None:
        if self._closed:
            return
        if len(self._queue) >= self._max_pending:
            self._queue.popleft()
            self.dropped += 1
        self._queue.append(message)
        self._ready.set()

    def _close(self, error: BaseException | None = None) -> None:
        """End the iteration once the queue is drained; settle the acknowledgement if pending."""
        self._closed = True
        self._ready.set()
        if not self.acknowledged.done():
            self.acknowledged.set_exception(error or ClientClosed("the subscription was closed"))
            self.acknowledged.exception()  # retrieved: nobody may be awaiting it
        if self._consumer is not None and error is not None:
            self._consumer.cancel()

    async def _consume(self, callback: Callback) -> None:
        try:
            async for message in self:
                try:
                    result = callback(message)
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    log.exception("subscriber callback for %s failed", self.channel)
        except ClientError:  # closed, or refused: whoever awaits the subscription sees the error
            pass

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<Subscription {self.channel} {state}>"
