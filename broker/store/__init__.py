"""Stores hold the REST resources' collections of JSON objects (docs/architecture.md §1, "seams").

``memory`` ships for tests and embedding, ``sqlite`` is the durable default of
``bayeux-broker serve``, ``redis`` is shared by every broker of a cluster. They pass one
contract suite (``tests/store``); :mod:`broker.store.base` documents the contract.
"""

from __future__ import annotations

from pathlib import Path

from broker.redis_client import REDIS_SCHEMES, parse_redis_url
from broker.store.base import (
    ANY,
    AlreadyExists,
    Change,
    Condition,
    NotFound,
    Page,
    PreconditionFailed,
    Query,
    Record,
    SortKey,
    Store,
    StoreError,
    StoreStatistics,
    StoreUnavailable,
)
from broker.store.memory import MemoryStore

__all__ = [
    "ANY",
    "AlreadyExists",
    "Change",
    "Condition",
    "MemoryStore",
    "NotFound",
    "Page",
    "PreconditionFailed",
    "Query",
    "Record",
    "SQLITE_FILE",
    "SortKey",
    "Store",
    "StoreError",
    "StoreStatistics",
    "StoreUnavailable",
    "store_from_url",
]

SQLITE_FILE = "resources.sqlite3"
"""The file name of the SQLite store in the data directory (``sqlite`` without a path)."""



def store_from_url(url: str, *, data_dir: str | Path = "data") -> Store:
    """Build a store from its description.

    - ``memory``: the in-memory store;
    - ``sqlite``: SQLite in ``<data_dir>/resources.sqlite3``; ``sqlite:PATH``: SQLite in ``PATH``
      (relative to the working directory); the directory is created when the store starts;
    - ``redis://HOST:PORT/DB[?namespace=NAME]`` (or ``rediss://``, ``unix://``): Redis, in the
      same namespace as the Redis engine given the same URL.

    Raises :class:`ValueError` for anything else.
    """
    if url in ("memory", "memory://"):
        return MemoryStore()
    if url == "sqlite" or url.startswith("sqlite:"):
        from broker.store.sqlite import SQLiteStore

        path = url.removeprefix("sqlite").removeprefix(":")
        if url != "sqlite" and not path:
            raise ValueError("store sqlite: needs a path, e.g. sqlite:data/resources.sqlite3 (or plain 'sqlite')")
        return SQLiteStore(Path(path) if path else Path(data_dir) / SQLITE_FILE)
    if url.startswith(REDIS_SCHEMES):
        from broker.store.redis import RedisStore

        target = parse_redis_url(url)
        return RedisStore(target.url, namespace=target.namespace)
    raise ValueError(f"unknown store {url!r}: expected 'memory', 'sqlite', 'sqlite:PATH' or a redis:// URL")
