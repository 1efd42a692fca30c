"""One way to open Redis for the Redis engine and the Redis store: a bounded pool, and waiting slots.

redis-py's pool raises ``MaxConnectionsError`` ("Too many connections") as soon as more
commands are in flight than it allows (100 by default). A burst of requests on one node
(every long-polling subscriber reconnecting after a publish) would then fail while Redis is
fine. Callers therefore take one of :class:`CommandSlots` per command, as many as the pool
has connections, so that a burst waits for a free connection instead. (redis-py's own
``BlockingConnectionPool`` does the waiting under an ``asyncio.Condition`` that we saw hang
a cancelled task at shutdown; an ``asyncio.Semaphore`` is released on cancellation.)
Transient connection errors of commands are retried with jittered backoff.

A pub/sub listener wants the opposite (``retries=0``): redis-py's pub/sub reconnects and
subscribes again by itself when a retry succeeds, so a listener would never learn that it
was cut off, and would not recover the notifications it missed meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from broker.errors import BrokerError

__all__ = ["MAX_CONNECTIONS", "REDIS_SCHEMES", "CommandSlots", "RedisBoundary", "RedisTarget", "open_redis",
           "parse_redis_url"]

T = TypeVar("T")

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
DEFAULT_NAMESPACE = "bayeux"


@dataclass(frozen=True, slots=True)
class RedisTarget:
    """Where a Redis engine or store keeps its keys: the server's URL and a key prefix."""

    url: str
    namespace: str = DEFAULT_NAMESPACE


def parse_redis_url(url: str) -> RedisTarget:
    """``redis://HOST:PORT/DB[?namespace=NAME]`` (or ``rediss://``, ``unix://``) for the engine and the store.

    ``namespace`` is ours and is taken off the URL; the database must be a non-negative integer.
    Raises :class:`ValueError` for anything else.
    """
    if not url.startswith(REDIS_SCHEMES):
        raise ValueError(f"not a Redis URL: {url!r}")
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    namespace = query.pop("namespace", DEFAULT_NAMESPACE)
    if not namespace:
        raise ValueError("the Redis namespace cannot be empty")
    database = parts.path.strip("/") if parts.scheme != "unix" else query.get("db", "")
    if database and not database.isdigit():
        raise ValueError(f"the Redis database must be a non-negative integer, not {database!r}")
    return RedisTarget(urlunsplit(parts._replace(query=urlencode(query))), namespace)

MAX_CONNECTIONS = 64
"""Sockets one broker process opens to Redis for commands (the pub/sub listener has its own)."""


class CommandSlots(asyncio.Semaphore):
    """One slot per pooled connection: ``async with slots:`` around each command."""

    def __init__(self, connections: int = MAX_CONNECTIONS) -> None:
        super().__init__(connections)


def open_redis(url: str, *, max_connections: int = MAX_CONNECTIONS, retries: int = 3) -> aioredis.Redis:
    """A client on ``url`` that owns its pool and closes it with :meth:`~redis.asyncio.Redis.aclose`.

    ``retries`` is how often a command is retried after a connection error or timeout.
    """
    pool = aioredis.ConnectionPool.from_url(
        url,
        max_connections=max_connections,
        socket_timeout=5,
        socket_connect_timeout=2,
        retry=Retry(ExponentialWithJitterBackoff(cap=1.0, base=0.05), retries=retries),
        retry_on_error=[RedisConnectionError, RedisTimeoutError],
        health_check_interval=10,
    )
    return aioredis.Redis.from_pool(pool)


class RedisBoundary:
    """The one place a Redis-backed component talks to Redis.

    It owns the connection pool and the registered Lua scripts, waits for a free connection
    (:class:`CommandSlots`), and converts every Redis or socket failure into ``unavailable``
    (a :class:`~broker.errors.BrokerError`), counting them in :attr:`errors`.
    """

    def __init__(self, url: str, *, scripts: Mapping[str, str], unavailable: type[BrokerError], name: str) -> None:
        self.url = url
        self.errors = 0
        self._sources = dict(scripts)
        self._unavailable = unavailable
        self._name = name
        self._redis: aioredis.Redis | None = None
        self._scripts: dict[str, Any] = {}
        self._slots = CommandSlots()

    @property
    def started(self) -> bool:
        return self._redis is not None

    def open(self) -> None:
        if self._redis is None:
            self._redis = open_redis(self.url)
            self._scripts = {name: self._redis.register_script(source) for name, source in self._sources.items()}

    async def close(self) -> None:
        redis, self._redis = self._redis, None
        self._scripts = {}
        if redis is not None:
            await redis.aclose()

    async def call(self, operation: Callable[[aioredis.Redis], Awaitable[T]]) -> T:
        """Run a Redis operation; map Redis failures to the component's ``unavailable`` error."""
        redis = self._redis
        if redis is None:
            raise self._unavailable(f"the {self._name} is not started")
        try:
            async with self._slots:
                return await operation(redis)
        except (RedisError, OSError) as exc:
            self.errors += 1
            raise self._unavailable(f"Redis is unavailable: {exc}") from exc

    async def script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        """Run a registered Lua script (``EVALSHA``, loading it again after a Redis restart)."""
        script = self._scripts.get(name)
        if script is None:
            raise self._unavailable(f"the {self._name} is not started")
        return await self.call(lambda _redis: script(keys=keys, args=args))
