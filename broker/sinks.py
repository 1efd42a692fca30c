"""Push sinks: where a client's deliveries are written as they happen (faye ``openSocket``).

A :class:`PushSink` is the transport's end of a connection that can carry messages at any time:
a WebSocket, an EventSource stream, or the server-side client's in-process transport. A
transport subclasses it and implements one method, :meth:`PushSink.write`, which sends a JSON
array of messages to the peer. Sinks that can write a WebSocket frame synchronously also set
``send_frame`` and take part in the fan-out fast path (docs/architecture.md).

The sink is bound to a client by the connection registry (:class:`broker.connections.Connections`),
which hands it a :class:`SinkFeed`: where to take what the engine queued, how to encode it for
this sink's extensions, and where to put back what a failed write did not send. Every sink
implementation passes the contract suite in ``broker.testing.sinks``.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar, Protocol

from broker.delivery import Delivery
from broker.extensions import Context
from broker.frames import text_frame
from protocol.connection_types import ConnectionType
from protocol.messages import join_encoded

__all__ = ["PushSink", "SinkFeed"]

log = logging.getLogger(__name__)


class SinkFeed(Protocol):
    """What a bound sink needs from the registry (implemented by ``Connections``)."""

    @property
    def frames_allowed(self) -> bool:
        """True while one encoding fits every recipient (no outgoing extension is installed)."""

    async def take(self, client_id: str) -> list[Delivery]:
        """Remove and return what the engine queued for the client, oldest first."""

    async def encode(self, deliveries: list[Delivery], context: Context) -> bytes:
        """The JSON array of these deliveries as this sink's peer should see them."""

    async def requeue(self, client_id: str, deliveries: list[Delivery]) -> None:
        """Put back what a failed write did not send, at the head of the client's queue."""


class PushSink(ABC):
    """A connection that receives a client's deliveries as they happen.

    ``transport`` names the connection type; ``replies_later`` is True when a held connect's
    reply can be written later through :meth:`write` (WebSocket, in-process), so that no
    coroutine stays suspended for it. ``context`` is what outgoing extensions see.
    """

    transport: ClassVar[ConnectionType]
    replies_later: ClassVar[bool] = False

    # slots: the fan-out loop reads a few attributes of every recipient's sink per publish
    __slots__ = ("_feed", "_idle", "_task", "_wakeup", "busy", "client_id", "closed", "context", "pending",
                 "send_frame")

    def __init__(self, context: Context) -> None:
        self.context = context
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._feed: SinkFeed | None = None
        self._idle: asyncio.Future[None] | None = None
        """Set while a drain is in flight and another waits for it to end."""
        self.client_id: str | None = None
        self.pending: list[Delivery] = []
        self.busy = False
        self.closed = False
        self.send_frame: Callable[[bytes], bool] | None = None
        """Write a WebSocket frame (:func:`broker.frames.text_frame`) now, or return False when
        the socket cannot take it now (paused, closing). Only sinks that can write synchronously
        have it: they take part in the fan-out fast path."""

    # -- what a transport implements ----------------------------------------------------

    @abstractmethod
    async def write(self, payload: bytes) -> None:
        """Send ``payload``, a JSON array of messages, to the peer; raise if the peer is gone."""

    def write_failed(self) -> None:
        """Called once a write raised (its deliveries were requeued); the sink is closed."""

    # -- binding (the registry calls these) ---------------------------------------------

    def attach(self, client_id: str, feed: SinkFeed) -> None:
        self.client_id = client_id
        self._feed = feed

    def detach(self) -> None:
        """The client is gone or moved to another sink: stop writing for it."""
        self.client_id = None
        self.pending = []

    def stop(self) -> None:
        """The connection closed: never write again."""
        self.closed = True
        self.client_id = None
        self.pending = []
        if self._task is not None:
            self._task.cancel()

    # -- writing --------------------------------------------------------------------------

    def wake(self) -> None:
        """Something is queued in the engine (or pending could not be written): run the pump."""
        if self.closed:
            return
        if self._wakeup is None:
            self._wakeup = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._pump())
        self._wakeup.set()

    async def _pump(self) -> None:
        assert self._wakeup is not None
        while not self.closed:
            await self._wakeup.wait()
            self._wakeup.clear()
            await self.drain()

    async def drain(self) -> None:
        """Write what is pending and what the engine has queued, in that order.

        Drains run one at a time (the pump, a new connect on this socket and a reply's flush
        may all ask): a second one waits for the first, so two writes can never overtake
        each other.
        """
        while self.busy:
            if self._idle is None:
                self._idle = asyncio.get_running_loop().create_future()
            await asyncio.shield(self._idle)
        client_id, feed = self.client_id, self._feed
        if client_id is None or feed is None or self.closed:
            return  # a closed sink takes nothing: the messages stay queued for the client's next connection
        self.busy = True
        try:
            try:
                queued = await feed.take(client_id)
            except Exception:
                # the engine is unreachable: the messages stay queued, and the engine wakes us again
                log.warning("cannot take the queue of %s", client_id, exc_info=True)
                queued = []
            deliveries, self.pending = self.pending + queued, []
            if deliveries:
                await self._send(client_id, feed, deliveries)
        finally:
            self.done_writing()

    async def _send(self, client_id: str, feed: SinkFeed, deliveries: list[Delivery]) -> None:
        try:
            if feed.frames_allowed and self.write_frame(deliveries):
                return
            payload = await feed.encode(deliveries, self.context)
            if payload != b"[]":
                await self.write(payload)
        except Exception:
            log.debug("push to %s failed; its messages are requeued", client_id, exc_info=True)
            self.closed = True
            try:
                await feed.requeue(client_id, deliveries)
            except Exception:
                log.warning("cannot requeue %d messages of %s", len(deliveries), client_id, exc_info=True)
            self.write_failed()

    def done_writing(self) -> None:
        """End a write that held ``busy``, and let a drain waiting for it go on."""
        self.busy = False
        idle, self._idle = self._idle, None
        if idle is not None and not idle.done():
            idle.set_result(None)

    def write_frame(self, deliveries: list[Delivery]) -> bool:
        """Write deliveries as one frame now, if this sink can (``send_frame``)."""
        send_frame = self.send_frame
        if send_frame is None or self.closed:
            return False
        if len(deliveries) == 1:
            return send_frame(deliveries[0].frame)
        return send_frame(text_frame(join_encoded([delivery.encoded for delivery in deliveries])))

    async def flush(self) -> None:
        """Write what is waiting now, so that a reply sent next follows it (faye §4.5 order)."""
        if self.pending or (self._wakeup is not None and self._wakeup.is_set()):
            if self._wakeup is not None:
                self._wakeup.clear()
            await self.drain()
