"""The store interface: collections of JSON objects with versions (docs/architecture.md §1, §4).

Every store passes the one contract suite in ``tests/store``. The contract, in short:

- A *collection* holds JSON objects keyed by their string ``id``; the object itself always
  carries that ``id`` as a field. Collections exist as soon as they hold an object.
- Every write gives the object a new *version*: a positive integer taken from one counter per
  store, so versions only grow, differ between any two writes, and are never reused, not even
  after a delete and a re-create of the same id (an old ``ETag`` can never match a new object).
- Writes take a :class:`Condition` (``If-Match`` / ``If-None-Match``) that the store checks
  atomically with the write (compare-and-set): when it does not hold, nothing is written and
  :class:`PreconditionFailed` is raised. The condition is checked before existence, as
  RFC 9110 §13.2.2 orders it.
- :meth:`Store.create` is all or nothing: when any id already exists (or repeats), nothing is
  written and :class:`AlreadyExists` carries the index of the first offending object.
- :meth:`Store.find` lists a collection: it filters by field equality, sorts by fields (see
  :mod:`broker.store.query` for the exact rules, which every store follows), and returns one
  page plus the total.
- :meth:`Store.ordered` serialises writers of the same objects from the write until its change
  is published, so that changes are published in the order they were stored.

Exceptions (all store errors derive from :class:`StoreError`)::

    StoreError
    ├── NotFound             the object does not exist
    ├── AlreadyExists        create() met an existing or repeated id (``index``)
    ├── PreconditionFailed   the Condition did not hold (``current``: the version found, or None)
    └── StoreUnavailable     the backing store cannot be reached or failed (SQLite I/O, Redis)

Backend errors (``sqlite3.Error``, ``redis.RedisError``, ``OSError``) are mapped to
:class:`StoreUnavailable` at each store's boundary; they never reach callers.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from broker.errors import BrokerError

__all__ = [
    "ANY",
    "AlreadyExists",
    "Change",
    "Condition",
    "JSONObject",
    "KeyedLocks",
    "NotFound",
    "Page",
    "PreconditionFailed",
    "Query",
    "Record",
    "SortKey",
    "Store",
    "StoreError",
    "StoreStatistics",
    "StoreUnavailable",
    "new_id",
]

JSONObject = dict[str, Any]
Action = Literal["created", "updated", "deleted"]


class StoreError(BrokerError):
    """Root of every store error (under :class:`broker.errors.BrokerError`)."""


class NotFound(StoreError):
    """The object does not exist."""


class AlreadyExists(StoreError):
    """``create`` met an id that exists already or repeats; ``index`` is the offending object's."""

    def __init__(self, object_id: str, *, index: int) -> None:
        super().__init__(f"object {object_id!r} (item {index}) already exists")
        self.id = object_id
        self.index = index


class PreconditionFailed(StoreError):
    """The write's :class:`Condition` did not hold; ``current`` is the version found (None: absent)."""

    def __init__(self, current: int | None) -> None:
        super().__init__("precondition failed" if current is None else f"precondition failed at version {current}")
        self.current = current


class StoreUnavailable(StoreError):
    """The backing store cannot be reached or reported a failure."""


@dataclass(frozen=True, kw_only=True)
class Record:
    """One stored object: ``data`` always contains ``"id": id``."""

    collection: str
    id: str
    data: JSONObject
    version: int


@dataclass(frozen=True, kw_only=True)
class Change:
    """A committed write, as it is published: a deleted change carries the object's last data."""

    action: Action
    record: Record

    def event(self) -> JSONObject:
        """The Bayeux ``data`` of the change event: ``{"action", "id", "data", "version"}``."""
        return {"action": self.action, "id": self.record.id, "data": self.record.data, "version": self.record.version}


@dataclass(frozen=True, kw_only=True)
class Condition:
    """Preconditions on the current version, checked atomically with a write (RFC 9110 §13.1).

    ``exists``: True for ``If-Match: *``, False for ``If-None-Match: *``. ``match``: the
    current version must be one of these (``If-Match`` with entity tags; an empty set never
    matches). ``none_match``: the current version must not be one of these.
    """

    exists: bool | None = None
    match: frozenset[int] | None = None
    none_match: frozenset[int] = frozenset()

    def holds(self, current: int | None) -> bool:
        if self.exists is not None and (current is not None) != self.exists:
            return False
        if self.match is not None and (current is None or current not in self.match):
            return False
        return current is None or current not in self.none_match

    @property
    def is_any(self) -> bool:
        return self.exists is None and self.match is None and not self.none_match


ANY = Condition()
"""No precondition."""


@dataclass(frozen=True)
class SortKey:
    field: str
    descending: bool = False


@dataclass(frozen=True, kw_only=True)
class Query:
    """A page of a collection: ``filters`` are ``(field, value as written in the URL)`` pairs."""

    filters: tuple[tuple[str, str], ...] = ()
    sort: tuple[SortKey, ...] = ()
    limit: int = 100
    offset: int = 0


@dataclass(frozen=True, kw_only=True)
class Page:
    items: list[Record]
    total: int
    """How many objects match the filters, over all pages."""


def new_id() -> str:
    """A fresh object id for ``POST`` without one: 32 lowercase hex digits (a random UUID)."""
    return uuid.uuid4().hex


class KeyedLocks:
    """In-process locks by key, dropped once nobody holds or waits for them (no leak)."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}
        self.waits = 0
        """Times a holder had to wait for another holder of the same key."""

    @contextlib.asynccontextmanager
    async def hold(self, keys: Collection[str]) -> AsyncIterator[None]:
        """Hold every key; keys are taken in sorted order so two holders never deadlock."""
        ordered = sorted(set(keys))
        for key in ordered:
            self._users[key] = self._users.get(key, 0) + 1
        taken: list[str] = []
        try:
            for key in ordered:
                lock = self._locks.get(key)
                if lock is None:
                    lock = self._locks[key] = asyncio.Lock()
                if lock.locked():
                    self.waits += 1
                await lock.acquire()
                taken.append(key)
            yield
        finally:
            for key in taken:
                self._locks[key].release()
            for key in ordered:
                self._users[key] -= 1
                if not self._users[key]:
                    del self._users[key]
                    self._locks.pop(key, None)

    def __len__(self) -> int:
        return len(self._locks)


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreStatistics:
    """What a store did since it started; the same meaning for every store."""

    reads: int
    """``get`` and ``find`` calls answered."""
    writes: int
    """Write operations committed (``create`` of many objects is one)."""
    errors: int
    """Calls that failed because the backend could not be reached or failed (0 in memory)."""
    lock_waits: int
    """Times a write waited for another write to the same object (in this process or, for a
    shared store, in another)."""
    locks_held: int
    """Objects locked now in this process (a gauge)."""


class Store(ABC):
    """Collections of versioned JSON objects. Methods are coroutines so that I/O fits.

    Implementations count into ``_reads``, ``_writes``, ``_errors`` and ``_lock_waits``; the
    base class reports them (:meth:`statistics`).
    """

    def __init__(self) -> None:
        self._locks = KeyedLocks()
        self._reads = 0
        self._writes = 0
        self._errors = 0
        self._lock_waits = 0

    async def start(self) -> None:
        """Open files or connections; called once before use."""

    async def close(self) -> None:
        """Release files or connections."""

    @abstractmethod
    async def get(self, collection: str, object_id: str) -> Record | None:
        """The object, or None."""

    @abstractmethod
    async def find(self, collection: str, query: Query) -> Page:
        """Objects matching ``query.filters``, sorted by ``query.sort`` then by creation order.

        Returns at most ``query.limit`` of them after skipping ``query.offset``, and the total.
        """

    @abstractmethod
    async def create(self, collection: str, objects: Sequence[Mapping[str, Any]]) -> list[Change]:
        """Insert new objects, all or nothing. Each object must carry a string ``id``.

        Raises :class:`AlreadyExists` (with the index) when an id exists or repeats. Returns
        one ``created`` change per object, in order, with increasing versions.
        """

    @abstractmethod
    async def put(
        self, collection: str, object_id: str, data: Mapping[str, Any], *, condition: Condition = ANY
    ) -> Change:
        """Create or replace the object if ``condition`` holds (else :class:`PreconditionFailed`).

        ``data`` must carry ``"id": object_id``. Returns a ``created`` or ``updated`` change.
        """

    @abstractmethod
    async def delete(self, collection: str, object_id: str, *, condition: Condition = ANY) -> Change:
        """Delete the object if ``condition`` holds (else :class:`PreconditionFailed`).

        Raises :class:`NotFound` when it does not exist. The returned ``deleted`` change has
        the object's last data and a new version.
        """

    def ordered(self, collection: str, object_ids: Collection[str]) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold while writing these objects and publishing their changes.

        Writers of the same object take turns, so their changes are published in the order
        they were stored. The default holds in-process locks, which is enough for stores that
        one process owns; a store shared by several processes also locks in the shared store.
        """
        return self._locks.hold([f"{collection}/{object_id}" for object_id in object_ids])

    def statistics(self) -> StoreStatistics:
        """Counters for monitoring (trio's ``statistics()`` convention)."""
        return StoreStatistics(reads=self._reads, writes=self._writes, errors=self._errors,
                               lock_waits=self._lock_waits + self._locks.waits, locks_held=len(self._locks))


def check_objects(objects: Sequence[Mapping[str, Any]]) -> list[str]:
    """The ids of objects about to be created; raise AlreadyExists for a repeated id."""
    ids: list[str] = []
    seen: set[str] = set()
    for index, item in enumerate(objects):
        object_id = item.get("id")
        if not isinstance(object_id, str):
            raise ValueError(f"object {index} has no string id")
        if object_id in seen:
            raise AlreadyExists(object_id, index=index)
        seen.add(object_id)
        ids.append(object_id)
    return ids

