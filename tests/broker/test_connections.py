"""Deliveries of one socket cannot overtake each other, whoever writes them.

``PushSink.drain`` runs one write at a time; ``Connections.wake_many`` (a Redis fan-out's
wake-up) takes many queues at once and writes frames directly, handing a socket it cannot
write to the socket's pump, and requeueing what it took for a socket that went away.

A socket's pump, a new ``/meta/connect`` on the same socket and a reply's flush can all ask
for a drain; with a write that waits (a paused socket, a remote queue), a second drain must
wait for the first instead of writing later messages before earlier ones.
"""

from __future__ import annotations

import asyncio

import orjson
import pytest

from broker.connections import Connections
from broker.delivery import Delivery
from broker.extensions import Context, Pipeline
from broker.frames import text_frame
from broker.sinks import PushSink
from protocol.connection_types import ConnectionType
from protocol.messages import join_encoded

CONTEXT = Context(transport=ConnectionType.WEBSOCKET)


def _data(payload: bytes) -> list[int]:
    return [message["data"] for message in orjson.loads(payload)]

pytestmark = pytest.mark.anyio


class SlowSink(PushSink):
    """Writes wait until the test lets them through, and record what they carried."""

    __slots__ = ("gate", "queue", "writing", "written")
    transport = ConnectionType.WEBSOCKET

    def __init__(self) -> None:
        super().__init__(CONTEXT)
        self.gate = asyncio.Event()
        self.queue: list[Delivery] = []
        self.written: list[list[int]] = []
        self.writing = 0

    # the sink is its own feed: it takes from its own queue
    frames_allowed = False

    async def take(self, _client_id: str) -> list[Delivery]:
        taken, self.queue = self.queue, []
        return taken

    async def encode(self, deliveries: list[Delivery], _context: Context) -> bytes:
        return join_encoded([d.encoded for d in deliveries])

    async def requeue(self, _client_id: str, _deliveries: list[Delivery]) -> None:
        raise AssertionError("nothing fails here")

    async def write(self, payload: bytes) -> None:
        self.writing += 1
        assert self.writing == 1, "two writes at once"
        await self.gate.wait()
        self.written.append(_data(payload))
        self.writing -= 1


def delivery(n: int) -> Delivery:
    return Delivery({"channel": "/a", "data": n})


async def test_a_second_drain_waits_for_the_first_and_keeps_the_order() -> None:
    sink = SlowSink()
    sink.attach("c", sink)
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
    sink.attach("c", sink)
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


class FrameSink(PushSink):
    """A socket-like sink: frames written directly, or through the pump when ``accepting`` is off."""

    __slots__ = ("accepting", "frames", "pumped")
    transport = ConnectionType.WEBSOCKET

    def __init__(self) -> None:
        super().__init__(CONTEXT)
        self.frames: list[bytes] = []
        self.pumped: list[list[int]] = []
        self.accepting = True
        self.send_frame = self._send_frame

    def _send_frame(self, frame: bytes) -> bool:
        if self.accepting:
            self.frames.append(frame)
        return self.accepting

    async def write(self, payload: bytes) -> None:
        self.pumped.append(_data(payload))


class FakeQueues:
    """An engine's queues (a ``QueueSource``), with a gate on the batched take."""

    def __init__(self, queues: dict[str, list[Delivery]]) -> None:
        self.queues = queues
        self.gate = asyncio.Event()
        self.gate.set()
        self.requeued: dict[str, list[int]] = {}
        self.fail = False

    async def take_queue(self, client_id: str) -> list[Delivery]:
        return self.queues.pop(client_id, [])

    async def take_queues(self, client_ids: list[str]) -> dict[str, list[Delivery]]:
        await self.gate.wait()
        if self.fail:
            raise RuntimeError("engine down")
        return {client_id: self.queues.pop(client_id, []) for client_id in client_ids}

    async def requeue(self, client_id: str, deliveries: list[Delivery]) -> None:
        self.requeued[client_id] = [d.message["data"] for d in deliveries]


def _connections(engine: FakeQueues, *sinks: tuple[str, FrameSink]) -> Connections:
    connections = Connections(queues=engine, pipeline=Pipeline())
    for client_id, sink in sinks:
        connections.bind(client_id, sink)
    return connections


async def _settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_wake_many_takes_once_and_writes_frames_without_the_pump() -> None:
    engine = FakeQueues({"a": [delivery(1), delivery(2)], "b": [delivery(3)]})
    a, b = FrameSink(), FrameSink()
    connections = _connections(engine, ("a", a), ("b", b))
    connections.wake_many(["a", "b"])
    await _settle()
    assert a.frames == [text_frame(join_encoded([delivery(1).encoded, delivery(2).encoded]))]
    assert b.frames == [delivery(3).frame]
    assert a.pumped == b.pumped == []
    assert not a.busy
    assert not b.busy


async def test_wake_many_hands_a_paused_socket_to_its_pump_in_order() -> None:
    engine = FakeQueues({"a": [delivery(1), delivery(2)]})
    a = FrameSink()
    a.accepting = False
    connections = _connections(engine, ("a", a))
    connections.wake_many(["a"])
    await _settle()
    assert a.frames == []
    assert a.pumped == [[1, 2]]


async def test_wake_many_requeues_what_it_took_for_a_socket_that_went_away() -> None:
    engine = FakeQueues({"a": [delivery(1)]})
    engine.gate.clear()
    a = FrameSink()
    connections = _connections(engine, ("a", a))
    connections.wake_many(["a"])
    await _settle()
    connections.unbind(a)  # the socket closes while the take is in flight
    engine.gate.set()
    await _settle()
    assert a.frames == []
    assert engine.requeued == {"a": [1]}


async def test_wake_many_falls_back_to_the_pump_when_the_take_fails() -> None:
    engine = FakeQueues({"a": [delivery(1)]})
    engine.fail = True
    a = FrameSink()
    connections = _connections(engine, ("a", a))
    connections.wake_many(["a"])
    await _settle()
    # the pump took the queue itself, and wrote it on the frame path (the socket accepts frames)
    assert a.frames == [delivery(1).frame]
    assert not a.busy
