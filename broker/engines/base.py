"""The engine interface (faye ``site/src/pages/node/engines.haml``, faye-protocol.md §5.5).

Every engine passes the one contract suite in ``tests/engines``. An engine never delivers
to sockets itself: it queues, and tells the broker through :class:`EngineHooks` that a
client has something queued (``wake``) or is gone (``closed``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from broker.delivery import Delivery

__all__ = ["Engine", "EngineHooks", "EngineUnavailable"]


def _ignore(*_args: object) -> None:
    return None


def _refuse_all(client_ids: Iterable[str], _delivery: Delivery) -> list[str]:
    return list(client_ids)


class EngineUnavailable(Exception):
    """The engine's backing store cannot be reached (Redis errors are mapped to this)."""


@dataclass(frozen=True, kw_only=True)
class EngineHooks:
    """Callbacks the broker gives an engine."""

    push_many: Callable[[Iterable[str], Delivery], list[str]] = _refuse_all
    """Offer a delivery to these clients for immediate writing; returns those that did not take it.

    Only for clients whose queue is empty, so that order is kept: the engine queues the
    delivery for the returned clients. In-process engines use it for the fan-out fast path;
    engines that queue elsewhere need not call it.
    """
    wake: Callable[[str], None] = _ignore
    """Client ``id`` has queued messages (faye ``emptyQueue`` trigger)."""
    wake_many: Callable[[list[str]], None] | None = None
    """These clients have queued messages (one fan-out's wake-up); None: call ``wake`` for each."""
    closed: Callable[[str], None] = _ignore
    """Client ``id`` was destroyed; release its connection (faye ``close`` event)."""
    emit: Callable[..., None] = _ignore
    """Monitoring event: ``emit(name, *args)`` (faye-protocol.md §7.1)."""
    resync: Callable[[], None] = _ignore
    """Wake every client this process holds (after wake-ups may have been missed)."""


class Engine(ABC):
    """Clients, subscriptions and queues. Methods are coroutines so that Redis fits."""

    hooks: EngineHooks = EngineHooks()
    client_ttl: float = 120.0
    max_queue: int = 10_000

    def bind(self, hooks: EngineHooks, *, client_ttl: float, max_queue: int) -> None:
        """Called once by the broker before :meth:`start`.

        ``client_ttl`` is how long a client lives without a ping (faye: 2 x timeout).
        """
        self.hooks = hooks
        self.client_ttl = client_ttl
        self.max_queue = max_queue

    async def start(self) -> None:
        """Open connections, start timers."""

    async def close(self) -> None:
        """Cancel timers and close connections (faye ``engine.disconnect``)."""

    @abstractmethod
    async def create_client(self, client_id: str) -> None:
        """Register ``client_id``, ping it, emit ``handshake``."""

    @abstractmethod
    async def client_exists(self, client_id: str) -> bool: ...

    @abstractmethod
    async def ping(self, client_id: str) -> None:
        """Heartbeat at every connect: restart the client's time to live."""

    async def claim(self, client_id: str) -> None:
        """This process now holds the client's connection (a bound stream); default: nothing."""

    @abstractmethod
    async def destroy_client(self, client_id: str) -> None:
        """Emit ``unsubscribe`` per channel then ``disconnect``, delete state, call ``closed``."""

    @abstractmethod
    async def subscribe(self, client_id: str, channel: str) -> bool:
        """Add a subscription; emit ``subscribe`` and return True only if it is new."""

    @abstractmethod
    async def unsubscribe(self, client_id: str, channel: str) -> bool:
        """Remove a subscription; emit ``unsubscribe`` and return True only if it existed."""

    @abstractmethod
    async def subscription_count(self, client_id: str) -> int: ...

    @abstractmethod
    async def publish(self, delivery: Delivery, keys: tuple[str, ...], publisher: object) -> int:
        """Queue ``delivery`` once for every client subscribed to any of ``keys``.

        ``keys`` is the channel's expansion (``protocol.expand``). Emits ``publish`` and
        calls ``wake`` for each recipient. Returns the number of recipients.
        """

    @abstractmethod
    async def take_queue(self, client_id: str) -> list[Delivery]:
        """Remove and return everything queued for the client, oldest first."""

    async def take_queues(self, client_ids: list[str]) -> dict[str, list[Delivery]]:
        """:meth:`take_queue` for several clients at once (engines that can, in one round trip)."""
        return {client_id: await self.take_queue(client_id) for client_id in client_ids}

    @abstractmethod
    async def requeue(self, client_id: str, deliveries: list[Delivery]) -> None:
        """Put undelivered messages back at the head of the queue, if the client still exists."""

    def statistics(self) -> dict[str, int]:
        """Counters for monitoring (trio's ``statistics()`` convention)."""
        return {}
