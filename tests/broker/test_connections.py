"""``PushSink.drain`` runs one write at a time, so deliveries cannot overtake each other.

A socket's pump, a new ``/meta/connect`` on the same socket and a reply's flush can all ask
for a drain; with a write that waits (a paused socket, a remote queue), a second drain must
wait for the first instead of writing later messages before earlier ones.
"""

from __future__ import annotations

import asyncio

import pytest

from broker.connections import PushSink
from broker.delivery import Delivery

pytestmark = pytest.mark.anyio


class SlowSink(PushSink):
    """Writes wait until the test lets them through, and record what they carried."""

    __slots__ = ("gate", "queue", "writing", "written")

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.queue: list[Delivery] = []
        self.written: list[list[int]] = []
        self.writing = 0

    async def take(self, _client_id: str) -> list[Delivery]:
        taken, self.queue = self.queue, []
        return taken

    async def write(self, deliveries: list[Delivery]) -> None:
        self.writing += 1
        assert self.writing == 1, "two writes at once"
        await self.gate.wait()
        self.written.append([d.message["data"] for d in deliveries])
        self.writing -= 1


def delivery(n: int) -> Delivery:
    return Delivery({"channel": "/a", "data": n})


async def test_a_second_drain_waits_for_the_first_and_keeps_the_order() -> None:
    sink = SlowSink()
    sink.attach("c", sink.take)
    sink.queue = [delivery(1), delivery(2)]
    first = asyncio.create_task(sink.drain())
    await asyncio.sleep(0.01)  # the first write is in flight, held at the gate
    sink.queue = [delivery(3)]
    second = asyncio.create_task(sink.drain())
    third = asyncio.create_task(sink.drain())
    await asyncio.sleep(0.01)
    assert sink.written == []
    sink.gate.set()
    await asyncio.wait_for(asyncio.gather(first, second, third), 2)
    assert sink.written == [[1, 2], [3]]
    assert not sink.busy


async def test_a_cancelled_waiter_does_not_stop_the_drain_in_flight() -> None:
    sink = SlowSink()
    sink.attach("c", sink.take)
    sink.queue = [delivery(1)]
    first = asyncio.create_task(sink.drain())
    await asyncio.sleep(0.01)
    waiter = asyncio.create_task(sink.drain())
    await asyncio.sleep(0.01)
    waiter.cancel()
    sink.gate.set()
    await asyncio.wait_for(first, 2)
    assert sink.written == [[1]]
    with pytest.raises(asyncio.CancelledError):
        await waiter
