"""Monitoring events as Python callbacks (faye ``bayeux.on(...)``, docs/protocol.md §7.1).

Events: ``handshake(client_id)``, ``subscribe(client_id, channel)``,
``unsubscribe(client_id, channel)``, ``publish(client_id | None, channel, data)``,
``disconnect(client_id)``. A listener that raises is logged and never breaks the broker.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from enum import StrEnum
from typing import Protocol

__all__ = ["EVENTS", "EventBus", "EventSink", "MonitorEvent"]

log = logging.getLogger(__name__)


class MonitorEvent(StrEnum):
    """faye's monitoring events; a ``str`` enum, so ``broker.on("publish", ...)`` keeps working."""

    HANDSHAKE = "handshake"
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    PUBLISH = "publish"
    DISCONNECT = "disconnect"


EVENTS = frozenset(MonitorEvent)


class EventSink(Protocol):
    """Where an engine reports monitoring events."""

    def emit(self, event: MonitorEvent, *args: object) -> None: ...


class EventBus:
    """The broker's listeners, by event."""

    def __init__(self) -> None:
        self._listeners: dict[MonitorEvent, list[Callable[..., object]]] = {}

    def on(self, event: str, listener: Callable[..., object]) -> None:
        if event not in EVENTS:
            raise ValueError(f"unknown event {event!r}; expected one of {sorted(EVENTS)}")
        self._listeners.setdefault(MonitorEvent(event), []).append(listener)

    def off(self, event: str, listener: Callable[..., object]) -> None:
        listeners = self._listeners.get(MonitorEvent(event), []) if event in EVENTS else []
        if listener in listeners:
            listeners.remove(listener)

    def emit(self, event: MonitorEvent, *args: object) -> None:
        for listener in self._listeners.get(event, ()):
            try:
                listener(*args)
            except Exception:
                log.exception("listener for %r failed", event.value)
