"""Per-client connections: held ``/meta/connect`` requests and push sinks (faye ``connection.js``).

A client has at most one :class:`Hold` (a pending connect) and at most one bound
:class:`PushSink` (a WebSocket, an EventSource stream or the in-process client).

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
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable

from broker.delivery import Delivery
from broker.frames import text_frame
from protocol.messages import join_encoded

__all__ = ["Connections", "Hold", "PushSink"]

log = logging.getLogger(__name__)

TakeQueue = Callable[[str], Awaitable[list[Delivery]]]
TakeQueues = Callable[[list[str]], Awaitable[dict[str, list[Delivery]]]]


class Hold:
    """One pending ``/meta/connect``; released by a delivery, a timeout, a supersede or a close.

    Either awaited (:meth:`wait`, for HTTP responses) or given a callback
    (:meth:`on_release`, for sockets, so that no coroutine stays suspended while it is held).
    """

    __slots__ = ("_callback", "_future", "_timer", "reason")

    def __init__(self) -> None:
        self._future: asyncio.Future[None] | None = None
        self._callback: Callable[[str], None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.reason = ""

    def release(self, reason: str) -> None:
        if not self.reason:
            self.reason = reason
        if self._future is not None and not self._future.done():
            self._future.set_result(None)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        callback, self._callback = self._callback, None
        if callback is not None:
            callback(self.reason)

    def on_release(self, seconds: float, callback: Callable[[str], None]) -> None:
        """Call ``callback(reason)`` once, when released or after ``seconds``."""
        self._callback = callback
        if self.reason:
            self.release(self.reason)
        else:
            self._timer = asyncio.get_running_loop().call_later(seconds, self.release, "timeout")

    async def wait(self, seconds: float) -> str:
        """Wait until released or ``seconds`` pass; return why it ended."""
        if self.reason:
            return self.reason
        loop = asyncio.get_running_loop()
        self._future = loop.create_future()
        timer = loop.call_later(seconds, self.release, "timeout")
        try:
            await self._future
        finally:
            timer.cancel()
            self._future = None
        return self.reason


class PushSink(ABC):
    """A transport that receives deliveries as they happen (WebSocket, EventSource, local)."""

    replies_later = False
    """True when a held connect's reply can be sent later with :meth:`send_replies`."""

    async def send_replies(self, payload: bytes) -> None:
        """Send an encoded reply batch (only for sinks with ``replies_later``)."""
        raise NotImplementedError

    # slots: the fan-out loop reads a few attributes of every recipient's sink per publish
    __slots__ = ("_idle", "_take", "_task", "_wakeup", "busy", "client_id", "closed", "pending", "send_frame")

    def __init__(self) -> None:
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._take: TakeQueue | None = None
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

    def attach(self, client_id: str, take: TakeQueue) -> None:
        self.client_id = client_id
        self._take = take

    def detach(self) -> None:
        self.client_id = None
        self.pending = []

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
        client_id, take = self.client_id, self._take
        if client_id is None or take is None:
            return
        self.busy = True
        try:
            try:
                queued = await take(client_id)
            except Exception:
                # the engine is unreachable: the messages stay queued, and the engine wakes us again
                log.warning("cannot take the queue of %s", client_id, exc_info=True)
                queued = []
            deliveries, self.pending = self.pending + queued, []
            if not deliveries:
                return
            try:
                await self.write(deliveries)
            except Exception:
                log.debug("push to %s failed; its messages are requeued", client_id, exc_info=True)
                self.closed = True
                await self.on_write_failed(client_id, deliveries)
        finally:
            self.done_writing()

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

    def stop(self) -> None:
        self.closed = True
        self.client_id = None
        self.pending = []
        if self._task is not None:
            self._task.cancel()

    @abstractmethod
    async def write(self, deliveries: list[Delivery]) -> None:
        """Send these deliveries to the peer; raise if the peer is gone."""

    async def on_write_failed(self, client_id: str, deliveries: list[Delivery]) -> None:
        """Called with the deliveries a failed write did not send."""


class Connections:
    """The broker's map of client id to its pending connect and bound sink."""

    def __init__(self, *, max_pending: int = 10_000) -> None:
        self.holds: dict[str, Hold] = {}
        self.sinks: dict[str, PushSink] = {}
        self.connected: set[str] = set()
        """Clients that have connected at least once since their handshake."""
        self.max_pending = max_pending
        self.direct_enabled = True
        """False while outgoing extensions are installed: each recipient then gets its own copy."""
        self.take_queues: TakeQueues | None = None
        """The engine's batched take, for :meth:`wake_many`; set by the broker."""
        self.requeue: Callable[[str, list[Delivery]], Awaitable[None]] | None = None
        """The engine's requeue, for what :meth:`wake_many` took but could not write."""
        self._delivering: set[asyncio.Task[None]] = set()
        self._dirty: list[PushSink] = []
        self._turn_scheduled = False
        self._publishes_this_turn = 0
        self._publishes_last_turn = 0

    def push_many(self, client_ids: Iterable[str], delivery: Delivery) -> list[str]:
        """Take ``delivery`` for every client with a directly writable sink (the fan-out hot path).

        Returns the clients it could not take, for the engine to queue. Only for clients whose
        engine queue is empty, so that order is kept.

        Under light load (one publish in this loop turn and the last) the frame is written at
        once; when publishes come faster, they are kept in ``pending`` and each socket gets one
        frame per turn holding all of them (faye's 0 s delivery timer, without its cost).
        """
        if not self.direct_enabled:
            return list(client_ids)
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
        if hold is not None and not hold.reason:
            hold.reason = "delivery"
            asyncio.get_running_loop().call_soon(hold.release, "delivery")

    def wake_many(self, client_ids: list[str]) -> None:
        """One fan-out's wake-up (an engine that queues elsewhere, such as Redis).

        Directly writable sinks that are idle are served together: one batched take, then
        each frame written at once, with no task woken per recipient. They are marked busy
        meanwhile, so a drain asked for in between waits and order is kept. The others are
        woken one by one as usual.
        """
        take_queues = self.take_queues
        direct: list[PushSink] = []
        for client_id in client_ids:
            sink = self.sinks.get(client_id)
            if (take_queues is not None and sink is not None and sink.send_frame is not None
                    and self.direct_enabled and not sink.busy and not sink.pending and not sink.closed):
                sink.busy = True
                direct.append(sink)
            else:
                self.wake(client_id)
        if direct and take_queues is not None:
            task = asyncio.get_running_loop().create_task(self._deliver_taken(direct, take_queues))
            self._delivering.add(task)
            task.add_done_callback(self._delivering.discard)

    async def _deliver_taken(self, sinks: list[PushSink], take_queues: TakeQueues) -> None:
        client_ids = [sink.client_id for sink in sinks]
        try:
            taken = await take_queues([client_id for client_id in client_ids if client_id is not None])
        except Exception:
            log.warning("cannot take the queues of %d clients", len(sinks), exc_info=True)
            taken = None
        except BaseException:  # cancelled (shutdown): the messages stay queued; free the sinks
            for sink in sinks:
                sink.done_writing()
            raise
        orphans: list[tuple[str, list[Delivery]]] = []
        for sink, client_id in zip(sinks, client_ids, strict=True):
            deliveries = taken.get(client_id, []) if taken is not None and client_id is not None else []
            sink.done_writing()
            if taken is None:
                sink.wake()  # the pump tries again; the messages are still queued
            elif not deliveries or client_id is None:
                continue
            elif sink.client_id != client_id:
                orphans.append((client_id, deliveries))  # the socket went away meanwhile
            elif not sink.write_frame(deliveries):
                sink.pending[:0] = deliveries  # paused: the pump writes them when it can
                sink.wake()
        for client_id, deliveries in orphans:
            if self.requeue is not None:
                try:
                    await self.requeue(client_id, deliveries)
                except Exception:
                    log.warning("cannot requeue %d messages of %s", len(deliveries), client_id, exc_info=True)

    def wake_all(self) -> None:
        """Wake every client held here (the engine may have missed wake-ups)."""
        for client_id in list(self.sinks) + list(self.holds):
            self.wake(client_id)

    def closed(self, client_id: str) -> None:
        """The engine destroyed the client: answer its pending connect, unbind its sink."""
        self.connected.discard(client_id)
        hold = self.holds.pop(client_id, None)
        if hold is not None:
            hold.release("closed")
        sink = self.sinks.pop(client_id, None)
        if sink is not None:
            sink.detach()

    def bind(self, client_id: str, sink: PushSink, take: TakeQueue) -> None:
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
        sink.attach(client_id, take)

    def unbind(self, sink: PushSink) -> None:
        client_id = sink.client_id
        if client_id is not None and self.sinks.get(client_id) is sink:
            del self.sinks[client_id]
            hold = self.holds.get(client_id)
            if hold is not None:
                hold.release("socket-closed")
        sink.stop()

    def start_hold(self, client_id: str, *, supersede: bool) -> Hold:
        old = self.holds.get(client_id)
        if old is not None and supersede:
            old.release("superseded")
        hold = Hold()
        self.holds[client_id] = hold
        return hold

    def end_hold(self, client_id: str, hold: Hold) -> None:
        if self.holds.get(client_id) is hold:
            del self.holds[client_id]

    def release_all(self, reason: str) -> None:
        for hold in list(self.holds.values()):
            hold.release(reason)
