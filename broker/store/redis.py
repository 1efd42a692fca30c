"""The Redis store: every broker on one Redis serves the same data (used with the Redis engine).

Each write is one Lua script, so the precondition check, the version counter and the write are
one atomic compare-and-set. Key layout (``ns`` is the namespace, ``bayeux`` by default)::

    ns:store:revision            INCR counter: the version of every write, never reused
    ns:store:<collection>:data   HASH id -> the object's JSON
    ns:store:<collection>:ver    HASH id -> version
    ns:store:<collection>:order  ZSET id scored by the version that created it (creation order)
    ns:store:lock:<collection>/<id>   short-lived lock (PX) held from a write until its change is published

The lock makes changes to one object publish in the order they were stored even when several
brokers write it at once (:meth:`RedisStore.ordered`). Listing without filters or sorts reads
one page; with them it reads the collection and applies :mod:`broker.store.query` here, so it
is O(collection size). Redis errors become :class:`StoreUnavailable` at this boundary.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar

import orjson
import redis.asyncio as aioredis

from broker.redis_client import RedisBoundary
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
    Store,
    StoreStatistics,
    StoreUnavailable,
    check_objects,
)
from broker.store.query import select

__all__ = ["RedisStore"]

T = TypeVar("T")

_HOLDS = """
local function holds(current, exists, has_match, match, none_match)
  if exists == '1' and not current then return false end
  if exists == '0' and current then return false end
  if has_match == '1' then
    if not current then return false end
    if not string.find(',' .. match .. ',', ',' .. current .. ',', 1, true) then return false end
  end
  if current and none_match ~= '' and string.find(',' .. none_match .. ',', ',' .. current .. ',', 1, true) then
    return false
  end
  return true
end
"""

# KEYS: revision, data, ver, order. ARGV: id, json, exists, has_match, match, none_match.
_PUT = _HOLDS + """
local current = redis.call('HGET', KEYS[3], ARGV[1])
if not holds(current, ARGV[3], ARGV[4], ARGV[5], ARGV[6]) then return {'precondition', current or ''} end
local version = redis.call('INCR', KEYS[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[3], ARGV[1], version)
if current then return {'updated', version} end
redis.call('ZADD', KEYS[4], version, ARGV[1])
return {'created', version}
"""

# KEYS: revision, data, ver, order. ARGV: id, exists, has_match, match, none_match.
_DELETE = _HOLDS + """
local current = redis.call('HGET', KEYS[3], ARGV[1])
if not holds(current, ARGV[2], ARGV[3], ARGV[4], ARGV[5]) then return {'precondition', current or ''} end
if not current then return {'notfound'} end
local data = redis.call('HGET', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
return {'deleted', redis.call('INCR', KEYS[1]), data}
"""

# KEYS: revision, data, ver, order. ARGV: n, id 1..n, json 1..n. All or nothing.
_CREATE = """
local n = tonumber(ARGV[1])
for i = 1, n do
  if redis.call('HEXISTS', KEYS[3], ARGV[1 + i]) == 1 then return {'exists', i - 1} end
end
local last = redis.call('INCRBY', KEYS[1], n)
for i = 1, n do
  local version = last - n + i
  redis.call('HSET', KEYS[2], ARGV[1 + i], ARGV[1 + n + i])
  redis.call('HSET', KEYS[3], ARGV[1 + i], version)
  redis.call('ZADD', KEYS[4], version, ARGV[1 + i])
end
return {'ok', last}
"""

# KEYS: data, ver, order. ARGV: offset, count (-1: all). Returns {total, id, version, json, ...}.
_LIST = """
local total = redis.call('ZCARD', KEYS[3])
local stop = -1
if tonumber(ARGV[2]) >= 0 then stop = tonumber(ARGV[1]) + tonumber(ARGV[2]) - 1 end
local ids = redis.call('ZRANGE', KEYS[3], ARGV[1], stop)
local out = {total}
for start = 1, #ids, 500 do
  local chunk = {}
  for i = start, math.min(start + 499, #ids) do chunk[#chunk + 1] = ids[i] end
  local versions = redis.call('HMGET', KEYS[2], unpack(chunk))
  local datas = redis.call('HMGET', KEYS[1], unpack(chunk))
  for i = 1, #chunk do
    out[#out + 1] = chunk[i]; out[#out + 1] = versions[i]; out[#out + 1] = datas[i]
  end
end
return out
"""

# KEYS: lock keys. ARGV: token, ttl ms. Takes every lock or none.
_LOCK = """
for _, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 1 then return 0 end
end
for _, key in ipairs(KEYS) do redis.call('SET', key, ARGV[1], 'PX', ARGV[2]) end
return 1
"""

_UNLOCK = """
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then redis.call('DEL', key) end
end
return 1
"""


def _condition_args(condition: Condition) -> list[str]:
    exists = "" if condition.exists is None else ("1" if condition.exists else "0")
    has_match = "0" if condition.match is None else "1"
    match = ",".join(str(version) for version in sorted(condition.match or ()))
    none_match = ",".join(str(version) for version in sorted(condition.none_match))
    return [exists, has_match, match, none_match]


def _current(raw: bytes) -> int | None:
    return int(raw) if raw else None


class RedisStore(Store):
    """Collections in Redis hashes, shared by every broker on the same namespace."""

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        namespace: str = "bayeux",
        lock_ttl: float = 10.0,
        lock_wait: float = 5.0,
    ) -> None:
        super().__init__()
        self.url = url
        self.ns = namespace
        self._lock_ttl_ms = int(lock_ttl * 1000)
        self._lock_wait = lock_wait
        self._redis = RedisBoundary(url, scripts={"put": _PUT, "delete": _DELETE, "create": _CREATE, "list": _LIST,
                                                  "lock": _LOCK, "unlock": _UNLOCK},
                                    unavailable=StoreUnavailable, name="Redis store")

    # -- keys --------------------------------------------------------------------------

    def _keys(self, collection: str) -> list[str]:
        if ":" in collection:
            raise ValueError("a collection name cannot contain ':'")
        prefix = f"{self.ns}:store:{collection}"
        return [f"{self.ns}:store:revision", f"{prefix}:data", f"{prefix}:ver", f"{prefix}:order"]

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        self._redis.open()

    async def close(self) -> None:
        await self._redis.close()

    async def _script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        return await self._redis.script(name, keys, args)

    async def _call(self, operation: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
        return await self._redis.call(operation)

    # -- reads -------------------------------------------------------------------------

    async def get(self, collection: str, object_id: str) -> Record | None:
        _, data_key, ver_key, _ = self._keys(collection)

        async def run(r: aioredis.Redis) -> list[Any]:
            async with r.pipeline(transaction=True) as pipe:
                pipe.hget(data_key, object_id)
                pipe.hget(ver_key, object_id)
                result: list[Any] = await pipe.execute()
                return result

        self._reads += 1
        raw, version = await self._call(run)
        if raw is None or version is None:
            return None
        return Record(collection=collection, id=object_id, data=orjson.loads(raw), version=int(version))

    async def find(self, collection: str, query: Query) -> Page:
        _, data_key, ver_key, order_key = self._keys(collection)
        self._reads += 1
        if not query.filters and not query.sort:
            flat = await self._script("list", [data_key, ver_key, order_key], [query.offset, query.limit])
            return Page(items=self._records(collection, flat[1:]), total=int(flat[0]))
        flat = await self._script("list", [data_key, ver_key, order_key], [0, -1])
        return select(self._records(collection, flat[1:]), query)

    @staticmethod
    def _records(collection: str, flat: list[Any]) -> list[Record]:
        return [
            Record(collection=collection, id=flat[i].decode(), version=int(flat[i + 1]), data=orjson.loads(flat[i + 2]))
            for i in range(0, len(flat), 3)
            if flat[i + 1] is not None and flat[i + 2] is not None
        ]

    # -- writes ------------------------------------------------------------------------

    async def create(self, collection: str, objects: Sequence[Mapping[str, Any]]) -> list[Change]:
        ids = check_objects(objects)
        if not ids:
            return []
        encoded = [orjson.dumps(item) for item in objects]
        result = await self._script("create", self._keys(collection), [len(ids), *ids, *encoded])
        if result[0] == b"exists":
            index = int(result[1])
            raise AlreadyExists(ids[index], index=index)
        last = int(result[1])
        self._writes += 1
        first = last - len(ids) + 1
        return [
            Change(action="created", record=Record(collection=collection, id=object_id,
                                                   data=orjson.loads(raw), version=first + offset))
            for offset, (object_id, raw) in enumerate(zip(ids, encoded, strict=True))
        ]

    async def put(
        self, collection: str, object_id: str, data: Mapping[str, Any], *, condition: Condition = ANY
    ) -> Change:
        if data.get("id") != object_id:
            raise ValueError("data['id'] must equal object_id")
        raw = orjson.dumps(data)
        result = await self._script("put", self._keys(collection), [object_id, raw, *_condition_args(condition)])
        if result[0] == b"precondition":
            raise PreconditionFailed(_current(result[1]))
        self._writes += 1
        record = Record(collection=collection, id=object_id, data=orjson.loads(raw), version=int(result[1]))
        return Change(action="created" if result[0] == b"created" else "updated", record=record)

    async def delete(self, collection: str, object_id: str, *, condition: Condition = ANY) -> Change:
        result = await self._script("delete", self._keys(collection), [object_id, *_condition_args(condition)])
        if result[0] == b"precondition":
            raise PreconditionFailed(_current(result[1]))
        if result[0] == b"notfound":
            raise NotFound(object_id)
        self._writes += 1
        record = Record(collection=collection, id=object_id, data=orjson.loads(result[2]), version=int(result[1]))
        return Change(action="deleted", record=record)

    # -- ordering across brokers -------------------------------------------------------

    @contextlib.asynccontextmanager
    async def _ordered(self, collection: str, object_ids: Collection[str]) -> AsyncIterator[None]:
        async with self._locks.hold([f"{collection}/{object_id}" for object_id in object_ids]):
            keys = sorted({f"{self.ns}:store:lock:{collection}/{object_id}" for object_id in object_ids})
            token = secrets.token_hex(8)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + self._lock_wait
            delay = 0.002
            while not await self._script("lock", keys, [token, self._lock_ttl_ms]):
                self._lock_waits += 1
                if loop.time() > deadline:
                    raise StoreUnavailable("another broker has held these objects for too long")
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 0.05)
            try:
                yield
            finally:
                with contextlib.suppress(StoreUnavailable):
                    await self._script("unlock", keys, [token])

    def ordered(self, collection: str, object_ids: Collection[str]) -> contextlib.AbstractAsyncContextManager[None]:
        """In-process locks, then the same objects locked in Redis for every other broker."""
        return self._ordered(collection, object_ids)

    def statistics(self) -> StoreStatistics:
        return dataclasses.replace(super().statistics(), errors=self._redis.errors)
