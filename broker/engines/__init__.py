"""Engines hold clients, subscriptions and per-client queues (faye ``src/engines``)."""

from broker.engines.base import Engine, EngineHooks
from broker.engines.memory import MemoryEngine

__all__ = ["Engine", "EngineHooks", "MemoryEngine"]
