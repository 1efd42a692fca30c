"""The store contract, for every store of the REST resources (docs/resources.md; docs/architecture.md §5).

A store passes this suite unchanged. To run it on a store, import it into a test module and
provide a ``store_maker`` fixture returning a :class:`StoreMaker`::

    from broker.testing.stores import *  # noqa: F403  (the suite and its fixtures)

    @pytest.fixture
    def store_maker(tmp_path) -> StoreMaker:
        return StoreMaker(make=lambda key: MyStore(tmp_path / key), durable=True)

It needs pytest and anyio (``pytest.mark.anyio``).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from broker.store import (
    AlreadyExists,
    Condition,
    NotFound,
    PreconditionFailed,
    Query,
    SortKey,
    Store,
    StoreStatistics,
)


@dataclass(frozen=True, slots=True)
class StoreMaker:
    """How the suite gets stores: ``make(key)`` returns a new, unstarted store; two stores made with the
    same key share their data (the same file, the same namespace) when the store is ``durable``."""

    make: Callable[[str], Store]
    durable: bool


@pytest.fixture
async def store(store_maker: StoreMaker) -> AsyncIterator[Store]:
    """A started store with data of its own, closed after the test."""
    made = store_maker.make(f"test-{uuid.uuid4().hex[:12]}")
    await made.start()
    try:
        yield made
    finally:
        await made.close()


pytestmark = pytest.mark.anyio


def ids(page_items: list[Any]) -> list[str]:
    return [record.id for record in page_items]


async def seed(store: Store, collection: str, *objects: dict[str, Any]) -> None:
    await store.create(collection, list(objects))


async def listed(store: Store, collection: str, **query: Any) -> list[str]:
    return ids((await store.find(collection, Query(**query))).items)


# --- create and get ----------------------------------------------------------------------------


async def test_get_of_a_missing_object_is_none(store: Store) -> None:
    assert await store.get("todos", "nope") is None


async def test_create_returns_created_changes_and_the_objects_can_be_read(store: Store) -> None:
    changes = await store.create("todos", [{"id": "a", "title": "one"}, {"id": "b", "title": "two", "n": 2}])
    assert [c.action for c in changes] == ["created", "created"]
    assert [c.record.id for c in changes] == ["a", "b"]
    assert changes[0].record.version >= 1
    assert changes[1].record.version > changes[0].record.version
    record = await store.get("todos", "b")
    assert record is not None
    assert record.data == {"id": "b", "title": "two", "n": 2}
    assert record.version == changes[1].record.version
    assert record.collection == "todos"


async def test_create_nothing_is_a_no_op(store: Store) -> None:
    assert await store.create("todos", []) == []
    assert (await store.find("todos", Query())).total == 0


async def test_create_is_all_or_nothing_when_an_id_exists(store: Store) -> None:
    await seed(store, "todos", {"id": "taken"})
    with pytest.raises(AlreadyExists) as caught:
        await store.create("todos", [{"id": "new1"}, {"id": "new2"}, {"id": "taken"}, {"id": "new3"}])
    assert caught.value.index == 2
    assert caught.value.id == "taken"
    assert await listed(store, "todos") == ["taken"]


async def test_create_is_all_or_nothing_when_an_id_repeats(store: Store) -> None:
    with pytest.raises(AlreadyExists) as caught:
        await store.create("todos", [{"id": "x"}, {"id": "y"}, {"id": "x"}])
    assert caught.value.index == 2
    assert await listed(store, "todos") == []


async def test_create_requires_string_ids(store: Store) -> None:
    with pytest.raises(ValueError, match="string id"):
        await store.create("todos", [{"title": "no id"}])


async def test_collections_are_separate(store: Store) -> None:
    await seed(store, "a", {"id": "1", "in": "a"})
    await seed(store, "b", {"id": "1", "in": "b"})
    first, second = await store.get("a", "1"), await store.get("b", "1")
    assert first is not None
    assert second is not None
    assert first.data["in"] == "a"
    assert second.data["in"] == "b"


async def test_returned_data_is_a_copy(store: Store) -> None:
    [change] = await store.create("todos", [{"id": "a", "tags": ["x"]}])
    change.record.data["tags"].append("changed")
    record = await store.get("todos", "a")
    assert record is not None
    record.data["title"] = "changed"
    again = await store.get("todos", "a")
    assert again is not None
    assert again.data == {"id": "a", "tags": ["x"]}


async def test_json_values_round_trip(store: Store) -> None:
    data = {"id": "j", "s": "héllo ✓ 😀 \u0000 \"q\"", "i": -42, "f": 1.5, "big": 2**53, "t": True, "f0": False,
            "z": None, "list": [1, "two", [3], {"four": 4}], "obj": {"nested": {"deep": [None]}}, "empty": {},
            "empty_list": []}
    await seed(store, "todos", data)
    record = await store.get("todos", "j")
    assert record is not None
    assert record.data == data
    page = await store.find("todos", Query())
    assert page.items[0].data == data


# --- versions ------------------------------------------------------------------------------


async def test_put_creates_then_replaces_with_a_new_version(store: Store) -> None:
    created = await store.put("todos", "a", {"id": "a", "v": 1})
    assert created.action == "created"
    updated = await store.put("todos", "a", {"id": "a", "v": 2})
    assert updated.action == "updated"
    assert updated.record.version > created.record.version
    record = await store.get("todos", "a")
    assert record is not None
    assert record.data == {"id": "a", "v": 2}
    assert record.version == updated.record.version


async def test_put_replaces_the_whole_object(store: Store) -> None:
    await store.put("todos", "a", {"id": "a", "keep": False, "gone": 1})
    await store.put("todos", "a", {"id": "a", "keep": True})
    record = await store.get("todos", "a")
    assert record is not None
    assert record.data == {"id": "a", "keep": True}


async def test_put_needs_the_id_in_the_data(store: Store) -> None:
    with pytest.raises(ValueError, match="id"):
        await store.put("todos", "a", {"id": "b"})


async def test_versions_are_never_reused_even_after_delete_and_recreate(store: Store) -> None:
    first = await store.put("todos", "a", {"id": "a"})
    deleted = await store.delete("todos", "a")
    assert deleted.record.version > first.record.version
    again = await store.put("todos", "a", {"id": "a"})
    assert again.record.version > deleted.record.version
    with pytest.raises(PreconditionFailed):
        await store.put("todos", "a", {"id": "a"}, condition=Condition(match=frozenset({first.record.version})))


async def test_versions_differ_across_collections(store: Store) -> None:
    one = await store.put("a", "x", {"id": "x"})
    two = await store.put("b", "x", {"id": "x"})
    assert one.record.version != two.record.version


# --- conditions ----------------------------------------------------------------------------


async def test_if_match_current_version_writes(store: Store) -> None:
    first = await store.put("todos", "a", {"id": "a", "n": 1})
    condition = Condition(match=frozenset({first.record.version}))
    change = await store.put("todos", "a", {"id": "a", "n": 2}, condition=condition)
    assert change.action == "updated"


async def test_if_match_stale_version_fails_and_writes_nothing(store: Store) -> None:
    first = await store.put("todos", "a", {"id": "a", "n": 1})
    second = await store.put("todos", "a", {"id": "a", "n": 2})
    with pytest.raises(PreconditionFailed) as caught:
        await store.put("todos", "a", {"id": "a", "n": 3}, condition=Condition(match=frozenset({first.record.version})))
    assert caught.value.current == second.record.version
    record = await store.get("todos", "a")
    assert record is not None
    assert record.data["n"] == 2
    assert record.version == second.record.version


async def test_if_match_any_of_several_versions(store: Store) -> None:
    first = await store.put("todos", "a", {"id": "a"})
    versions = frozenset({first.record.version, first.record.version + 1000})
    assert (await store.put("todos", "a", {"id": "a"}, condition=Condition(match=versions))).action == "updated"


async def test_if_match_on_an_absent_object_fails(store: Store) -> None:
    with pytest.raises(PreconditionFailed) as caught:
        await store.put("todos", "a", {"id": "a"}, condition=Condition(match=frozenset({1})))
    assert caught.value.current is None
    assert await store.get("todos", "a") is None


async def test_an_empty_match_set_never_matches(store: Store) -> None:
    await store.put("todos", "a", {"id": "a"})
    with pytest.raises(PreconditionFailed):
        await store.put("todos", "a", {"id": "a"}, condition=Condition(match=frozenset()))


async def test_exists_true_requires_the_object(store: Store) -> None:
    with pytest.raises(PreconditionFailed):
        await store.put("todos", "a", {"id": "a"}, condition=Condition(exists=True))
    await store.put("todos", "a", {"id": "a"})
    assert (await store.put("todos", "a", {"id": "a"}, condition=Condition(exists=True))).action == "updated"


async def test_exists_false_creates_only(store: Store) -> None:
    assert (await store.put("todos", "a", {"id": "a"}, condition=Condition(exists=False))).action == "created"
    with pytest.raises(PreconditionFailed) as caught:
        await store.put("todos", "a", {"id": "a", "again": True}, condition=Condition(exists=False))
    assert caught.value.current is not None


async def test_none_match_refuses_the_listed_versions(store: Store) -> None:
    first = await store.put("todos", "a", {"id": "a"})
    with pytest.raises(PreconditionFailed):
        await store.put("todos", "a", {"id": "a"}, condition=Condition(none_match=frozenset({first.record.version})))
    other = Condition(none_match=frozenset({first.record.version + 99}))
    change = await store.put("todos", "a", {"id": "a"}, condition=other)
    assert change.action == "updated"
    # absent objects match no version
    absent = await store.put("todos", "b", {"id": "b"}, condition=Condition(none_match=frozenset({1})))
    assert absent.action == "created"


async def test_concurrent_compare_and_set_has_exactly_one_winner(store: Store) -> None:
    first = await store.put("todos", "a", {"id": "a", "writer": None})
    condition = Condition(match=frozenset({first.record.version}))

    async def write(writer: int) -> str:
        try:
            await store.put("todos", "a", {"id": "a", "writer": writer}, condition=condition)
        except PreconditionFailed:
            return "lost"
        return "won"

    results = await asyncio.gather(*(write(n) for n in range(12)))
    assert results.count("won") == 1
    winner = results.index("won")
    record = await store.get("todos", "a")
    assert record is not None
    assert record.data["writer"] == winner


# --- delete --------------------------------------------------------------------------------


async def test_delete_returns_the_last_data_with_a_new_version(store: Store) -> None:
    put = await store.put("todos", "a", {"id": "a", "title": "last words"})
    change = await store.delete("todos", "a")
    assert change.action == "deleted"
    assert change.record.data == {"id": "a", "title": "last words"}
    assert change.record.version > put.record.version
    assert await store.get("todos", "a") is None
    assert await listed(store, "todos") == []


async def test_delete_of_a_missing_object_is_not_found(store: Store) -> None:
    with pytest.raises(NotFound):
        await store.delete("todos", "nope")


async def test_delete_checks_the_condition(store: Store) -> None:
    first = await store.put("todos", "a", {"id": "a"})
    await store.put("todos", "a", {"id": "a"})
    with pytest.raises(PreconditionFailed):
        await store.delete("todos", "a", condition=Condition(match=frozenset({first.record.version})))
    assert await store.get("todos", "a") is not None
    current = await store.get("todos", "a")
    assert current is not None
    await store.delete("todos", "a", condition=Condition(match=frozenset({current.version})))
    assert await store.get("todos", "a") is None


async def test_the_condition_is_checked_before_existence(store: Store) -> None:
    with pytest.raises(PreconditionFailed):
        await store.delete("todos", "absent", condition=Condition(exists=True))
    with pytest.raises(NotFound):
        await store.delete("todos", "absent", condition=Condition(exists=False))


# --- list: order, pagination ------------------------------------------------------------


async def test_list_is_in_creation_order_with_total(store: Store) -> None:
    for name in ["c", "a", "b"]:
        await store.put("todos", name, {"id": name})
    page = await store.find("todos", Query())
    assert ids(page.items) == ["c", "a", "b"]
    assert page.total == 3
    assert [record.version for record in page.items] == sorted(record.version for record in page.items)


async def test_replacing_keeps_the_creation_position_recreating_moves_to_the_end(store: Store) -> None:
    await seed(store, "todos", {"id": "a"}, {"id": "b"}, {"id": "c"})
    await store.put("todos", "a", {"id": "a", "edited": True})
    assert await listed(store, "todos") == ["a", "b", "c"]
    await store.delete("todos", "a")
    await store.put("todos", "a", {"id": "a"})
    assert await listed(store, "todos") == ["b", "c", "a"]


async def test_limit_and_offset(store: Store) -> None:
    await seed(store, "n", *({"id": f"i{i:02d}", "i": i} for i in range(25)))
    page = await store.find("n", Query(limit=10, offset=0))
    assert ids(page.items) == [f"i{i:02d}" for i in range(10)]
    assert page.total == 25
    page = await store.find("n", Query(limit=10, offset=20))
    assert ids(page.items) == [f"i{i:02d}" for i in range(20, 25)]
    assert page.total == 25
    page = await store.find("n", Query(limit=10, offset=30))
    assert page.items == []
    assert page.total == 25


async def test_an_empty_or_unknown_collection_lists_nothing(store: Store) -> None:
    page = await store.find("never-written", Query())
    assert page.items == []
    assert page.total == 0


# --- list: filters ------------------------------------------------------------------------

MIXED: list[dict[str, Any]] = [
    {"id": "s-open", "v": "open"},
    {"id": "s-3", "v": "3"},
    {"id": "s-true", "v": "true"},
    {"id": "n-3", "v": 3},
    {"id": "n-3.0", "v": 3.0},
    {"id": "n-3.5", "v": 3.5},
    {"id": "n-neg", "v": -1},
    {"id": "b-true", "v": True},
    {"id": "b-false", "v": False},
    {"id": "null", "v": None},
    {"id": "list", "v": [3]},
    {"id": "obj", "v": {"a": 3}},
    {"id": "missing"},
    {"id": "s-null", "v": "null"},
    {"id": "s-empty", "v": ""},
]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("open", ["s-open"]),
        ("3", ["s-3", "n-3", "n-3.0"]),
        ("3.0", ["n-3", "n-3.0"]),
        ("3.5", ["n-3.5"]),
        ("-1", ["n-neg"]),
        ("true", ["s-true", "b-true"]),
        ("false", ["b-false"]),
        ("null", ["null", "s-null"]),
        ("", ["s-empty"]),
        ("[3]", []),
        ('{"a":3}', []),
        ("nothing", []),
        ('"open"', []),
    ],
)
async def test_equality_filter_rules(store: Store, value: str, expected: list[str]) -> None:
    await seed(store, "mixed", *MIXED)
    page = await store.find("mixed", Query(filters=(("v", value),)))
    assert sorted(ids(page.items)) == sorted(expected)
    assert page.total == len(expected)


async def test_several_filters_must_all_match_and_paginate_with_the_total(store: Store) -> None:
    await seed(store, "todos", *({"id": f"t{i}", "status": "open" if i % 2 else "done",
                                  "owner": "ann" if i % 3 else "bob"} for i in range(12)))
    page = await store.find("todos", Query(filters=(("status", "open"), ("owner", "ann")), limit=2, offset=1))
    matching = [f"t{i}" for i in range(12) if i % 2 and i % 3]
    assert page.total == len(matching)
    assert ids(page.items) == matching[1:3]


async def test_filters_on_a_field_named_like_sql_or_lua(store: Store) -> None:
    await seed(store, "odd", {"id": "1", "select": "x", "end": "y", "_under": "z", "dash-ed": "w"})
    for field, value in (("select", "x"), ("end", "y"), ("_under", "z"), ("dash-ed", "w")):
        assert await listed(store, "odd", filters=((field, value),)) == ["1"]


async def test_filter_values_are_not_interpreted(store: Store) -> None:
    await seed(store, "odd", {"id": "1", "q": "' OR 1=1 --"}, {"id": "2", "q": "x"}, {"id": "3", "q": "%"})
    assert await listed(store, "odd", filters=(("q", "' OR 1=1 --"),)) == ["1"]
    assert await listed(store, "odd", filters=(("q", "%"),)) == ["3"]
    assert await listed(store, "odd", filters=(("q", "_"),)) == []


async def test_huge_numbers_in_a_filter_do_not_break_the_store(store: Store) -> None:
    await seed(store, "n", {"id": "1", "v": 1})
    assert await listed(store, "n", filters=(("v", "99999999999999999999999999"),)) == []
    assert await listed(store, "n", filters=(("v", "1e400"),)) == []


# --- list: sort ---------------------------------------------------------------------------


async def test_sort_by_one_field_both_ways(store: Store) -> None:
    await seed(store, "s", {"id": "b", "n": 2}, {"id": "c", "n": 3}, {"id": "a", "n": 1})
    assert await listed(store, "s", sort=(SortKey("n"),)) == ["a", "b", "c"]
    assert await listed(store, "s", sort=(SortKey("n", descending=True),)) == ["c", "b", "a"]
    assert await listed(store, "s", sort=(SortKey("id"),)) == ["a", "b", "c"]


async def test_sort_order_across_json_types(store: Store) -> None:
    await seed(store, "mixed", *MIXED)
    expected = ["missing", "null", "b-false", "b-true", "n-neg", "n-3", "n-3.0", "n-3.5",
                "s-empty", "s-3", "s-null", "s-open", "s-true", "list", "obj"]
    assert await listed(store, "mixed", sort=(SortKey("v"),)) == expected
    descending = await listed(store, "mixed", sort=(SortKey("v", descending=True),))
    # equal values (3 and 3.0) keep creation order whichever the direction
    assert descending == ["obj", "list", "s-true", "s-open", "s-null", "s-3", "s-empty",
                          "n-3.5", "n-3", "n-3.0", "n-neg", "b-true", "b-false", "null", "missing"]


async def test_strings_sort_by_code_point(store: Store) -> None:
    words = ["b", "B", "a", "é", "z", "Z", "😀", "ab", ""]
    await seed(store, "w", *({"id": f"w{i}", "w": word} for i, word in enumerate(words)))
    page = await store.find("w", Query(sort=(SortKey("w"),)))
    assert [record.data["w"] for record in page.items] == sorted(words)


async def test_sort_by_several_keys_ties_keep_creation_order(store: Store) -> None:
    rows = [("t1", "open", 2), ("t2", "done", 1), ("t3", "open", 1), ("t4", "done", 1), ("t5", "open", 2)]
    await seed(store, "todos", *({"id": i, "status": s, "priority": p} for i, s, p in rows))
    assert await listed(store, "todos", sort=(SortKey("status"), SortKey("priority", descending=True))) == [
        "t2", "t4", "t1", "t5", "t3"]
    assert await listed(store, "todos", sort=(SortKey("status", descending=True),)) == ["t1", "t3", "t5", "t2", "t4"]


async def test_sort_with_filter_and_pagination(store: Store) -> None:
    await seed(store, "n", *({"id": f"i{i}", "i": i, "even": i % 2 == 0} for i in range(20)))
    page = await store.find("n", Query(filters=(("even", "true"),), sort=(SortKey("i", descending=True),),
                                       limit=3, offset=2))
    assert ids(page.items) == ["i14", "i12", "i10"]
    assert page.total == 10


# --- ordering of writers ------------------------------------------------------------------


async def test_ordered_serialises_writers_of_the_same_object(store: Store) -> None:
    inside: list[str] = []
    overlap = False

    async def writer(name: str) -> None:
        nonlocal overlap
        async with store.ordered("todos", ["a"]):
            if inside:
                overlap = True
            inside.append(name)
            await asyncio.sleep(0.01)
            inside.remove(name)

    await asyncio.gather(*(writer(f"w{i}") for i in range(5)))
    assert not overlap


async def test_ordered_lets_other_objects_through(store: Store) -> None:
    entered = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with store.ordered("todos", ["a"]):
            entered.set()
            await release.wait()

    task = asyncio.ensure_future(holder())
    await entered.wait()
    async with asyncio.timeout(2):
        async with store.ordered("todos", ["b", "c"]):
            pass
        async with store.ordered("other", ["a"]):
            pass
    release.set()
    await task


async def test_ordered_holds_many_objects_without_deadlock(store: Store) -> None:
    async def writer(keys: list[str]) -> None:
        async with store.ordered("todos", keys):
            await asyncio.sleep(0.001)

    async with asyncio.timeout(10):
        await asyncio.gather(*(writer(["a", "b", "c"] if i % 2 else ["c", "b", "a"]) for i in range(10)))


# --- lifecycle ----------------------------------------------------------------------------


async def test_a_restarted_store_keeps_its_data_if_it_is_durable(store_maker: StoreMaker) -> None:
    first = store_maker.make("restart-test")
    await first.start()
    await first.create("todos", [{"id": "a", "n": 1}])
    change = await first.put("todos", "b", {"id": "b"})
    await first.close()
    second = store_maker.make("restart-test")
    await second.start()
    try:
        if not store_maker.durable:
            assert await second.get("todos", "a") is None
            return
        record = await second.get("todos", "a")
        assert record is not None
        assert record.data == {"id": "a", "n": 1}
        assert await listed(second, "todos") == ["a", "b"]
        # the version counter continues where it was
        assert (await second.put("todos", "c", {"id": "c"})).record.version > change.record.version
    finally:
        await second.close()


async def test_start_and_close_twice_are_harmless(store: Store) -> None:
    await store.start()
    await store.put("todos", "a", {"id": "a"})
    await store.close()
    await store.close()


async def test_statistics_count_reads_writes_and_locks_with_one_meaning(store: Store) -> None:
    """``StoreStatistics`` means the same on every store (docs/architecture.md §5.1)."""
    before = store.statistics()
    assert isinstance(before, StoreStatistics)
    await store.create("todos", [{"id": "a"}, {"id": "b"}])
    await store.put("todos", "a", {"id": "a", "done": True})
    await store.delete("todos", "b")
    await store.get("todos", "a")
    await store.get("todos", "missing")
    await store.find("todos", Query())
    async with store.ordered("todos", ["a"]):
        assert store.statistics().locks_held >= 1
    after = store.statistics()
    assert after.writes - before.writes == 3  # one create of two objects, one put, one delete
    assert after.reads - before.reads == 3
    assert after.errors == before.errors == 0
    assert after.locks_held == 0


__all__ = ["StoreMaker", "pytestmark", "store",
           *sorted(name for name in tuple(globals()) if name.startswith("test_"))]
