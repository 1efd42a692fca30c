"""The store under test, built per kind (docs/architecture.md §1, "Engines and stores are seams").

Every store runs the same contract suite. To add a store, add its kind to ``STORE_KINDS`` and
a branch to :func:`make_store`; the tests themselves do not change.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from broker.store import MemoryStore, Store
from broker.store.redis import RedisStore
from broker.store.sqlite import SQLiteStore

STORE_KINDS = ["memory", "sqlite", "redis"]


def make_store(kind: str, *, tmp_path: Path, redis_url: str = "", namespace: str = "") -> Store:
    """A fresh, unstarted store of the given kind (SQLite: a real file; Redis: its own namespace)."""
    if kind == "memory":
        return MemoryStore()
    if kind == "sqlite":
        return SQLiteStore(tmp_path / "store" / "resources.sqlite3")
    if kind == "redis":
        return RedisStore(redis_url, namespace=namespace or f"test-{uuid.uuid4().hex[:12]}")
    raise ValueError(f"unknown store kind: {kind!r}")


@pytest.fixture(params=STORE_KINDS)
def store_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def redis_url(request: pytest.FixtureRequest, store_kind: str) -> str:
    return str(request.getfixturevalue("redis_server").url) if store_kind == "redis" else ""


@pytest.fixture
async def store(store_kind: str, redis_url: str, tmp_path: Path) -> AsyncIterator[Store]:
    """A started store, closed after the test."""
    store = make_store(store_kind, tmp_path=tmp_path, redis_url=redis_url)
    await store.start()
    try:
        yield store
    finally:
        await store.close()
