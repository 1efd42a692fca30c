"""The engine under test, built per kind, bound to a recorder of everything the engine reports.

Every engine runs the same contract suite (docs/architecture.md, "Seams").
To add an engine, add its kind to ``ENGINE_KINDS`` and a branch to :func:`make_engine`;
the tests themselves do not change.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass, field

import pytest

from broker.delivery import Delivery
from broker.engines.base import Engine
from broker.engines.memory import MemoryEngine
from broker.engines.redis import RedisEngine
from broker.events import MonitorEvent

ENGINE_KINDS = ["memory", "redis"]

CLIENT_TTL = 0.3
"""Seconds a client lives without a ping; small so that reaping tests stay fast."""

MAX_QUEUE = 5
"""Messages a client may have queued; one more disconnects it."""


def make_engine(kind: str, *, redis_url: str = "") -> Engine:
    """A fresh, unbound engine of the given kind (Redis: in a namespace of its own)."""
    if kind == "memory":
        return MemoryEngine()
    if kind == "redis":
        return RedisEngine(redis_url, namespace=f"test-{uuid.uuid4().hex[:12]}")
    raise ValueError(f"unknown engine kind: {kind!r}")


Entry = tuple[object, ...]


@dataclass
class Recorder:
    """The engine's :class:`~broker.engines.base.Recipients` and event sink: records everything the
    engine reports, in the order it happened.

    Each log entry is ``("emit", name, *args)``, ``("wake", client_id)``, ``("closed", client_id)``,
    ``("pushed", client_id, data)`` or ``("resync",)``; ``times`` holds the loop time of each entry.
    With ``accept_pushes`` off (the default) ``push_many`` refuses every client, as a broker does
    for clients without a writable socket, so everything is queued; with it on, it takes every
    offered delivery, as a broker does for idle WebSockets (the fan-out fast path).
    """

    log: list[Entry] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    accept_pushes: bool = False

    def _record(self, entry: Entry) -> None:
        self.log.append(entry)
        self.times.append(asyncio.get_running_loop().time())

    def push_many(self, client_ids: Collection[str], delivery: Delivery) -> list[str]:
        if not self.accept_pushes:
            return list(client_ids)
        for client_id in client_ids:
            self._record(("pushed", client_id, delivery.message.get("data")))
        return []

    def wake(self, client_id: str) -> None:
        self._record(("wake", client_id))

    def wake_many(self, client_ids: list[str]) -> None:
        for client_id in client_ids:
            self._record(("wake", client_id))

    def client_destroyed(self, client_id: str) -> None:
        self._record(("closed", client_id))

    def resync(self) -> None:
        self._record(("resync",))

    def emit(self, event: MonitorEvent, *args: object) -> None:
        self._record(("emit", str(event), *args))

    def pushed(self, mark: int = 0) -> list[tuple[object, object]]:
        return [(entry[1], entry[2]) for entry in self.log[mark:] if entry[0] == "pushed"]

    def mark(self) -> int:
        """A position in the log; pass it to the queries below to see only what came after."""
        return len(self.log)

    def since(self, mark: int = 0) -> list[Entry]:
        return self.log[mark:]

    def events(self, mark: int = 0) -> list[Entry]:
        """Monitoring events as ``(name, *args)``."""
        return [entry[1:] for entry in self.log[mark:] if entry[0] == "emit"]

    def woken(self, mark: int = 0) -> list[object]:
        return [entry[1] for entry in self.log[mark:] if entry[0] == "wake"]

    def closed(self, mark: int = 0) -> list[object]:
        return [entry[1] for entry in self.log[mark:] if entry[0] == "closed"]

    def time_of(self, entry: Entry) -> float:
        return self.times[self.log.index(entry)]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture(params=ENGINE_KINDS)
async def engine(request: pytest.FixtureRequest, recorder: Recorder) -> AsyncIterator[Engine]:
    """A started engine bound to ``recorder``, closed after the test."""
    redis_url = request.getfixturevalue("redis_server").url if request.param == "redis" else ""
    engine = make_engine(request.param, redis_url=redis_url)
    engine.bind(recorder, events=recorder, client_ttl=CLIENT_TTL, max_queue=MAX_QUEUE)
    await engine.start()
    try:
        yield engine
    finally:
        await engine.close()
