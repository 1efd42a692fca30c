"""The in-memory engine: one process, plain dicts and sets (faye ``src/engines/memory.js``).

Routing is by expansion: a publish looks up each key of ``protocol.expand(channel)``
instead of scanning subscriptions. A delivery goes straight to a client's socket when the
broker can write it now (``recipients.push_many``) and its queue is empty; otherwise it is queued.
Queues are created on first use and bounded by ``max_queue``: a client whose queue
overflows is destroyed (it re-handshakes, so the loss is visible). Clients that do not ping
for ``client_ttl`` seconds are reaped by one periodic sweep (faye arms a timer per client).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections import deque
from collections.abc import Collection

from broker.delivery import Delivery
from broker.engines.base import Engine, EngineCounters, EngineStatistics
from broker.events import MonitorEvent

__all__ = ["MemoryEngine"]

log = logging.getLogger(__name__)
_PUBLISH = MonitorEvent.PUBLISH  # emitted per publish: a module constant is cheaper than the enum lookup


class MemoryEngine(Engine):
    def __init__(self) -> None:
        self._clients: dict[str, set[str]] = {}
        self._subscribers: dict[str, set[str]] = {}
        self._queues: dict[str, deque[Delivery]] = {}
        self._last_ping: dict[str, float] = {}
        self._overflowed: set[str] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._count = EngineCounters()

    async def start(self) -> None:
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
            self._sweeper = None

    # -- clients -----------------------------------------------------------------------

    async def create_client(self, client_id: str) -> None:
        self._clients[client_id] = set()
        self._last_ping[client_id] = asyncio.get_running_loop().time()
        self._count.created += 1
        self.events.emit(MonitorEvent.HANDSHAKE, client_id)

    async def client_exists(self, client_id: str) -> bool:
        return client_id in self._clients

    async def ping(self, client_id: str) -> None:
        if client_id in self._clients:
            self._last_ping[client_id] = asyncio.get_running_loop().time()

    async def _sweep(self) -> None:
        """Reap clients silent for ``client_ttl`` (faye: 2 x timeout after the last ping)."""
        loop = asyncio.get_running_loop()
        while True:
            ttl = self.client_ttl
            await asyncio.sleep(max(0.02, min(ttl / 8, 2.0)))
            deadline = loop.time() - ttl
            for client_id in [c for c, seen in self._last_ping.items() if seen <= deadline]:
                self._count.reaped += 1
                self._destroy(client_id)

    async def destroy_client(self, client_id: str) -> None:
        self._destroy(client_id)

    def _destroy(self, client_id: str) -> None:
        channels = self._clients.pop(client_id, None)
        if channels is None:
            return
        self._last_ping.pop(client_id, None)
        self._count.destroyed += 1
        self._count.unsubscribed += len(channels)
        for channel in channels:
            self._remove_subscriber(channel, client_id)
            self.events.emit(MonitorEvent.UNSUBSCRIBE, client_id, channel)
        self._queues.pop(client_id, None)
        self.events.emit(MonitorEvent.DISCONNECT, client_id)
        self.recipients.client_destroyed(client_id)

    # -- subscriptions -----------------------------------------------------------------

    async def subscribe(self, client_id: str, channel: str) -> bool:
        channels = self._clients.get(client_id)
        if channels is None or channel in channels:
            return False
        channels.add(channel)
        self._subscribers.setdefault(channel, set()).add(client_id)
        self._count.subscribed += 1
        self.events.emit(MonitorEvent.SUBSCRIBE, client_id, channel)
        return True

    async def unsubscribe(self, client_id: str, channel: str) -> bool:
        channels = self._clients.get(client_id)
        if channels is None or channel not in channels:
            return False
        channels.discard(channel)
        self._remove_subscriber(channel, client_id)
        self._count.unsubscribed += 1
        self.events.emit(MonitorEvent.UNSUBSCRIBE, client_id, channel)
        return True

    def _remove_subscriber(self, channel: str, client_id: str) -> None:
        members = self._subscribers.get(channel)
        if members is not None:
            members.discard(client_id)
            if not members:
                del self._subscribers[channel]

    async def subscription_count(self, client_id: str) -> int:
        return len(self._clients.get(client_id, ()))

    # -- messages ----------------------------------------------------------------------

    def _recipients(self, keys: tuple[str, ...]) -> set[str] | None:
        """The union of the subscribers of ``keys``, without copying when only one key has any."""
        recipients: set[str] | None = None
        shared = True
        for key in keys:
            members = self._subscribers.get(key)
            if members:
                if recipients is None:
                    recipients = members
                else:
                    if shared:
                        recipients = set(recipients)
                        shared = False
                    recipients |= members
        return recipients

    async def publish(self, delivery: Delivery, keys: tuple[str, ...], publisher: object) -> int:
        recipients = self._recipients(keys)
        self._count.published += 1
        self.events.emit(_PUBLISH, publisher, delivery.channel, delivery.message.get("data"))
        if not recipients:
            return 0
        queues = self._queues
        if queues:  # clients with queued messages get this one queued too, after them
            direct: Collection[str] = [c for c in recipients if not queues.get(c)]
            waiting = [c for c in recipients if queues.get(c)]
        else:
            direct, waiting = recipients, []
        refused = self.recipients.push_many(direct, delivery)
        pushed = len(recipients) - len(refused) - len(waiting)
        queued = 0
        wake = self.recipients.wake
        limit = self.max_queue
        for client_id in itertools.chain(waiting, refused):
            queue = queues.get(client_id)
            if queue is None:
                queue = queues[client_id] = deque()
            if len(queue) >= limit:
                self._overflow(client_id)
                continue
            queue.append(delivery)
            wake(client_id)
            queued += 1
        self._count.deliveries += pushed + queued
        self._count.queued += queued
        return pushed + queued

    def _overflow(self, client_id: str) -> None:
        if client_id in self._overflowed:
            return
        self._overflowed.add(client_id)
        self._count.overflows += 1
        log.warning("client %s exceeded max_queue=%d and is disconnected", client_id, self.max_queue)
        asyncio.get_running_loop().call_soon(self._finish_overflow, client_id)

    def _finish_overflow(self, client_id: str) -> None:
        self._overflowed.discard(client_id)
        self._destroy(client_id)

    async def take_queue(self, client_id: str) -> list[Delivery]:
        queue = self._queues.pop(client_id, None)
        return list(queue) if queue else []

    async def requeue(self, client_id: str, deliveries: list[Delivery]) -> None:
        if client_id not in self._clients or not deliveries:
            return
        queue = self._queues.get(client_id)
        if queue is None:
            queue = self._queues[client_id] = deque()
        queue.extendleft(reversed(deliveries))

    def statistics(self) -> EngineStatistics:
        return self._count.statistics(errors=0)
