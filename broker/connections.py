"""Per-client connections: held ``/meta/connect`` requests and push sinks (faye ``connection.js``).

A client has at most one :class:`Hold` (a pending connect) and at most one bound
:class:`PushSink` (a WebSocket, an EventSource stream or the in-process client). When the
engine queues a message for the client it calls :meth:`Connections.wake`: a bound sink
drains the queue at once; otherwise a pending long-poll is answered on the next loop turn
so that a burst is coalesced (faye's 0 s delivery timer).
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable

from broker.delivery import Delivery

__all__ = ["Connections", "Hold", "PushSink"]

log = logging.getLogger(__name__)

TakeQueue = Callable[[str], Awaitable[list[Delivery]]]


class Hold:
    """One pending ``/meta/connect``; released by a delivery, a timeout or a supersede."""

    __slots__ = ("event", "reason")

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.reason = ""

    def release(self, reason: str) -> None:
        if not self.reason:
            self.reason = reason
        self.event.set()

    async def wait(self, seconds: float) -> str:
        if not self.event.is_set():
            try:
                await asyncio.wait_for(self.event.wait(), seconds)
            except TimeoutError:
                self.release("timeout")
        return self.reason


class PushSink(ABC):
    """A transport that receives deliveries as they happen (WebSocket, EventSource, local).

    One writer task per sink drains the client's queue whenever it is woken, so messages
    published in the same loop turn go out together, and no task is created per delivery.
    """

    def __init__(self) -> None:
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.client_id: str | None = None
        self._take: TakeQueue | None = None
        self.closed = False

    def attach(self, client_id: str, take: TakeQueue) -> None:
        self.client_id = client_id
        self._take = take
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._pump())
        self._wakeup.set()

    def detach(self) -> None:
        self.client_id = None

    def wake(self) -> None:
        self._wakeup.set()

    async def _pump(self) -> None:
        while not self.closed:
            await self._wakeup.wait()
            self._wakeup.clear()
            await self._drain()

    async def _drain(self) -> None:
        client_id, take = self.client_id, self._take
        if client_id is None or take is None:
            return
        try:
            deliveries = await take(client_id)
        except Exception:
            # the engine is unreachable: the messages stay queued, and the engine wakes us again
            log.warning("cannot take the queue of %s", client_id, exc_info=True)
            return
        if not deliveries:
            return
        try:
            await self.write(deliveries)
        except Exception:
            log.debug("push to %s failed; its messages are requeued", client_id, exc_info=True)
            self.closed = True
            await self.on_write_failed(client_id, deliveries)

    async def flush(self) -> None:
        """Write what is queued now, so that a reply sent next follows it (faye §4.5 order)."""
        if self._wakeup.is_set() and not self.closed:
            self._wakeup.clear()
            await self._drain()

    def stop(self) -> None:
        self.closed = True
        self.client_id = None
        if self._task is not None:
            self._task.cancel()

    @abstractmethod
    async def write(self, deliveries: list[Delivery]) -> None:
        """Send these deliveries to the peer; raise if the peer is gone."""

    async def on_write_failed(self, client_id: str, deliveries: list[Delivery]) -> None:
        """Called with the deliveries a failed write did not send."""


class Connections:
    """The broker's map of client id to its pending connect and bound sink."""

    def __init__(self) -> None:
        self.holds: dict[str, Hold] = {}
        self.sinks: dict[str, PushSink] = {}
        self.connected: set[str] = set()
        """Clients that have connected at least once since their handshake."""

    def wake(self, client_id: str) -> None:
        sink = self.sinks.get(client_id)
        if sink is not None:
            sink.wake()
            return
        hold = self.holds.get(client_id)
        if hold is not None and not hold.reason:
            hold.reason = "delivery"
            asyncio.get_running_loop().call_soon(hold.event.set)

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
