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

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["MAX_CONNECTIONS", "CommandSlots", "open_redis"]

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
