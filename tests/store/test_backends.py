"""What only some stores promise: ``store_from_url``, SQLite files, Redis shared by several brokers,
and errors mapped to :class:`StoreUnavailable` at each store's boundary."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest

from broker.store import MemoryStore, StoreUnavailable, store_from_url
from broker.store.redis import RedisStore
from broker.store.sqlite import SQLiteStore
from tests.support.redis import RedisServer, start_redis
from tests.support.servers import free_port

pytestmark = pytest.mark.anyio


# --- store_from_url ---------------------------------------------------------------------


def test_store_from_url_kinds(tmp_path: Path) -> None:
    assert isinstance(store_from_url("memory"), MemoryStore)
    default = store_from_url("sqlite", data_dir=tmp_path / "d")
    assert isinstance(default, SQLiteStore)
    assert default.path == tmp_path / "d" / "resources.sqlite3"
    explicit = store_from_url(f"sqlite:{tmp_path}/x.db", data_dir="ignored")
    assert isinstance(explicit, SQLiteStore)
    assert explicit.path == tmp_path / "x.db"
    redis = store_from_url("redis://127.0.0.1:7000/2?namespace=cluster1")
    assert isinstance(redis, RedisStore)
    assert redis.ns == "cluster1"
    assert redis.url == "redis://127.0.0.1:7000/2"
    assert isinstance(store_from_url("redis://127.0.0.1:7000/0"), RedisStore)


@pytest.mark.parametrize("url", ["", "postgres://x", "sqlite:", "SQLITE", "mem"])
def test_store_from_url_refuses_unknown_stores(url: str) -> None:
    with pytest.raises(ValueError, match="store"):
        store_from_url(url)


# --- SQLite -------------------------------------------------------------------------------


async def test_sqlite_creates_its_directory_and_uses_wal(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "store.db"
    store = SQLiteStore(path)
    await store.start()
    await store.put("todos", "a", {"id": "a"})
    with sqlite3.connect(path) as other:  # another connection sees the committed write
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert other.execute("SELECT id FROM objects").fetchall() == [("a",)]
    await store.close()


async def test_sqlite_write_is_visible_to_another_process_connection_before_close(tmp_path: Path) -> None:
    """A write is committed when the call returns (durable before the response is sent)."""
    path = tmp_path / "store.db"
    store = SQLiteStore(path)
    await store.start()
    try:
        change = await store.put("todos", "a", {"id": "a", "n": 1})
        other = SQLiteStore(path)
        await other.start()
        record = await other.get("todos", "a")
        assert record is not None
        assert record.version == change.record.version
        await other.close()
    finally:
        await store.close()


async def test_sqlite_refuses_a_newer_schema(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    store = SQLiteStore(path)
    with pytest.raises(StoreUnavailable, match="schema version 99"):
        await store.start()


async def test_sqlite_errors_are_store_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreUnavailable):
        await SQLiteStore(blocker / "sub" / "store.db").start()
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreUnavailable):
        await SQLiteStore(garbage).start()


async def test_sqlite_not_started_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable):
        await SQLiteStore(tmp_path / "x.db").get("todos", "a")


def test_sqlite_synchronous_must_be_known(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous"):
        SQLiteStore(tmp_path / "x.db", synchronous="off")  # type: ignore[arg-type]


async def test_sqlite_normal_synchronous_works(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "x.db", synchronous="normal")
    await store.start()
    assert (await store.put("todos", "a", {"id": "a"})).action == "created"
    await store.close()


# --- Redis --------------------------------------------------------------------------------


async def test_two_redis_stores_on_one_namespace_share_objects(redis_server: RedisServer) -> None:
    one = RedisStore(redis_server.url, namespace="shared-ns")
    two = RedisStore(redis_server.url, namespace="shared-ns")
    other = RedisStore(redis_server.url, namespace="other-ns")
    for store in (one, two, other):
        await store.start()
    try:
        change = await one.put("todos", "a", {"id": "a", "by": "one"})
        record = await two.get("todos", "a")
        assert record is not None
        assert record.version == change.record.version
        assert await other.get("todos", "a") is None
    finally:
        for store in (one, two, other):
            await store.close()


async def test_redis_ordered_excludes_another_broker(redis_server: RedisServer) -> None:
    """Two brokers (two store objects) never hold the same object at once."""
    one = RedisStore(redis_server.url, namespace="lock-ns")
    two = RedisStore(redis_server.url, namespace="lock-ns")
    await one.start()
    await two.start()
    try:
        inside: list[str] = []
        overlap = False

        async def writer(store: RedisStore, name: str) -> None:
            nonlocal overlap
            async with store.ordered("todos", ["a"]):
                if inside:
                    overlap = True
                inside.append(name)
                await asyncio.sleep(0.01)
                inside.remove(name)

        await asyncio.gather(*(writer(one if i % 2 else two, f"w{i}") for i in range(8)))
        assert not overlap
        assert one.statistics().lock_waits + two.statistics().lock_waits > 0
    finally:
        await one.close()
        await two.close()


async def test_redis_lock_held_too_long_is_unavailable(redis_server: RedisServer) -> None:
    one = RedisStore(redis_server.url, namespace="stuck-ns")
    two = RedisStore(redis_server.url, namespace="stuck-ns", lock_wait=0.2)
    await one.start()
    await two.start()
    try:
        async with one.ordered("todos", ["a"]):
            with pytest.raises(StoreUnavailable, match="too long"):
                async with two.ordered("todos", ["a"]):
                    pass
        async with two.ordered("todos", ["a"]):  # released: free again
            pass
    finally:
        await one.close()
        await two.close()


async def test_redis_down_is_store_unavailable() -> None:
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0")
    await store.start()
    try:
        with pytest.raises(StoreUnavailable):
            await store.get("todos", "a")
        with pytest.raises(StoreUnavailable):
            await store.put("todos", "a", {"id": "a"})
    finally:
        await store.close()


async def test_redis_store_recovers_after_a_redis_restart() -> None:
    server = start_redis()
    try:
        store = RedisStore(server.url, namespace="restart")
        await store.start()
        await store.put("todos", "a", {"id": "a"})
        server.stop()
        with pytest.raises(StoreUnavailable):
            await store.get("todos", "a")
        server = start_redis(server.port, server.workdir)
        assert (await store.put("todos", "b", {"id": "b"})).action == "created"
        await store.close()
    finally:
        server.cleanup()


def test_redis_collection_names_cannot_contain_colons() -> None:
    with pytest.raises(ValueError, match="':'"):
        RedisStore()._keys("a:b")
