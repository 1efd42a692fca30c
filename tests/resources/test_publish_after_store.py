"""A change is published only after its write is stored (docs/architecture.md §4), and a write that fails
publishes nothing.

A subscriber on the broker reads the SQLite file through a connection of its own the moment each
change event arrives: the version announced must already be committed there (or, for a delete,
the row already gone).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from broker.store import ANY, Change, Condition, MemoryStore, StoreUnavailable
from broker.store.sqlite import SQLiteStore
from clients.subscription import Message as Delivered
from tests.resources.conftest import MakeApi, assert_problem

pytestmark = pytest.mark.anyio

MERGE = {"content-type": "application/merge-patch+json"}


async def test_every_event_finds_its_write_committed_in_the_file(make_api: MakeApi, tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite3"
    observed: list[tuple[str, int, int | None]] = []

    def check(message: Delivered) -> None:
        event = message.data
        with sqlite3.connect(path) as other:
            row = other.execute("SELECT version FROM objects WHERE collection = 'todos' AND id = ?",
                                (event["id"],)).fetchone()
        observed.append((event["action"], event["version"], None if row is None else row[0]))

    async with make_api(store=SQLiteStore(path)) as api:
        await api.app.state.broker.client().subscribe("/resources/todos/*", check)
        await api.http.post("/api/todos", json=[{"id": "a"}, {"id": "b"}])
        await api.http.put("/api/todos/a", json={"n": 1})
        await api.http.patch("/api/todos/b", json={"n": 2}, headers=MERGE)
        await api.http.delete("/api/todos/a")
        await api.settle(10)
    assert [action for action, _, _ in observed] == ["created", "created", "updated", "updated", "deleted"]
    for action, announced, committed in observed:
        if action == "deleted":
            assert committed is None
        else:
            # committed already, and nothing later yet: the writer holds the object until it is published
            assert committed == announced


class FailingStore(MemoryStore):
    """Writes fail after the first object, as a store whose disk or server went away would."""

    async def create(self, collection: str, objects: Sequence[Mapping[str, Any]]) -> list[Change]:
        if await self.get(collection, "seed") is not None:
            raise StoreUnavailable("disk gone")
        return await super().create(collection, objects)

    async def put(self, collection: str, object_id: str, data: Mapping[str, Any], *,
                  condition: Condition = ANY) -> Change:
        raise StoreUnavailable("disk gone")

    async def delete(self, collection: str, object_id: str, *, condition: Condition = ANY) -> Change:
        raise StoreUnavailable("disk gone")


async def test_a_failed_write_publishes_nothing(make_api: MakeApi) -> None:
    async with make_api(store=FailingStore()) as api:
        assert (await api.http.post("/api/todos", json={"id": "seed"})).status_code == 201
        assert len(await api.settle(2)) == 2
        for method, url, body in (("POST", "/api/todos", {"id": "x"}), ("POST", "/api/todos", [{"id": "y"}]),
                                  ("PUT", "/api/todos/seed", {}), ("PATCH", "/api/todos/seed", {"n": 1}),
                                  ("DELETE", "/api/todos/seed", None)):
            response = await api.http.request(method, url, json=body, headers=MERGE if method == "PATCH" else {})
            assert_problem(response, 503, "unavailable")
        assert len(await api.quiet(0.1)) == 2
        assert (await api.http.get("/api/todos/seed")).json() == {"id": "seed"}
