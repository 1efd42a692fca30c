"""The connection registry: each client's held ``/meta/connect`` and bound push sink (faye ``connection.js``).

A client has at most one :class:`~broker.hold.Hold` (a pending connect) and at most one bound
:class:`~broker.sinks.PushSink` (a WebSocket, an EventSource stream or the in-process client).
The registry is what the engine calls (it implements :class:`broker.engines.base.Recipients`);
it calls the engine only through the :class:`QueueSource` given to its constructor. So calls go
one way on each seam: engine -> registry for "push this", "wake that", "this client is gone";
registry -> queue source for "take", "requeue".

Two ways a message reaches a sink:

- **direct** (the fan-out fast path): the engine offers a delivery to all its recipients
  at once with :meth:`Connections.push_many`; a sink that can write synchronously
  (``send_frame``) writes it at once when the broker is lightly loaded, or keeps it in
  ``pending`` when publishes come faster, and one loop callback per turn then writes every
  such sink's pending messages as one frame. No task is woken per recipient, and a burst
  is coalesced (faye's 0 s delivery timer). A sink whose ``pending`` is not empty is
  either listed for that callback or has its pump woken, which takes ``pending`` too.
- **queued**: the engine queues the message and calls :meth:`Connections.wake`; the sink's
  pump task (created on first need) takes the queue and writes it. Used by engines that
  store queues elsewhere (Redis), by sinks that can only write asynchronously, and while a
  socket is paused by backpressure.

Without a sink, a wake answers the pending long-poll on the next loop turn.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Protocol

from broker.delivery import Delivery
from broker.extensions import Context, Pipeline
from broker.hold import Hold, Release
from broker.sinks import PushSink
from protocol.connection_types import ConnectionType

__all__ = ["ConnectionStatistics", "Connections", "QueueSource"]

log = logging.getLogger(__name__)

_DELIVERY = Release.DELIVERY  # read for every queued recipient: a module constant is cheaper than the enum lookup


class QueueSource(Protocol):
    """Where the registry takes and puts back queued messages: the engine."""

    async def take_queue(self, client_id: str) -> list[Delivery]: ...

    async def take_queues(self, client_ids: list[str]) -> dict[str, list[Delivery]]: ...

    async def requeue(self, client_id: str, deliveries: list[Delivery]) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionStatistics:
    """The connections of this process, now (gauges) and since it started (counters)."""

    sessions: int
    """Clients that have connected through this process since their handshake and still exist."""
    held_connects: int
    """``/meta/connect`` requests held open now (long-polls, and sockets' timers)."""
    streams: dict[ConnectionType, int] = field(default_factory=dict)
    """Bound push sinks now, by transport (WebSocket, EventSource, in-process)."""
    pushed: int = 0
    """Deliveries taken by sinks on the fan-out fast path (counted once per publish)."""
    pumped: int = 0
    """Deliveries written by sinks' pumps (queued messages, a paused socket, extensions)."""


class Connections:
    """The broker's map of client id to its pending connect and bound sink."""

    def __init__(self, *, queues: QueueSource, pipeline: Pipeline, max_pending: int = 10_000) -> None:
        self.holds: dict[str, Hold] = {}
        self.sinks: dict[str, PushSink] = {}
        self.connected: set[str] = set()
        """Clients that have connected at least once since their handshake."""
        self.max_pending = max_pending
        self._queues = queues
        self._pipeline = pipeline
        self._delivering: set[asyncio.Task[None]] = set()
        self._dirty: list[PushSink] = []
        self._turn_scheduled = False
        self._publishes_this_turn = 0
        self._publishes_last_turn = 0
        self._pushed = 0
        self._pumped = 0

    # -- SinkFeed: what bound sinks call ---------------------------------------------------

    @property
    def frames_allowed(self) -> bool:
        return self._pipeline.shared_encoding

    async def take(self, client_id: str) -> list[Delivery]:
        deliveries = await self._queues.take_queue(client_id)
        self._pumped += len(deliveries)
        return deliveries

    async def encode(self, deliveries: list[Delivery], context: Context) -> bytes:
        return await self._pipeline.encode(deliveries, context)

    async def requeue(self, client_id: str, deliveries: list[Delivery]) -> None:
        await self._queues.requeue(client_id, deliveries)

    # -- Recipients: what the engine calls -------------------------------------------------

    def push_many(self, client_ids: Collection[str], delivery: Delivery) -> list[str]:
        """Take ``delivery`` for every client with a directly writable sink (the fan-out hot path).

        Returns the clients it could not take, for the engine to queue. Only for clients whose
        engine queue is empty, so that order is kept.

        Under light load (one publish in this loop turn and the last) the frame is written at
        once; when publishes come faster, they are kept in ``pending`` and each socket gets one
        frame per turn holding all of them (faye's 0 s delivery timer, without its cost).
        """
        if not self._pipeline.shared_encoding:
            return list(client_ids)
        # count this publish in the loop turn (inline: this runs for every publish)
        self._publishes_this_turn += 1
        if not self._turn_scheduled:
            self._turn_scheduled = True
            asyncio.get_running_loop().call_soon(self._end_turn)
        immediate = self._publishes_this_turn == 1 and self._publishes_last_turn <= 1
        frame = delivery.frame if immediate else b""
        sinks_get = self.sinks.get
        dirty = self._dirty
        limit = self.max_pending
        refused: list[str] = []
        for client_id in client_ids:
            sink = sinks_get(client_id)
            if sink is None:
                refused.append(client_id)
                continue
            send_frame = sink.send_frame
            if send_frame is None:
                refused.append(client_id)
                continue
            pending = sink.pending
            if not pending:
                if immediate and not sink.busy:
                    try:
                        if send_frame(frame):
                            continue
                    except Exception:
                        log.exception("direct push to %s failed", client_id)
                dirty.append(sink)
            elif len(pending) >= limit:
                refused.append(client_id)
                continue
            pending.append(delivery)
        self._pushed += len(client_ids) - len(refused)
        return refused

    def _end_turn(self) -> None:
        """After a loop turn with publishes: write each listed sink's pending messages as one frame."""
        self._turn_scheduled = False
        self._publishes_last_turn, self._publishes_this_turn = self._publishes_this_turn, 0
        dirty, self._dirty = self._dirty, []
        for sink in dirty:
            pending = sink.pending
            if not pending or sink.client_id is None:
                continue
            written = False
            if not sink.busy:
                try:
                    written = sink.write_frame(pending)
                except Exception:
                    log.exception("direct push to %s failed", sink.client_id)
            if written:
                pending.clear()
            else:
                sink.wake()  # paused, mid-write or failed: the pump writes them, after what it holds

    def wake(self, client_id: str) -> None:
        sink = self.sinks.get(client_id)
        if sink is not None:
            sink.wake()
            return
        hold = self.holds.get(client_id)
        if hold is not None:
            hold.release_soon(_DELIVERY)

    def wake_many(self, client_ids: list[str]) -> None:
        """One fan-out's wake-up (an engine that queues elsewhere, such as Redis).

        Directly writable sinks that are idle are served together: one batched take, then
        each frame written at once, with no task woken per recipient. They are marked busy
        meanwhile, so a drain asked for in between waits and order is kept. The others are
        woken one by one as usual.
        """
        direct: list[PushSink] = []
        frames = self._pipeline.shared_encoding
        for client_id in client_ids:
            sink = self.sinks.get(client_id)
            if (frames and sink is not None and sink.send_frame is not None
                    and not sink.busy and not sink.pending and not sink.closed):
                sink.busy = True
                direct.append(sink)
            else:
                self.wake(client_id)
        if direct:
            task = asyncio.get_running_loop().create_task(self._deliver_taken(direct))
            self._delivering.add(task)
            task.add_done_callback(self._delivering.discard)

    async def _deliver_taken(self, sinks: list[PushSink]) -> None:
        client_ids = [sink.client_id for sink in sinks]
        try:
            taken = await self._queues.take_queues([client_id for client_id in client_ids if client_id is not None])
        except Exception:
            log.warning("cannot take the queues of %d clients", len(sinks), exc_info=True)
            taken = None
        except BaseException:  # cancelled (shutdown): the messages stay queued; free the sinks
            for sink in sinks:
                sink.done_writing()
            raise
        orphans = self._write_taken(sinks, client_ids, taken)
        for client_id, deliveries in orphans:
            try:
                await self._queues.requeue(client_id, deliveries)
            except Exception:
                log.warning("cannot requeue %d messages of %s", len(deliveries), client_id, exc_info=True)

    def _write_taken(self, sinks: list[PushSink], client_ids: list[str | None],
                     taken: dict[str, list[Delivery]] | None) -> list[tuple[str, list[Delivery]]]:
        """Write what a batched take returned; return what belongs to sinks that went away meanwhile."""
        orphans: list[tuple[str, list[Delivery]]] = []
        for sink, client_id in zip(sinks, client_ids, strict=True):
            sink.done_writing()
            if taken is None:
                sink.wake()  # the pump tries again; the messages are still queued
                continue
            deliveries = taken.get(client_id, []) if client_id is not None else []
            if not deliveries or client_id is None:
                continue
            self._pumped += len(deliveries)
            if sink.client_id != client_id:
                orphans.append((client_id, deliveries))  # the socket went away meanwhile
            elif not sink.write_frame(deliveries):
                sink.pending[:0] = deliveries  # paused: the pump writes them when it can
                sink.wake()
        return orphans

    def resync(self) -> None:
        """Wake every client held here (the engine may have missed wake-ups)."""
        for client_id in list(self.sinks) + list(self.holds):
            self.wake(client_id)

    def client_destroyed(self, client_id: str) -> None:
        """The engine destroyed the client: answer its pending connect, unbind its sink."""
        self.connected.discard(client_id)
        hold = self.holds.pop(client_id, None)
        if hold is not None:
            hold.release(Release.CLIENT_DESTROYED)
        sink = self.sinks.pop(client_id, None)
        if sink is not None:
            sink.detach()

    # -- what the Broker calls ------------------------------------------------------------

    def bind(self, client_id: str, sink: PushSink) -> None:
        """faye ``openSocket``: the sink that sent a connect for the client receives its messages."""
        old = self.sinks.get(client_id)
        if old is sink:
            return
        if old is not None:
            if old.pending:
                sink.pending[:0] = old.pending  # a takeover keeps what the old sink had not written
                sink.wake()
            old.detach()
        if sink.client_id is not None and sink.client_id != client_id:
            self.sinks.pop(sink.client_id, None)
        self.sinks[client_id] = sink
        sink.attach(client_id, self)

    def unbind(self, sink: PushSink) -> None:
        client_id = sink.client_id
        if client_id is not None and self.sinks.get(client_id) is sink:
            del self.sinks[client_id]
            hold = self.holds.get(client_id)
            if hold is not None:
                hold.release(Release.SOCKET_CLOSED)
        sink.stop()

    def start_hold(self, client_id: str, *, supersede: bool) -> Hold:
        old = self.holds.get(client_id)
        if old is not None and supersede:
            old.release(Release.SUPERSEDED)
        hold = Hold()
        self.holds[client_id] = hold
        return hold

    def end_hold(self, client_id: str, hold: Hold) -> None:
        if self.holds.get(client_id) is hold:
            del self.holds[client_id]

    def release_all(self, reason: Release) -> None:
        for hold in list(self.holds.values()):
            hold.release(reason)

    def statistics(self) -> ConnectionStatistics:
        streams = Counter(sink.transport for sink in self.sinks.values())
        return ConnectionStatistics(sessions=len(self.connected), held_connects=len(self.holds),
                                    streams=dict(streams), pushed=self._pushed, pumped=self._pumped)

