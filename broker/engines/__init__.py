"""Engines hold clients, subscriptions and per-client queues (faye ``src/engines``)."""

from __future__ import annotations

from broker.engines.base import Engine, EngineStatistics, EngineUnavailable, Recipients
from broker.engines.memory import MemoryEngine
from broker.redis_client import REDIS_SCHEMES, parse_redis_url

__all__ = ["Engine", "EngineStatistics", "EngineUnavailable", "MemoryEngine", "Recipients", "engine_from_url"]



def engine_from_url(url: str) -> Engine:
    """``memory`` (or ``memory://``) for the in-memory engine; ``redis://HOST:PORT/DB`` for Redis.

    A Redis URL may carry ``?namespace=NAME`` to share one Redis between several brokers.
    """
    if url in ("memory", "memory://"):
        return MemoryEngine()
    if url.startswith(REDIS_SCHEMES):
        from broker.engines.redis import RedisEngine

        target = parse_redis_url(url)
        return RedisEngine(target.url, namespace=target.namespace)
    raise ValueError(f"unknown engine {url!r}: expected 'memory' or a redis:// URL")
