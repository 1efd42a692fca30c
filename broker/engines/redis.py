"""The Redis engine: several broker processes on one Redis behave as one broker.

Compared with faye-redis (docs/protocol.md §5.6), on purpose:

- a published payload is stored **once** (``msg:<n>``, with a TTL) and recipients' queues hold
  its number, not a copy;
- publish, take, subscribe and destroy are each **one** round trip (Lua scripts), so they
  are atomic and pipelined; the takes of one loop turn (every client a wake-up names) go out
  as **one** script call, which also reads each stored payload once for all of them;
- every key has an owner that deletes it (the client's destroy) or a TTL;
- a node is woken only for the clients whose connection it holds: ``nodes`` maps a client
  to the node that last served its connect, and wake-ups go to ``wake:<node>`` only;
- dead clients are collected under a lock, so only one node does it; the pub/sub
  connection reconnects by itself with jittered backoff.

Key layout (``ns`` is the namespace, ``bayeux`` by default) is documented in
``docs/redis.md``. Redis errors become :class:`EngineUnavailable` at this boundary.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import secrets
import time
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from broker.delivery import Delivery
from broker.engines.base import Engine, EngineCounters, EngineStatistics
from broker.errors import EngineUnavailable
from broker.events import MonitorEvent
from broker.redis_client import RedisBoundary, open_redis

__all__ = ["RedisEngine"]

log = logging.getLogger(__name__)

TAKE_BATCH = 1000
"""Most clients whose queues one take script call empties."""

CLOSE_WAIT = 3.0
"""Seconds ``close`` waits for the engine's background tasks to stop."""

LISTEN_WAIT = 5.0
"""Seconds ``start`` waits for the pub/sub listener to subscribe."""

# KEYS: clients, nodes. ARGV: client id, now ms, node.
_PING = """
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
"""

# KEYS: clients, nodes. ARGV: client id, node.
_CLAIM = """
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return 1
"""

_SUBSCRIBE = """
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return -1 end
local added = redis.call('SADD', KEYS[2], ARGV[2])
redis.call('SADD', KEYS[3], ARGV[1])
return added
"""

_UNSUBSCRIBE = """
local removed = redis.call('SREM', KEYS[2], ARGV[2])
if removed == 1 then redis.call('SREM', KEYS[3], ARGV[1]) end
return removed
"""

# KEYS: the subscriber sets of the expanded channel. ARGV: ns, payload, payload ttl ms,
# max queue, queue ttl ms. Returns {queued count, overflowed ids...}.
_PUBLISH = """
local ns = ARGV[1]
local recipients = redis.call('SUNION', unpack(KEYS))
if #recipients == 0 then return {0} end
local id = redis.call('INCR', ns .. ':msgseq')
redis.call('SET', ns .. ':msg:' .. id, ARGV[2], 'PX', ARGV[3])
local limit = tonumber(ARGV[4])
local wakes = {}
local result = {0}
for start = 1, #recipients, 500 do
  local last = math.min(start + 499, #recipients)
  local nodes = redis.call('HMGET', ns .. ':nodes', unpack(recipients, start, last))
  for i = start, last do
    local cid = recipients[i]
    local queue = ns .. ':client:' .. cid .. ':queue'
    -- a queue past the limit gets its client destroyed (which deletes the queue), so the one
    -- extra entry does not matter and RPUSH's reply saves an LLEN per recipient
    if redis.call('RPUSH', queue, id) > limit then
      table.insert(result, cid)
    else
      redis.call('PEXPIRE', queue, ARGV[5])
      result[1] = result[1] + 1
      local node = nodes[i - start + 1]
      if node then
        if wakes[node] then wakes[node] = wakes[node] .. ',' .. cid else wakes[node] = cid end
      end
    end
  end
end
for node, cids in pairs(wakes) do redis.call('PUBLISH', ns .. ':wake:' .. node, cids) end
return result
"""

# KEYS: the queues of several clients. ARGV: ns. Returns {{id, payload, ...}, ids of queue 1,
# ids of queue 2, ...}: each stored payload once (recipients of one fan-out share it), then
# each queue's message numbers in order (those whose payload expired left out).
_TAKE = """
local seen = {}
local wanted = {}
local queues = {}
for k = 1, #KEYS do
  local ids = redis.call('LRANGE', KEYS[k], 0, -1)
  if #ids > 0 then
    redis.call('DEL', KEYS[k])
    for _, id in ipairs(ids) do
      if not seen[id] then seen[id] = true; wanted[#wanted + 1] = id end
    end
  end
  queues[k] = ids
end
local payloads = {}
local found = {}
for start = 1, #wanted, 500 do
  local keys = {}
  local last = math.min(start + 499, #wanted)
  for i = start, last do keys[#keys + 1] = ARGV[1] .. ':msg:' .. wanted[i] end
  local values = redis.call('MGET', unpack(keys))
  for i = start, last do
    local payload = values[i - start + 1]
    if payload then
      found[wanted[i]] = true
      payloads[#payloads + 1] = wanted[i]
      payloads[#payloads + 1] = payload
    end
  end
end
local out = {payloads}
for k = 1, #KEYS do
  local kept = {}
  for _, id in ipairs(queues[k]) do
    if found[id] then kept[#kept + 1] = id end
  end
  out[k + 1] = kept
end
return out
"""

# KEYS: clients, queue. ARGV: client id, queue ttl ms, ids to put back in order.
_REQUEUE = """
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
for i = #ARGV, 3, -1 do redis.call('LPUSH', KEYS[2], ARGV[i]) end
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
"""

# KEYS: clients, client channels, queue, nodes. ARGV: client id, ns, closed channel, node.
# Returns the channels the client had, or false if it did not exist.
_DESTROY = """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then return false end
local channels = redis.call('SMEMBERS', KEYS[2])
for _, channel in ipairs(channels) do
  redis.call('SREM', ARGV[2] .. ':channel:' .. channel, ARGV[1])
end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('PUBLISH', ARGV[3], ARGV[4] .. ' ' .. ARGV[1])
return channels
"""

_RELEASE_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


class RedisEngine(Engine):
    """Clients, subscriptions and queues in Redis, shared by every broker on the same namespace."""

    def __init__(
        self,
        url: str = "redis://127.0.0.1:6379/0",
        *,
        namespace: str = "bayeux",
        gc_interval: float | None = None,
        node_id: str | None = None,
    ) -> None:
        self.url = url
        self.ns = namespace
        self.node_id = node_id or secrets.token_hex(8)
        self._gc_interval = gc_interval
        self._redis = RedisBoundary(url, scripts=_SCRIPTS, unavailable=EngineUnavailable, name="Redis engine")
        self._listener_redis: aioredis.Redis | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._takes: dict[str, list[asyncio.Future[list[Delivery]]]] = {}
        """Clients whose queue a caller waits for, gathered for the next take script call."""
        self._taker: asyncio.Task[None] | None = None
        self._listening = asyncio.Event()
        self._count = EngineCounters()
        self._listener_errors = 0

    # -- keys --------------------------------------------------------------------------

    def _k(self, *parts: str) -> str:
        return ":".join((self.ns, *parts))

    def _channel_key(self, channel: str) -> str:
        return f"{self.ns}:channel:{channel}"

    @property
    def _ttl_ms(self) -> int:
        return int(self.client_ttl * 1000)

    # -- lifecycle ---------------------------------------------------------------------

    def shared_store_url(self) -> str | None:
        """Every node of a cluster serves the same REST data: the Redis store on this Redis."""
        from urllib.parse import urlencode, urlsplit, urlunsplit

        parts = urlsplit(self.url)
        query = "&".join(filter(None, [parts.query, urlencode({"namespace": self.ns})]))
        return urlunsplit(parts._replace(query=query))

    async def start(self) -> None:
        self._redis.open()
        # its own connection, without retries: a cut must reach _listen, which then resyncs
        self._listener_redis = open_redis(self.url, max_connections=2, retries=0)
        loop = asyncio.get_running_loop()
        self._listening = asyncio.Event()
        self._tasks = [loop.create_task(self._listen()), loop.create_task(self._collect_garbage())]
        # wake-ups published before the listener subscribed would be lost: wait for it (bounded;
        # while Redis cannot be reached it goes on retrying, and resyncs once it is back)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), LISTEN_WAIT)

    async def close(self) -> None:
        if self._taker is not None:
            self._tasks.append(self._taker)
            self._taker = None
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # bounded: a task that swallowed its cancellation must not hold the broker's shutdown
            _, pending = await asyncio.wait(self._tasks, timeout=CLOSE_WAIT)
            for task in pending:
                log.warning("Redis engine task %s did not stop within %.0f s", task.get_name(), CLOSE_WAIT)
            for task in self._tasks:
                if task.done() and not task.cancelled():
                    task.exception()  # retrieved: a failure while closing is no news
        self._tasks = []
        await self._redis.close()
        if self._listener_redis is not None:
            await self._listener_redis.aclose()
            self._listener_redis = None

    async def _script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        return await self._redis.script(name, keys, args)

    # -- clients -----------------------------------------------------------------------

    async def create_client(self, client_id: str) -> None:
        now = int(time.time() * 1000)

        async def run(r: aioredis.Redis) -> None:
            async with r.pipeline(transaction=True) as pipe:
                pipe.zadd(self._k("clients"), {client_id: now}, nx=True)
                pipe.hset(self._k("nodes"), client_id, self.node_id)  # it will most likely connect here
                await pipe.execute()

        await self._redis.call(run)
        self._count.created += 1
        self.events.emit(MonitorEvent.HANDSHAKE, client_id)

    async def client_exists(self, client_id: str) -> bool:
        score = await self._redis.call(lambda r: r.zscore(self._k("clients"), client_id))
        return score is not None and score > time.time() * 1000 - self._ttl_ms

    async def ping(self, client_id: str) -> None:
        """Heartbeat from the node serving the client's connect: this node now holds the client."""
        await self._script("ping", [self._k("clients"), self._k("nodes")],
                           [client_id, int(time.time() * 1000), self.node_id])

    async def claim(self, client_id: str) -> None:
        await self._script("claim", [self._k("clients"), self._k("nodes")], [client_id, self.node_id])

    async def destroy_client(self, client_id: str) -> None:
        channels = await self._script(
            "destroy",
            [self._k("clients"), self._k("client", client_id, "channels"), self._k("client", client_id, "queue"),
             self._k("nodes")],
            [client_id, self.ns, self._k("closed"), self.node_id],
        )
        if channels is None:
            return
        self._count.destroyed += 1
        self._count.unsubscribed += len(channels)
        for channel in channels:
            self.events.emit(MonitorEvent.UNSUBSCRIBE, client_id, channel.decode())
        self.events.emit(MonitorEvent.DISCONNECT, client_id)
        self.recipients.client_destroyed(client_id)

    # -- subscriptions -----------------------------------------------------------------

    async def subscribe(self, client_id: str, channel: str) -> bool:
        added = await self._script(
            "subscribe",
            [self._k("clients"), self._k("client", client_id, "channels"), self._channel_key(channel)],
            [client_id, channel],
        )
        if added == 1:
            self._count.subscribed += 1
            self.events.emit(MonitorEvent.SUBSCRIBE, client_id, channel)
            return True
        return False

    async def unsubscribe(self, client_id: str, channel: str) -> bool:
        removed = await self._script(
            "unsubscribe",
            [self._k("clients"), self._k("client", client_id, "channels"), self._channel_key(channel)],
            [client_id, channel],
        )
        if removed == 1:
            self._count.unsubscribed += 1
            self.events.emit(MonitorEvent.UNSUBSCRIBE, client_id, channel)
            return True
        return False

    async def subscription_count(self, client_id: str) -> int:
        count: int = await self._redis.call(lambda r: r.scard(self._k("client", client_id, "channels")))
        return count

    # -- messages ----------------------------------------------------------------------

    async def publish(self, delivery: Delivery, keys: tuple[str, ...], publisher: object) -> int:
        result = await self._script(
            "publish",
            [self._channel_key(key) for key in keys],
            [self.ns, delivery.encoded, 2 * self._ttl_ms, self.max_queue, 2 * self._ttl_ms],
        )
        self._count.published += 1
        self.events.emit(MonitorEvent.PUBLISH, publisher, delivery.channel, delivery.message.get("data"))
        queued = int(result[0])
        self._count.queued += queued
        self._count.deliveries += queued  # every copy is queued in Redis
        for raw in result[1:]:
            client_id = raw.decode()
            self._count.overflows += 1
            log.warning("client %s exceeded max_queue=%d and is disconnected", client_id, self.max_queue)
            await self.destroy_client(client_id)
        return queued

    async def take_queue(self, client_id: str) -> list[Delivery]:
        """Take what is queued for the client, in order.

        The calls of one loop turn share one script call, and one call is in flight at a time:
        so a fan-out wake-up costs one round trip per node rather than one per client, and two
        overlapping takes of one client (its socket's pump and a new connect) are answered in
        the order they were made, the first with the messages and the second with what came
        after, so deliveries cannot overtake each other.
        """
        return await self._request_take(client_id)

    async def take_queues(self, client_ids: list[str]) -> dict[str, list[Delivery]]:
        """The same batched, ordered takes, for several clients from one coroutine (no task each)."""
        futures = [self._request_take(client_id) for client_id in client_ids]
        taken: dict[str, list[Delivery]] = {}
        try:
            for client_id, future in zip(client_ids, futures, strict=True):
                taken[client_id] = await future
        except BaseException:
            for future in futures:  # a cancelled take hands its messages on, or requeues them
                if future.done() and not future.cancelled():
                    future.exception()
                else:
                    future.cancel()
            raise
        return taken

    def _request_take(self, client_id: str) -> asyncio.Future[list[Delivery]]:
        future: asyncio.Future[list[Delivery]] = asyncio.get_running_loop().create_future()
        self._takes.setdefault(client_id, []).append(future)
        if self._taker is None:
            self._taker = asyncio.get_running_loop().create_task(self._run_takes())
        return future

    async def _run_takes(self) -> None:
        """Send the gathered takes, TAKE_BATCH clients per script call, until none is left."""
        batch: dict[str, list[asyncio.Future[list[Delivery]]]] = {}
        try:
            await asyncio.sleep(0)  # the rest of this loop turn joins the batch
            while self._takes:
                batch = dict(itertools.islice(self._takes.items(), TAKE_BATCH))
                for client_id in batch:
                    del self._takes[client_id]
                try:
                    taken = await self._take_batch(list(batch))
                except EngineUnavailable as exc:
                    for futures in batch.values():
                        for future in futures:
                            if not future.done():
                                future.set_exception(exc)
                    continue
                for client_id, futures in batch.items():
                    await self._hand_over(client_id, futures, taken.get(client_id, []))
        finally:
            self._taker = None
            # closing: nobody may wait for an answer that will not come
            for futures in [*batch.values(), *self._takes.values()]:
                for future in futures:
                    if not future.done():
                        future.set_exception(EngineUnavailable("the Redis engine is closed"))

    async def _take_batch(self, client_ids: list[str]) -> dict[str, list[Delivery]]:
        result = await self._script("take", [self._k("client", cid, "queue") for cid in client_ids], [self.ns])
        flat = result[0]
        deliveries = {flat[i]: Delivery.from_encoded(flat[i + 1], token=flat[i]) for i in range(0, len(flat), 2)}
        return {cid: [deliveries[token] for token in tokens]
                for cid, tokens in zip(client_ids, result[1:], strict=True) if tokens}

    async def _hand_over(self, client_id: str, futures: list[asyncio.Future[list[Delivery]]],
                         deliveries: list[Delivery]) -> None:
        """The first caller still waiting gets the messages, later ones nothing; none waiting: requeue."""
        for future in futures:
            if not future.done():
                future.set_result(deliveries)
                deliveries = []
        if deliveries:
            with contextlib.suppress(EngineUnavailable):
                await self.requeue(client_id, deliveries)

    async def requeue(self, client_id: str, deliveries: list[Delivery]) -> None:
        tokens = [d.token for d in deliveries if d.token is not None]
        if tokens:
            await self._script(
                "requeue",
                [self._k("clients"), self._k("client", client_id, "queue")],
                [client_id, 2 * self._ttl_ms, *tokens],
            )

    # -- background: wake-ups and garbage collection -----------------------------------

    async def _listen(self) -> None:
        """Receive wake-ups for this node's clients and destroy notices; reconnect on failure."""
        delay = 0.05
        wake_channel = self._k("wake", self.node_id)
        closed_channel = self._k("closed")
        first = True
        while True:
            assert self._listener_redis is not None
            pubsub = self._listener_redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(wake_channel, closed_channel)
                self._listening.set()
                if not first:
                    log.info("Redis pub/sub reconnected")
                    self.recipients.resync()  # wake-ups may have been missed while it was down
                first = False
                delay = 0.05
                while True:
                    message = await pubsub.get_message(timeout=5.0)
                    if message is None:
                        continue
                    self._on_message(message["channel"].decode(), message["data"].decode())
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                raise
            except (RedisError, OSError) as exc:
                _raise_if_cancelled(exc)
                self._listener_errors += 1
                log.warning("Redis pub/sub lost (%s); retrying in %.2fs", exc, delay)
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 2.0)

    def _on_message(self, channel: str, data: str) -> None:
        if channel == self._k("closed"):
            node, _, client_id = data.partition(" ")
            if node != self.node_id:
                self.recipients.client_destroyed(client_id)
            return
        self.recipients.wake_many(data.split(","))

    async def _collect_garbage(self) -> None:
        """Destroy clients whose last ping is older than ``client_ttl``, one node at a time."""
        interval = self._gc_interval if self._gc_interval is not None else max(0.2, min(10.0, self.client_ttl / 4))
        while True:
            await asyncio.sleep(interval * (0.75 + random.random() / 2))
            try:
                await self._collect_once(lock_ms=int(max(interval, 1) * 5000))
            except EngineUnavailable as exc:
                _raise_if_cancelled(exc)
                log.warning("garbage collection skipped: %s", exc)

    async def _collect_once(self, *, lock_ms: int) -> None:
        lock_key = self._k("locks", "gc")
        token = secrets.token_hex(8)
        if not await self._redis.call(lambda r: r.set(lock_key, token, nx=True, px=lock_ms)):
            return
        try:
            cutoff = time.time() * 1000 - self._ttl_ms
            dead: list[bytes] = await self._redis.call(
                lambda r: r.zrangebyscore(self._k("clients"), "-inf", cutoff, 0, 1000)  # type: ignore[arg-type,return-value]
            )
            for raw in dead:
                self._count.reaped += 1
                await self.destroy_client(raw.decode())
        finally:
            # the lock also expires by itself; a failed release must not replace a cancellation
            # (which would keep this loop running through close())
            with contextlib.suppress(EngineUnavailable):
                await self._script("release", [lock_key], [token])

    def statistics(self) -> EngineStatistics:
        return self._count.statistics(errors=self._redis.errors + self._listener_errors)


_SCRIPTS = {
    "ping": _PING,
    "claim": _CLAIM,
    "subscribe": _SUBSCRIBE,
    "unsubscribe": _UNSUBSCRIBE,
    "publish": _PUBLISH,
    "take": _TAKE,
    "requeue": _REQUEUE,
    "destroy": _DESTROY,
    "release": _RELEASE_LOCK,
}


def _raise_if_cancelled(exc: BaseException) -> None:
    """A Redis client cut off by a cancellation may raise a connection error instead of
    ``CancelledError``: a background loop must stop then, not retry (``close`` waits for it)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError from exc
