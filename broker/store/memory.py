"""The in-memory store: one process, nothing kept across restarts (tests, embedding, demos).

Objects are kept encoded (and decoded, for filtering), so callers get their own copies and
can never change what is stored by mutating a returned dict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from broker.store.base import (
    ANY,
    AlreadyExists,
    Change,
    Condition,
    JSONObject,
    NotFound,
    Page,
    PreconditionFailed,
    Query,
    Record,
    Store,
    check_objects,
)
from broker.store.query import select

__all__ = ["MemoryStore"]


@dataclass(slots=True)
class _Entry:
    data: JSONObject
    encoded: bytes
    version: int


class MemoryStore(Store):
    """Collections in dicts; a dict keeps insertion order, which is the creation order."""

    def __init__(self) -> None:
        super().__init__()
        self._collections: dict[str, dict[str, _Entry]] = {}
        self._revision = 0

    def _next_version(self) -> int:
        self._revision += 1
        return self._revision

    @staticmethod
    def _record(collection: str, object_id: str, entry: _Entry) -> Record:
        return Record(collection=collection, id=object_id, data=orjson.loads(entry.encoded), version=entry.version)

    async def get(self, collection: str, object_id: str) -> Record | None:
        self._reads += 1
        entry = self._collections.get(collection, {}).get(object_id)
        return None if entry is None else self._record(collection, object_id, entry)

    async def find(self, collection: str, query: Query) -> Page:
        self._reads += 1
        entries = self._collections.get(collection, {})
        # select() sees stored dicts (no copy); the page's records are decoded afresh below.
        shallow = [Record(collection=collection, id=key, data=entry.data, version=entry.version)
                   for key, entry in entries.items()]
        page = select(shallow, query)
        return Page(items=[self._record(collection, item.id, entries[item.id]) for item in page.items],
                    total=page.total)

    async def create(self, collection: str, objects: Sequence[Mapping[str, Any]]) -> list[Change]:
        ids = check_objects(objects)
        entries = self._collections.get(collection, {})
        for index, object_id in enumerate(ids):
            if object_id in entries:
                raise AlreadyExists(object_id, index=index)
        encoded = [orjson.dumps(item) for item in objects]
        entries = self._collections.setdefault(collection, {})
        changes = []
        for object_id, raw in zip(ids, encoded, strict=True):
            entry = entries[object_id] = _Entry(orjson.loads(raw), raw, self._next_version())
            changes.append(Change(action="created", record=self._record(collection, object_id, entry)))
        self._writes += 1
        return changes

    async def put(
        self, collection: str, object_id: str, data: Mapping[str, Any], *, condition: Condition = ANY
    ) -> Change:
        if data.get("id") != object_id:
            raise ValueError("data['id'] must equal object_id")
        raw = orjson.dumps(data)
        entries = self._collections.get(collection, {})
        current = entries.get(object_id)
        if not condition.holds(None if current is None else current.version):
            raise PreconditionFailed(None if current is None else current.version)
        entry = _Entry(orjson.loads(raw), raw, self._next_version())
        self._collections.setdefault(collection, {})[object_id] = entry
        self._writes += 1
        return Change(action="created" if current is None else "updated",
                      record=self._record(collection, object_id, entry))

    async def delete(self, collection: str, object_id: str, *, condition: Condition = ANY) -> Change:
        entries = self._collections.get(collection, {})
        current = entries.get(object_id)
        if not condition.holds(None if current is None else current.version):
            raise PreconditionFailed(None if current is None else current.version)
        if current is None:
            raise NotFound(object_id)
        del entries[object_id]
        if not entries:
            del self._collections[collection]
        self._writes += 1
        last = _Entry(current.data, current.encoded, self._next_version())
        return Change(action="deleted", record=self._record(collection, object_id, last))
