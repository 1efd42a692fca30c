"""The in-memory engine: one process, plain dicts and sets (faye ``src/engines/memory.js``).

Routing is by expansion: a publish looks up each key of ``protocol.expand(channel)``
instead of scanning subscriptions. Each client has a FIFO queue bounded by ``max_queue``;
a client whose queue overflows is destroyed (it re-handshakes, so the loss is visible).
Clients that do not ping for ``client_ttl`` seconds are reaped by a per-client timer.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from broker.delivery import Delivery
from broker.engines.base import Engine

__all__ = ["MemoryEngine"]

log = logging.getLogger(__name__)


class MemoryEngine(Engine):
    def __init__(self) -> None:
        self._clients: dict[str, set[str]] = {}
        self._subscribers: dict[str, set[str]] = {}
        self._queues: dict[str, deque[Delivery]] = {}
        self._reapers: dict[str, asyncio.TimerHandle] = {}
        self._overflowed: set[str] = set()
        self._stats = {"published": 0, "queued": 0, "reaped": 0, "overflowed": 0}

    async def close(self) -> None:
        for handle in self._reapers.values():
            handle.cancel()
        self._reapers.clear()

    async def create_client(self, client_id: str) -> None:
        self._clients[client_id] = set()
        self._queues[client_id] = deque()
        self._arm_reaper(client_id)
        self.hooks.emit("handshake", client_id)

    async def client_exists(self, client_id: str) -> bool:
        return client_id in self._clients

    async def ping(self, client_id: str) -> None:
        if client_id in self._clients:
            self._arm_reaper(client_id)

    def _arm_reaper(self, client_id: str) -> None:
        old = self._reapers.get(client_id)
        if old is not None:
            old.cancel()
        loop = asyncio.get_running_loop()
        self._reapers[client_id] = loop.call_later(self.client_ttl, self._reap, client_id)

    def _reap(self, client_id: str) -> None:
        self._reapers.pop(client_id, None)
        self._stats["reaped"] += 1
        self._destroy(client_id)

    async def destroy_client(self, client_id: str) -> None:
        self._destroy(client_id)

    def _destroy(self, client_id: str) -> None:
        channels = self._clients.pop(client_id, None)
        if channels is None:
            return
        handle = self._reapers.pop(client_id, None)
        if handle is not None:
            handle.cancel()
        for channel in channels:
            self._remove_subscriber(channel, client_id)
            self.hooks.emit("unsubscribe", client_id, channel)
        self._queues.pop(client_id, None)
        self.hooks.emit("disconnect", client_id)
        self.hooks.closed(client_id)

    async def subscribe(self, client_id: str, channel: str) -> bool:
        channels = self._clients.get(client_id)
        if channels is None or channel in channels:
            return False
        channels.add(channel)
        self._subscribers.setdefault(channel, set()).add(client_id)
        self.hooks.emit("subscribe", client_id, channel)
        return True

    async def unsubscribe(self, client_id: str, channel: str) -> bool:
        channels = self._clients.get(client_id)
        if channels is None or channel not in channels:
            return False
        channels.discard(channel)
        self._remove_subscriber(channel, client_id)
        self.hooks.emit("unsubscribe", client_id, channel)
        return True

    def _remove_subscriber(self, channel: str, client_id: str) -> None:
        members = self._subscribers.get(channel)
        if members is not None:
            members.discard(client_id)
            if not members:
                del self._subscribers[channel]

    async def subscription_count(self, client_id: str) -> int:
        return len(self._clients.get(client_id, ()))

    async def publish(self, delivery: Delivery, keys: tuple[str, ...], publisher: object) -> int:
        recipients: set[str] | None = None
        single = True
        for key in keys:
            members = self._subscribers.get(key)
            if members:
                if recipients is None:
                    recipients = members
                else:
                    if single:
                        recipients = set(recipients)
                        single = False
                    recipients |= members
        self._stats["published"] += 1
        self.hooks.emit("publish", publisher, delivery.channel, delivery.message.get("data"))
        if not recipients:
            return 0
        queues = self._queues
        push = self.hooks.push
        wake = self.hooks.wake
        limit = self.max_queue
        delivered = 0
        for client_id in tuple(recipients):
            queue = queues[client_id]
            if not queue and push(client_id, delivery):
                delivered += 1
                continue
            if len(queue) >= limit:
                self._overflow(client_id)
                continue
            queue.append(delivery)
            wake(client_id)
            delivered += 1
        self._stats["queued"] += delivered
        return delivered

    def _overflow(self, client_id: str) -> None:
        if client_id in self._overflowed:
            return
        self._overflowed.add(client_id)
        self._stats["overflowed"] += 1
        log.warning("client %s exceeded max_queue=%d and is disconnected", client_id, self.max_queue)
        asyncio.get_running_loop().call_soon(self._finish_overflow, client_id)

    def _finish_overflow(self, client_id: str) -> None:
        self._overflowed.discard(client_id)
        self._destroy(client_id)

    async def take_queue(self, client_id: str) -> list[Delivery]:
        queue = self._queues.get(client_id)
        if not queue:
            return []
        items = list(queue)
        queue.clear()
        return items

    async def requeue(self, client_id: str, deliveries: list[Delivery]) -> None:
        queue = self._queues.get(client_id)
        if queue is not None:
            queue.extendleft(reversed(deliveries))

    def statistics(self) -> dict[str, int]:
        return {
            "clients": len(self._clients),
            "channels": len(self._subscribers),
            "queued_now": sum(len(q) for q in self._queues.values()),
            **self._stats,
        }
