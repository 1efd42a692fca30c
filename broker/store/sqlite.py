"""The SQLite store: one file, durable across restarts; the default of ``bayeux-broker serve``.

The standard library's ``sqlite3`` runs on one worker thread of its own, which owns the
connection, so calls never block the event loop and never interleave. The file is in WAL
mode with ``synchronous=FULL`` by default: a write is on disk before its response is sent
and its change is published (``synchronous="normal"`` trades the last writes before a power
loss, never an application crash, for faster writes).

Filters and sorts follow :mod:`broker.store.query`, expressed in SQL with ``json_type`` and
``json_extract`` so that a page is computed by SQLite, not by loading the collection.
``sqlite3`` errors become :class:`StoreUnavailable` at this boundary.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, TypeVar

import orjson

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
    StoreUnavailable,
    check_objects,
)
from broker.store.query import is_scalar, json_scalar

__all__ = ["SQLiteStore"]

T = TypeVar("T")

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    created INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (collection, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS objects_by_creation ON objects (collection, created);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (key, value) VALUES ('revision', 0);
"""

# The rank of a value in the shared sort order (broker.store.query): json_type() of a missing
# field is NULL, which falls to ELSE 0.
_RANK = (
    "CASE json_type(data, ?) WHEN 'null' THEN 1 WHEN 'false' THEN 2 WHEN 'true' THEN 3 "
    "WHEN 'integer' THEN 4 WHEN 'real' THEN 4 WHEN 'text' THEN 5 WHEN 'array' THEN 6 WHEN 'object' THEN 7 ELSE 0 END"
)
_VALUE = "CASE WHEN json_type(data, ?) IN ('integer', 'real', 'text') THEN json_extract(data, ?) END"

_INT64 = (-(2**63), 2**63 - 1)


def _path(field: str) -> str:
    # Field names are checked against query.FIELD_NAME (no quote or backslash) before they get here.
    return f'$."{field}"'


def _number(value: int | float) -> int | float:
    """SQLite integers are 64-bit; a larger integer compares as the float it is stored as."""
    if isinstance(value, int) and not _INT64[0] <= value <= _INT64[1]:
        return float(value)
    return value


def _where(collection: str, filters: Sequence[tuple[str, str]]) -> tuple[str, list[Any]]:
    clauses = ["collection = ?"]
    params: list[Any] = [collection]
    for name, raw in filters:
        path = _path(name)
        options = ["(json_type(data, ?) = 'text' AND json_extract(data, ?) = ?)"]
        params += [path, path, raw]
        parsed = json_scalar(raw)
        if is_scalar(parsed):
            if parsed is None:
                options.append("json_type(data, ?) = 'null'")
                params.append(path)
            elif isinstance(parsed, bool):
                options.append("json_type(data, ?) = ?")
                params += [path, "true" if parsed else "false"]
            else:
                assert isinstance(parsed, int | float)
                options.append("(json_type(data, ?) IN ('integer', 'real') AND json_extract(data, ?) = ?)")
                params += [path, path, _number(parsed)]
        clauses.append("(" + " OR ".join(options) + ")")
    return " AND ".join(clauses), params


def _order(sort: Sequence[SortKey]) -> tuple[str, list[Any]]:
    terms: list[str] = []
    params: list[Any] = []
    for key in sort:
        direction = " DESC" if key.descending else ""
        path = _path(key.field)
        terms += [_RANK + direction, _VALUE + direction]
        params += [path, path, path]
    terms.append("created")
    return ", ".join(terms), params


class SQLiteStore(Store):
    """Collections in one SQLite file (created with its directory if missing)."""

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: Literal["full", "normal"] = "full",
        busy_timeout: float = 5.0,
    ) -> None:
        super().__init__()
        if synchronous not in ("full", "normal"):
            raise ValueError("synchronous must be 'full' or 'normal'")
        self.path = Path(path)
        self._synchronous = synchronous
        self._busy_timeout = busy_timeout
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        if self._executor is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")
        try:
            await self._run(self._open)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise

    async def close(self) -> None:
        if self._executor is None:
            return
        with contextlib.suppress(StoreUnavailable):
            await self._run(self._close)
        self._executor.shutdown(wait=True)
        self._executor = None

    def _open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreUnavailable(f"cannot create {self.path.parent}: {exc.strerror or exc}") from exc
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=self._busy_timeout)
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreUnavailable(f"{self.path} has schema version {version}; this broker knows {SCHEMA_VERSION}")
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous.upper()}")
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._conn.close()
            self._conn = None

    async def _run(self, function: Callable[..., T], *args: Any) -> T:
        """Run ``function`` on the worker thread; map SQLite and file errors to StoreUnavailable."""
        if self._executor is None:
            raise StoreUnavailable("the SQLite store is not started")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, function, *args)
        except (sqlite3.Error, OSError) as exc:
            self._errors += 1
            raise StoreUnavailable(f"SQLite store {self.path}: {exc}") from exc

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreUnavailable("the SQLite store is closed")
        return self._conn

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; IMMEDIATE takes the write lock first, so it cannot deadlock."""
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise
        self._writes += 1

    @staticmethod
    def _bump(db: sqlite3.Connection, count: int) -> int:
        """Take ``count`` versions from the store's counter; return the last one."""
        row = db.execute(
            "UPDATE meta SET value = value + ? WHERE key = 'revision' RETURNING value", (count,)
        ).fetchone()
        return int(row[0])

    # -- reads -------------------------------------------------------------------------

    async def get(self, collection: str, object_id: str) -> Record | None:
        return await self._run(self._get, collection, object_id)

    def _get(self, collection: str, object_id: str) -> Record | None:
        self._reads += 1
        row = self._db.execute(
            "SELECT version, data FROM objects WHERE collection = ? AND id = ?", (collection, object_id)
        ).fetchone()
        if row is None:
            return None
        return Record(collection=collection, id=object_id, data=orjson.loads(row[1]), version=row[0])

    async def find(self, collection: str, query: Query) -> Page:
        return await self._run(self._find, collection, query)

    def _find(self, collection: str, query: Query) -> Page:
        self._reads += 1
        where, params = _where(collection, query.filters)
        order, order_params = _order(query.sort)
        db = self._db
        db.execute("BEGIN")  # one snapshot for the page and the total
        try:
            total = db.execute(f"SELECT COUNT(*) FROM objects WHERE {where}", params).fetchone()[0]
            rows = db.execute(
                f"SELECT id, version, data FROM objects WHERE {where} ORDER BY {order} LIMIT ? OFFSET ?",
                [*params, *order_params, query.limit, query.offset],
            ).fetchall()
        finally:
            db.execute("COMMIT")
        items = [Record(collection=collection, id=row[0], data=orjson.loads(row[2]), version=row[1]) for row in rows]
        return Page(items=items, total=int(total))

    # -- writes ------------------------------------------------------------------------

    async def create(self, collection: str, objects: Sequence[Mapping[str, Any]]) -> list[Change]:
        ids = check_objects(objects)
        encoded = [orjson.dumps(item).decode() for item in objects]
        if not ids:
            return []
        versions = await self._run(self._create, collection, ids, encoded)
        return [
            Change(action="created", record=Record(collection=collection, id=object_id,
                                                   data=orjson.loads(raw), version=version))
            for object_id, raw, version in zip(ids, encoded, versions, strict=True)
        ]

    def _create(self, collection: str, ids: list[str], encoded: list[str]) -> list[int]:
        with self._write() as db:
            for start in range(0, len(ids), 500):  # SQLite binds at most 32766 parameters
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                found = {row[0] for row in db.execute(
                    f"SELECT id FROM objects WHERE collection = ? AND id IN ({marks})", [collection, *chunk])}
                for index, object_id in enumerate(chunk, start):
                    if object_id in found:
                        raise AlreadyExists(object_id, index=index)
            last = self._bump(db, len(ids))
            versions = list(range(last - len(ids) + 1, last + 1))
            db.executemany(
                "INSERT INTO objects (collection, id, version, created, data) VALUES (?, ?, ?, ?, ?)",
                [(collection, object_id, version, version, raw)
                 for object_id, raw, version in zip(ids, encoded, versions, strict=True)],
            )
        return versions

    async def put(
        self, collection: str, object_id: str, data: Mapping[str, Any], *, condition: Condition = ANY
    ) -> Change:
        if data.get("id") != object_id:
            raise ValueError("data['id'] must equal object_id")
        raw = orjson.dumps(data).decode()
        created, version = await self._run(self._put, collection, object_id, raw, condition)
        record = Record(collection=collection, id=object_id, data=orjson.loads(raw), version=version)
        return Change(action="created" if created else "updated", record=record)

    def _put(self, collection: str, object_id: str, raw: str, condition: Condition) -> tuple[bool, int]:
        with self._write() as db:
            row = db.execute(
                "SELECT version FROM objects WHERE collection = ? AND id = ?", (collection, object_id)
            ).fetchone()
            current = None if row is None else int(row[0])
            if not condition.holds(current):
                raise PreconditionFailed(current)
            version = self._bump(db, 1)
            if row is None:
                db.execute("INSERT INTO objects (collection, id, version, created, data) VALUES (?, ?, ?, ?, ?)",
                           (collection, object_id, version, version, raw))
            else:
                db.execute("UPDATE objects SET version = ?, data = ? WHERE collection = ? AND id = ?",
                           (version, raw, collection, object_id))
        return row is None, version

    async def delete(self, collection: str, object_id: str, *, condition: Condition = ANY) -> Change:
        raw, version = await self._run(self._delete, collection, object_id, condition)
        return Change(action="deleted",
                      record=Record(collection=collection, id=object_id, data=orjson.loads(raw), version=version))

    def _delete(self, collection: str, object_id: str, condition: Condition) -> tuple[str, int]:
        with self._write() as db:
            row = db.execute(
                "SELECT version, data FROM objects WHERE collection = ? AND id = ?", (collection, object_id)
            ).fetchone()
            current = None if row is None else int(row[0])
            if not condition.holds(current):
                raise PreconditionFailed(current)
            if row is None:
                raise NotFound(object_id)
            db.execute("DELETE FROM objects WHERE collection = ? AND id = ?", (collection, object_id))
            return str(row[1]), self._bump(db, 1)
