"""Monitoring events as Python callbacks (faye ``bayeux.on(...)``, faye-protocol.md §7.1).

Events: ``handshake(client_id)``, ``subscribe(client_id, channel)``,
``unsubscribe(client_id, channel)``, ``publish(client_id | None, channel, data)``,
``disconnect(client_id)``. A listener that raises is logged and never breaks the broker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

__all__ = ["EVENTS", "EventBus"]

EVENTS = frozenset({"handshake", "subscribe", "unsubscribe", "publish", "disconnect"})
log = logging.getLogger(__name__)


class EventBus:
    def __init__(self) -> None:
        self._listeners: dict[str, list[Callable[..., object]]] = {}

    def on(self, event: str, listener: Callable[..., object]) -> None:
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}; expected one of {sorted(EVENTS)}")
        self._listeners.setdefault(event, []).append(listener)

    def off(self, event: str, listener: Callable[..., object]) -> None:
        listeners = self._listeners.get(event, [])
        if listener in listeners:
            listeners.remove(listener)

    def emit(self, event: str, *args: object) -> None:
        for listener in self._listeners.get(event, ()):
            try:
                listener(*args)
            except Exception:
                log.exception("listener for %r failed", event)
