"""Engines hold clients, subscriptions and per-client queues (faye ``src/engines``)."""

from __future__ import annotations

from broker.engines.base import Engine, EngineHooks, EngineUnavailable
from broker.engines.memory import MemoryEngine

__all__ = ["Engine", "EngineHooks", "EngineUnavailable", "MemoryEngine", "engine_from_url"]

_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def engine_from_url(url: str) -> Engine:
    """``memory`` (or ``memory://``) for the in-memory engine; ``redis://HOST:PORT/DB`` for Redis.

    A Redis URL may carry ``?namespace=NAME`` to share one Redis between several brokers.
    """
    if url in ("memory", "memory://"):
        return MemoryEngine()
    if url.startswith(_REDIS_SCHEMES):
        from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

        from broker.engines.redis import RedisEngine

        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        namespace = query.pop("namespace", "bayeux")
        clean = urlunsplit(parts._replace(query=urlencode(query)))
        return RedisEngine(clean, namespace=namespace)
    raise ValueError(f"unknown engine {url!r}: expected 'memory' or a redis:// URL")
