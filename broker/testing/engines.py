"""The engine contract, for every engine (docs/protocol.md §5, §7.1; faye ``spec/javascript/engine_spec.js``).

An engine passes this suite unchanged. To run it on an engine, import it into a test module and
provide an ``engine_maker`` fixture: a function that returns a new, unbound, unstarted engine::

    from broker.testing.engines import *  # noqa: F403  (the suite and its fixtures)

    @pytest.fixture
    def engine_maker() -> EngineMaker:
        return lambda: MyEngine("nats://127.0.0.1:4222", namespace=uuid.uuid4().hex)

The suite binds the engine to a :class:`Recorder` (its ``Recipients`` and event sink) with
``client_ttl`` = :data:`CLIENT_TTL` and ``max_queue`` = :data:`MAX_QUEUE`, starts it, and closes it
after each test. It needs pytest and anyio (``pytest.mark.anyio``).

Monitoring events (``emit``) must have fired by the time the engine call that caused them
returns; ``wake`` and ``client_destroyed`` may arrive a little later (a Redis engine relays them
over pub/sub), so the tests wait for them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import pytest

from broker.delivery import Delivery
from broker.engines.base import Engine, EngineStatistics
from broker.events import MonitorEvent
from protocol.channels import expand

EngineMaker = Callable[[], Engine]
"""Returns a new engine, unbound and unstarted, with state of its own (a fresh namespace)."""

CLIENT_TTL = 0.3
"""Seconds a client lives without a ping; small so that reaping tests stay fast."""

MAX_QUEUE = 5
"""Messages a client may have queued; one more disconnects it."""

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


@pytest.fixture
async def engine(engine_maker: EngineMaker, recorder: Recorder) -> AsyncIterator[Engine]:
    """A started engine from ``engine_maker``, bound to ``recorder``, closed after the test."""
    made = engine_maker()
    made.bind(recorder, events=recorder, client_ttl=CLIENT_TTL, max_queue=MAX_QUEUE)
    await made.start()
    try:
        yield made
    finally:
        await made.close()


pytestmark = pytest.mark.anyio

SETTLE = 0.05
"""Seconds to wait before asserting that something did *not* happen."""

PATIENCE = 3.0
"""Upper bound for things that must happen "shortly"; generous for a loaded machine."""


# --- helpers ------------------------------------------------------------------------------


def new_id() -> str:
    return uuid.uuid4().hex


async def new_client(engine: Engine, *channels: str) -> str:
    client_id = new_id()
    await engine.create_client(client_id)
    for channel in channels:
        assert await engine.subscribe(client_id, channel) is True
    return client_id


def delivery(channel: str, data: Any = "ok", **fields: Any) -> Delivery:
    return Delivery({"channel": channel, "data": data, "id": new_id(), **fields})


async def publish(engine: Engine, channel: str, data: Any = "ok", *, publisher: object = None) -> int:
    return await engine.publish(delivery(channel, data), expand(channel), publisher)


async def taken(engine: Engine, client_id: str) -> list[dict[str, Any]]:
    """The messages queued for ``client_id``, oldest first (the queue is emptied)."""
    return [item.message for item in await engine.take_queue(client_id)]


async def taken_data(engine: Engine, client_id: str) -> list[Any]:
    return [message["data"] for message in await taken(engine, client_id)]


async def eventually(condition: Callable[[], bool | Awaitable[bool]], *, within: float = PATIENCE) -> None:
    """Wait until ``condition`` holds, failing after ``within`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        assert loop.time() < deadline, f"condition not met within {within} s"
        await asyncio.sleep(0.01)


async def gone(engine: Engine, client_id: str, *, within: float = PATIENCE) -> None:
    async def absent() -> bool:
        return not await engine.client_exists(client_id)

    await eventually(absent, within=within)


async def settle() -> None:
    await asyncio.sleep(SETTLE)


def lifecycle(recorder: Recorder, client_id: str, mark: int = 0) -> list[Entry]:
    """The end-of-life entries for ``client_id``: unsubscribe and disconnect events, ``closed``."""
    return [
        entry
        for entry in recorder.since(mark)
        if (entry[0] == "closed" and entry[1] == client_id)
        or (entry[0] == "emit" and entry[1] in ("unsubscribe", "disconnect") and entry[2] == client_id)
    ]


async def assert_destroyed(recorder: Recorder, client_id: str, channels: list[str], mark: int) -> None:
    """docs/protocol.md §5.2/§7.1: an ``unsubscribe`` per channel, then ``disconnect``, then ``closed``."""
    await eventually(lambda: client_id in recorder.closed(mark))
    await settle()
    entries = lifecycle(recorder, client_id, mark)
    count = len(channels)
    assert sorted(map(repr, entries[:count])) == sorted(
        repr(("emit", "unsubscribe", client_id, channel)) for channel in channels
    )
    assert entries[count:] == [("emit", "disconnect", client_id), ("closed", client_id)]


# --- client lifecycle ---------------------------------------------------------------------


async def test_create_client_exists_and_emits_handshake(engine: Engine, recorder: Recorder) -> None:
    client_id = new_id()
    assert await engine.client_exists(client_id) is False
    await engine.create_client(client_id)
    assert await engine.client_exists(client_id) is True
    assert recorder.events() == [("handshake", client_id)]
    await settle()
    assert recorder.woken() == []
    assert recorder.closed() == []


async def test_clients_are_independent(engine: Engine, recorder: Recorder) -> None:
    alice = await new_client(engine)
    bob = await new_client(engine)
    assert alice != bob
    await engine.destroy_client(alice)
    assert await engine.client_exists(alice) is False
    assert await engine.client_exists(bob) is True


async def test_destroy_without_subscriptions(engine: Engine, recorder: Recorder) -> None:
    client_id = await new_client(engine)
    mark = recorder.mark()
    await engine.destroy_client(client_id)
    assert await engine.client_exists(client_id) is False
    await assert_destroyed(recorder, client_id, [], mark)
    assert recorder.since(mark) == [("emit", "disconnect", client_id), ("closed", client_id)]


async def test_destroy_unsubscribes_each_channel_then_disconnects(engine: Engine, recorder: Recorder) -> None:
    channels = ["/messages/foo", "/messages/*", "/**"]
    client_id = await new_client(engine, *channels)
    mark = recorder.mark()
    await engine.destroy_client(client_id)
    assert await engine.client_exists(client_id) is False
    assert await engine.subscription_count(client_id) == 0
    await assert_destroyed(recorder, client_id, channels, mark)


async def test_destroyed_client_receives_nothing(engine: Engine, recorder: Recorder) -> None:
    client_id = await new_client(engine, "/messages/foo")
    assert await publish(engine, "/messages/foo", "before") == 1
    await engine.destroy_client(client_id)
    assert await taken(engine, client_id) == []
    mark = recorder.mark()
    assert await publish(engine, "/messages/foo", "after") == 0
    assert await taken(engine, client_id) == []
    await settle()
    assert recorder.woken(mark) == []


async def test_destroy_twice_is_harmless(engine: Engine, recorder: Recorder) -> None:
    client_id = await new_client(engine, "/foo")
    await engine.destroy_client(client_id)
    await eventually(lambda: client_id in recorder.closed())
    await settle()
    mark = recorder.mark()
    await engine.destroy_client(client_id)
    await settle()
    assert recorder.since(mark) == []
    assert await engine.client_exists(client_id) is False


async def test_destroy_unknown_client_is_harmless(engine: Engine, recorder: Recorder) -> None:
    bystander = await new_client(engine, "/foo")
    mark = recorder.mark()
    await engine.destroy_client(new_id())
    await settle()
    assert recorder.since(mark) == []
    assert await engine.client_exists(bystander) is True
    assert await engine.subscription_count(bystander) == 1


async def test_recreated_id_starts_fresh(engine: Engine) -> None:
    client_id = await new_client(engine, "/foo")
    assert await publish(engine, "/foo") == 1
    await engine.destroy_client(client_id)
    await engine.create_client(client_id)
    assert await engine.subscription_count(client_id) == 0
    assert await taken(engine, client_id) == []
    assert await publish(engine, "/foo") == 0


# --- subscriptions ------------------------------------------------------------------------


async def test_subscribe_new_returns_true_and_emits(engine: Engine, recorder: Recorder) -> None:
    client_id = await new_client(engine)
    mark = recorder.mark()
    assert await engine.subscribe(client_id, "/messages/foo") is True
    assert recorder.events(mark) == [("subscribe", client_id, "/messages/foo")]


async def test_subscribe_again_returns_false_and_is_silent(engine: Engine, recorder: Recorder) -> None:
    client_id = await new_client(engine, "/messages/foo")
    mark = recorder.mark()
    assert await engine.subscribe(client_id, "/messages/foo") is False
    await settle()
    assert recorder.since(mark) == []
    assert await engine.subscription_count(client_id) == 1


async def test_unsubscribe_existing_returns_true_and_emits(engine: Engine, recorder: Recorder) -> None:
    client_id = await new_client(engine, "/messages/foo", "/messages/bar")
    mark = recorder.mark()
    assert await engine.unsubscribe(client_id, "/messages/foo") is True
    assert recorder.events(mark) == [("unsubscribe", client_id, "/messages/foo")]
    assert await engine.subscription_count(client_id) == 1


async def test_unsubscribe_not_subscribed_returns_false_and_is_silent(engine: Engine, recorder: Recorder) -> None:
    client_id = await new_client(engine, "/messages/bar")
    mark = recorder.mark()
    assert await engine.unsubscribe(client_id, "/messages/foo") is False
    assert await engine.unsubscribe(client_id, "/messages/*") is False
    await settle()
    assert recorder.since(mark) == []
    assert await engine.subscription_count(client_id) == 1


async def test_unsubscribe_twice(engine: Engine, recorder: Recorder) -> None:
    client_id = await new_client(engine, "/messages/foo")
    assert await engine.unsubscribe(client_id, "/messages/foo") is True
    mark = recorder.mark()
    assert await engine.unsubscribe(client_id, "/messages/foo") is False
    await settle()
    assert recorder.since(mark) == []


async def test_resubscribe_after_unsubscribe_is_new(engine: Engine, recorder: Recorder) -> None:
    client_id = await new_client(engine, "/foo")
    assert await engine.unsubscribe(client_id, "/foo") is True
    mark = recorder.mark()
    assert await engine.subscribe(client_id, "/foo") is True
    assert recorder.events(mark) == [("subscribe", client_id, "/foo")]
    assert await publish(engine, "/foo", "back") == 1
    assert await taken_data(engine, client_id) == ["back"]


async def test_subscription_count(engine: Engine) -> None:
    client_id = await new_client(engine)
    assert await engine.subscription_count(client_id) == 0
    await engine.subscribe(client_id, "/a")
    await engine.subscribe(client_id, "/a/*")
    await engine.subscribe(client_id, "/a")
    assert await engine.subscription_count(client_id) == 2
    await engine.unsubscribe(client_id, "/a")
    assert await engine.subscription_count(client_id) == 1
    await engine.unsubscribe(client_id, "/nothing")
    assert await engine.subscription_count(client_id) == 1
    assert await engine.subscription_count(new_id()) == 0


async def test_subscriptions_are_per_client(engine: Engine, recorder: Recorder) -> None:
    alice = await new_client(engine, "/foo")
    bob = await new_client(engine)
    mark = recorder.mark()
    assert await engine.unsubscribe(bob, "/foo") is False
    assert await engine.subscription_count(bob) == 0
    assert await engine.subscription_count(alice) == 1
    assert await publish(engine, "/foo") == 1
    assert await taken(engine, bob) == []
    assert len(await taken(engine, alice)) == 1
    assert recorder.events(mark) == [("publish", None, "/foo", "ok")]


# --- unknown client ids never create state (docs/protocol.md §5.9 item 7) -----------------


async def test_unknown_client_ids_never_create_state(engine: Engine, recorder: Recorder) -> None:
    ghost = new_id()
    assert await engine.subscribe(ghost, "/foo") is False
    assert await engine.unsubscribe(ghost, "/foo") is False
    await engine.ping(ghost)
    assert await engine.take_queue(ghost) == []
    await engine.requeue(ghost, [delivery("/foo", "lost")])
    assert await engine.take_queue(ghost) == []
    assert await engine.subscription_count(ghost) == 0
    assert await engine.client_exists(ghost) is False
    assert await publish(engine, "/foo") == 0
    await settle()
    assert recorder.since() == [("emit", "publish", None, "/foo", "ok")]

    # Nothing was left behind for the id to pick up if it is created later.
    await engine.create_client(ghost)
    assert await engine.subscription_count(ghost) == 0
    assert await engine.take_queue(ghost) == []
    assert await publish(engine, "/foo") == 0


async def test_destroyed_client_ids_never_regain_state(engine: Engine, recorder: Recorder) -> None:
    client_id = await new_client(engine, "/foo")
    await engine.destroy_client(client_id)
    await eventually(lambda: client_id in recorder.closed())
    mark = recorder.mark()
    assert await engine.subscribe(client_id, "/bar") is False
    await engine.ping(client_id)
    await engine.requeue(client_id, [delivery("/foo", "lost")])
    assert await engine.take_queue(client_id) == []
    assert await engine.client_exists(client_id) is False
    assert await publish(engine, "/bar") == 0
    await settle()
    assert recorder.since(mark) == [("emit", "publish", None, "/bar", "ok")]


# --- routing (docs/protocol.md §1.2) ------------------------------------------------------

ROUTES = [
    ("/foo/bar", "/foo/bar", True),
    ("/foo/bar", "/foo/baz", False),
    ("/foo/bar", "/foo", False),
    ("/foo/bar", "/foo/bar/baz", False),
    ("/foo/*", "/foo/bar", True),
    ("/foo/*", "/foo/bar/baz", False),
    ("/foo/*", "/foo", False),
    ("/foo/*", "/bar/foo", False),
    ("/foo/**", "/foo/bar", True),
    ("/foo/**", "/foo/bar/baz", True),
    ("/foo/**", "/foo", False),
    ("/foo/**", "/foobar/baz", False),
    ("/*", "/foo", True),
    ("/*", "/foo/bar", False),
    ("/**", "/foo", True),
    ("/**", "/foo/bar", True),
    ("/**", "/foo/bar/baz", True),
    ("/**", "/service/foo", True),
]


@pytest.mark.parametrize(("pattern", "channel", "routed"), ROUTES)
async def test_routing_by_expansion(
    engine: Engine, recorder: Recorder, pattern: str, channel: str, routed: bool
) -> None:
    subscriber = await new_client(engine, pattern)
    bystander = await new_client(engine, "/elsewhere")
    mark = recorder.mark()
    assert await publish(engine, channel, "hello") == int(routed)
    assert await taken_data(engine, subscriber) == (["hello"] if routed else [])
    assert await taken(engine, bystander) == []
    if routed:
        await eventually(lambda: subscriber in recorder.woken(mark))
    await settle()
    assert recorder.woken(mark) == ([subscriber] if routed else [])


async def test_overlapping_patterns_deliver_one_copy(engine: Engine, recorder: Recorder) -> None:
    client_id = await new_client(engine, "/foo/bar", "/foo/*", "/foo/**", "/**")
    mark = recorder.mark()
    assert await publish(engine, "/foo/bar", "once") == 1
    assert await taken_data(engine, client_id) == ["once"]
    await eventually(lambda: recorder.woken(mark) != [])
    await settle()
    assert recorder.woken(mark) == [client_id]


async def test_each_publish_is_delivered(engine: Engine) -> None:
    client_id = await new_client(engine, "/messages/*", "/messages/foo")
    assert await publish(engine, "/messages/foo", "one") == 1
    assert await publish(engine, "/messages/foo", "one") == 1
    assert await taken_data(engine, client_id) == ["one", "one"]


async def test_publish_counts_and_wakes_each_recipient(engine: Engine, recorder: Recorder) -> None:
    alice = await new_client(engine, "/messages/foo")
    bob = await new_client(engine, "/messages/bar")
    carol = await new_client(engine, "/messages/**", "/**")
    dave = await new_client(engine, "/*")
    mark = recorder.mark()
    assert await publish(engine, "/messages/foo") == 2
    await eventually(lambda: len(recorder.woken(mark)) >= 2)
    await settle()
    assert sorted(map(str, recorder.woken(mark))) == sorted([alice, carol])
    assert len(await taken(engine, alice)) == 1
    assert len(await taken(engine, carol)) == 1
    assert await taken(engine, bob) == []
    assert await taken(engine, dave) == []


async def test_publish_without_subscribers(engine: Engine, recorder: Recorder) -> None:
    await new_client(engine, "/other")
    mark = recorder.mark()
    assert await publish(engine, "/messages/foo", {"n": 1}) == 0
    assert recorder.events(mark) == [("publish", None, "/messages/foo", {"n": 1})]
    await settle()
    assert recorder.woken(mark) == []


@pytest.mark.parametrize("publisher", ["known", "unknown", None])
async def test_publish_event_carries_publisher_channel_and_data(
    engine: Engine, recorder: Recorder, publisher: str | None
) -> None:
    subscriber = await new_client(engine, "/messages/foo")
    if publisher == "known":
        publisher = await new_client(engine)
    elif publisher == "unknown":
        publisher = new_id()
    mark = recorder.mark()
    assert await publish(engine, "/messages/foo", ["ok", 1], publisher=publisher) == 1
    assert recorder.events(mark) == [("publish", publisher, "/messages/foo", ["ok", 1])]
    assert await taken_data(engine, subscriber) == [["ok", 1]]


async def test_messages_round_trip_unchanged(engine: Engine) -> None:
    client_id = await new_client(engine, "/messages/foo")
    message = {
        "channel": "/messages/foo",
        "data": {"text": "Apple = \uf8ff, caf\u00e9, \u2603, \U0001f600", "n": [1, 2.5, None, True]},
        "id": "m1",
        "ext": {"k": "v"},
    }
    assert await engine.publish(Delivery(dict(message)), expand("/messages/foo"), None) == 1
    assert await taken(engine, client_id) == [message]


# --- queues (docs/protocol.md §5.4) -------------------------------------------------------


async def test_queue_is_fifo_across_publishes(engine: Engine) -> None:
    client_id = await new_client(engine, "/a/*", "/b/**")
    published = [delivery(channel, n) for n, channel in enumerate(["/a/x", "/b/y/z", "/a/y", "/b/x"])]
    for item in published:
        assert await engine.publish(item, expand(item.channel), None) == 1
    assert await taken(engine, client_id) == [item.message for item in published]


async def test_take_queue_empties_the_queue(engine: Engine) -> None:
    client_id = await new_client(engine, "/foo")
    await publish(engine, "/foo", 1)
    await publish(engine, "/foo", 2)
    assert await taken_data(engine, client_id) == [1, 2]
    assert await engine.take_queue(client_id) == []
    await publish(engine, "/foo", 3)
    assert await taken_data(engine, client_id) == [3]


async def test_requeue_puts_items_back_at_the_head_in_order(engine: Engine) -> None:
    client_id = await new_client(engine, "/foo")
    for n in (1, 2, 3):
        await publish(engine, "/foo", n)
    items = await engine.take_queue(client_id)
    assert [item.message["data"] for item in items] == [1, 2, 3]
    await publish(engine, "/foo", 4)
    await engine.requeue(client_id, items[:2])
    assert await taken_data(engine, client_id) == [1, 2, 4]
    await engine.requeue(client_id, [])
    assert await engine.take_queue(client_id) == []


async def test_queues_are_per_client(engine: Engine) -> None:
    alice = await new_client(engine, "/a")
    bob = await new_client(engine, "/b", "/a")
    await publish(engine, "/a", 1)
    await publish(engine, "/b", 2)
    assert await taken_data(engine, alice) == [1]
    assert await taken_data(engine, bob) == [1, 2]


# --- reaping (docs/protocol.md §5.2) ------------------------------------------------------


async def test_client_not_pinged_is_reaped(engine: Engine, recorder: Recorder) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    client_id = await new_client(engine, "/foo", "/bar/**")
    await publish(engine, "/foo", "queued")
    mark = recorder.mark()
    await asyncio.sleep(CLIENT_TTL / 3)
    assert await engine.client_exists(client_id) is True
    await gone(engine, client_id, within=CLIENT_TTL + PATIENCE)
    await assert_destroyed(recorder, client_id, ["/foo", "/bar/**"], mark)
    assert recorder.time_of(("closed", client_id)) - started >= CLIENT_TTL * 0.9
    assert await taken(engine, client_id) == []
    assert await publish(engine, "/foo") == 0


async def test_ping_keeps_a_client_alive(engine: Engine, recorder: Recorder) -> None:
    loop = asyncio.get_running_loop()
    client_id = await new_client(engine, "/foo")
    until = loop.time() + 3.5 * CLIENT_TTL
    while loop.time() < until:
        await asyncio.sleep(CLIENT_TTL / 4)
        assert await engine.client_exists(client_id) is True
        await engine.ping(client_id)
    assert recorder.closed() == []
    assert await engine.subscription_count(client_id) == 1
    # Once the pings stop, it is reaped like any other client.
    await gone(engine, client_id, within=CLIENT_TTL + PATIENCE)


# --- queue bound (docs/architecture.md §4) -----------------------------------------------------------


async def test_a_full_queue_is_kept(engine: Engine, recorder: Recorder) -> None:
    client_id = await new_client(engine, "/foo")
    for n in range(MAX_QUEUE):
        assert await publish(engine, "/foo", n) == 1
    await settle()
    assert await engine.client_exists(client_id) is True
    assert await taken_data(engine, client_id) == list(range(MAX_QUEUE))
    # Draining makes room again.
    for n in range(MAX_QUEUE):
        await publish(engine, "/foo", n)
    await settle()
    assert await engine.client_exists(client_id) is True
    assert recorder.closed() == []


async def test_queue_overflow_disconnects_only_that_client(engine: Engine, recorder: Recorder) -> None:
    slow = await new_client(engine, "/flood", "/other")
    fast = await new_client(engine, "/flood")
    mark = recorder.mark()
    received: list[Any] = []
    for n in range(MAX_QUEUE + 1):
        await publish(engine, "/flood", n)
        received += await taken_data(engine, fast)
    await gone(engine, slow)
    await assert_destroyed(recorder, slow, ["/flood", "/other"], mark)
    assert await taken(engine, slow) == []
    assert await engine.client_exists(fast) is True
    assert received == list(range(MAX_QUEUE + 1))
    assert await publish(engine, "/flood", "more") == 1
    assert await taken_data(engine, fast) == ["more"]
    assert fast not in recorder.closed()


# --- statistics and monitoring ------------------------------------------------------------


async def test_statistics_count_what_this_process_did(engine: Engine) -> None:
    """The same counts, with the same meaning, on every engine (``EngineStatistics``)."""
    before = engine.statistics()
    alice = await new_client(engine, "/foo", "/foo/*")
    bob = await new_client(engine, "/foo")
    await publish(engine, "/foo")
    await publish(engine, "/nobody")
    await engine.unsubscribe(bob, "/foo")
    await engine.destroy_client(alice)
    after = engine.statistics()
    assert isinstance(after, EngineStatistics)
    grew = {name: getattr(after, name) - getattr(before, name) for name in EngineStatistics.__dataclass_fields__}
    assert grew == {
        "clients_created": 2,
        "clients_destroyed": 1,
        "clients_reaped": 0,
        "clients_overflowed": 0,
        "subscriptions_added": 3,
        "subscriptions_removed": 3,  # bob's unsubscribe, and alice's two with her
        "messages_published": 2,
        "deliveries": 2,  # alice once (two matching subscriptions), bob once
        "deliveries_queued": 2,  # the recorder takes no direct pushes here
        "errors": 0,
    }


async def test_statistics_count_reaped_and_overflowed_clients(engine: Engine, recorder: Recorder) -> None:
    before = engine.statistics()
    slow = await new_client(engine, "/q")
    for _ in range(MAX_QUEUE + 1):
        await publish(engine, "/q")
    await eventually(lambda: slow in recorder.closed())
    idle = await new_client(engine)
    await eventually(lambda: idle in recorder.closed(), within=CLIENT_TTL * 20)
    after = engine.statistics()
    assert after.clients_overflowed - before.clients_overflowed == 1
    assert after.clients_reaped - before.clients_reaped >= 1
    assert after.clients_destroyed - before.clients_destroyed >= 2


# --- the direct path: deliveries offered to the broker before they are queued ---------------------


async def test_an_engine_that_pushes_offers_only_clients_with_empty_queues(engine: Engine, recorder: Recorder) -> None:
    """Order is kept: a client with queued messages gets the next one queued after them."""
    queued = await new_client(engine, "/d")
    await publish(engine, "/d", data=1)  # refused by the recorder: queued
    idle = await new_client(engine, "/d")
    recorder.accept_pushes = True
    mark = recorder.mark()
    recipients = await publish(engine, "/d", data=2)
    assert recipients == 2
    pushed = recorder.pushed(mark)
    if pushed:  # an engine with in-process queues pushes (memory); one that queues elsewhere does not
        assert pushed == [(idle, 2)]
        assert [d.message["data"] for d in await engine.take_queue(queued)] == [1, 2]
        assert await engine.take_queue(idle) == []
        stats = engine.statistics()
        assert stats.deliveries - stats.deliveries_queued >= 1
    else:
        assert [d.message["data"] for d in await engine.take_queue(queued)] == [1, 2]
        assert [d.message["data"] for d in await engine.take_queue(idle)] == [2]


async def test_take_queues_takes_several_clients_at_once_in_order(engine: Engine) -> None:
    alice = await new_client(engine, "/t")
    bob = await new_client(engine, "/t")
    nobody = await new_client(engine)
    for n in range(3):
        await publish(engine, "/t", data=n)
    taken = await engine.take_queues([alice, bob, nobody])
    assert {client_id: [d.message["data"] for d in deliveries] for client_id, deliveries in taken.items()
            if deliveries} == {alice: [0, 1, 2], bob: [0, 1, 2]}
    assert await engine.take_queues([alice, bob]) in ({}, {alice: [], bob: []})


async def test_claim_of_an_existing_client_keeps_it_and_of_an_unknown_one_creates_nothing(engine: Engine) -> None:
    client_id = await new_client(engine, "/c")
    await engine.claim(client_id)
    assert await engine.client_exists(client_id)
    assert await engine.subscription_count(client_id) == 1
    stranger = new_id()
    await engine.claim(stranger)
    assert not await engine.client_exists(stranger)


async def test_monitoring_events_in_order(engine: Engine, recorder: Recorder) -> None:
    """docs/protocol.md §7.1: one event per change, ``unsubscribe``s before ``disconnect``."""
    alice = await new_client(engine, "/x", "/y/*")
    bob = await new_client(engine, "/x")
    await publish(engine, "/x", "hi", publisher=alice)
    await engine.subscribe(alice, "/x")
    await engine.unsubscribe(alice, "/x")
    await engine.unsubscribe(alice, "/x")
    await engine.destroy_client(alice)
    await engine.destroy_client(alice)
    await eventually(lambda: alice in recorder.closed())
    await settle()
    assert recorder.events() == [
        ("handshake", alice),
        ("subscribe", alice, "/x"),
        ("subscribe", alice, "/y/*"),
        ("handshake", bob),
        ("subscribe", bob, "/x"),
        ("publish", alice, "/x", "hi"),
        ("unsubscribe", alice, "/x"),
        ("unsubscribe", alice, "/y/*"),
        ("disconnect", alice),
    ]
    log = recorder.since()
    assert log.index(("closed", alice)) > log.index(("emit", "disconnect", alice))
    assert recorder.closed() == [alice]
    assert sorted(map(str, recorder.woken())) == sorted([alice, bob])


__all__ = ["CLIENT_TTL", "MAX_QUEUE", "EngineMaker", "Recorder", "engine", "pytestmark", "recorder",
           *sorted(name for name in tuple(globals()) if name.startswith("test_"))]
