"""The stores that ship, as makers for the store contract (``broker.testing.stores``).

To add a store, add a maker to ``STORE_MAKERS``: the contract then runs on it unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from broker.store import MemoryStore
from broker.store.redis import RedisStore
from broker.store.sqlite import SQLiteStore
from broker.testing.stores import StoreMaker


def _memory(_request: pytest.FixtureRequest) -> StoreMaker:
    return StoreMaker(make=lambda _key: MemoryStore(), durable=False)


def _sqlite(request: pytest.FixtureRequest) -> StoreMaker:
    directory: Path = request.getfixturevalue("tmp_path")
    return StoreMaker(make=lambda key: SQLiteStore(directory / key / "resources.sqlite3"), durable=True)


def _redis(request: pytest.FixtureRequest) -> StoreMaker:
    url = request.getfixturevalue("redis_server").url
    prefix = request.node.name.replace("[", "-").replace("]", "")[:40]
    return StoreMaker(make=lambda key: RedisStore(url, namespace=f"{prefix}-{key}"), durable=True)


STORE_MAKERS: dict[str, Callable[[pytest.FixtureRequest], StoreMaker]] = {
    "memory": _memory, "sqlite": _sqlite, "redis": _redis,
}


@pytest.fixture(params=list(STORE_MAKERS.values()), ids=list(STORE_MAKERS))
def store_maker(request: pytest.FixtureRequest) -> StoreMaker:
    maker: Callable[[pytest.FixtureRequest], StoreMaker] = request.param
    return maker(request)

