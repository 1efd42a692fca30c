"""The engine interface (faye ``site/src/pages/node/engines.haml``, docs/protocol.md §5.5).

An engine holds clients, subscriptions and per-client queues. It is given, once, before it
starts (:meth:`Engine.bind`), the two things it calls: the broker's :class:`Recipients` (the
connection registry: "these clients have something for you", "this client is gone") and an
:class:`EventSink` for monitoring events. It never reaches any other part of the broker, and
nothing but the :class:`~broker.server.Broker` and the registry's queue source calls it.

Two ways a published message reaches a recipient:

- **pushed**: an engine that holds queues in this process offers the delivery to every recipient
  whose queue is empty with :meth:`Recipients.push_many`; the registry writes it to their
  sockets at once and returns the clients it could not take, which the engine queues;
- **queued**: the engine queues it and calls :meth:`Recipients.wake` (or ``wake_many`` for one
  fan-out's recipients); the registry then takes the queue (:meth:`Engine.take_queue`) and
  writes it. Engines that store queues elsewhere (Redis) only do this.

Every engine passes the contract suite in ``broker.testing.engines``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol

from broker.delivery import Delivery
from broker.errors import EngineUnavailable
from broker.events import EventSink, MonitorEvent

__all__ = ["Engine", "EngineCounters", "EngineStatistics", "EngineUnavailable", "Recipients"]


class Recipients(Protocol):
    """What an engine calls on the broker: implemented by the connection registry."""

    def push_many(self, client_ids: Collection[str], delivery: Delivery) -> list[str]:
        """Offer ``delivery`` to these clients (their queues are empty) for writing now; return those that
        did not take it, for the engine to queue."""

    def wake(self, client_id: str) -> None:
        """The client has queued messages (faye ``emptyQueue`` trigger)."""

    def wake_many(self, client_ids: list[str]) -> None:
        """These clients have queued messages (one fan-out's wake-up)."""

    def client_destroyed(self, client_id: str) -> None:
        """The client was destroyed: answer its pending connect, unbind its socket (faye ``close``)."""

    def resync(self) -> None:
        """Wake every client this process holds (after wake-ups may have been missed)."""


class _Unbound:
    """The recipients of an engine that is not bound to a broker: nothing is pushed or woken."""

    def push_many(self, client_ids: Collection[str], delivery: Delivery) -> list[str]:
        return list(client_ids)

    def wake(self, client_id: str) -> None:
        return None

    def wake_many(self, client_ids: list[str]) -> None:
        return None

    def client_destroyed(self, client_id: str) -> None:
        return None

    def resync(self) -> None:
        return None


class _NoEvents:
    def emit(self, event: MonitorEvent, *args: object) -> None:
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class EngineStatistics:
    """What this process asked of its engine since it started; the same meaning on every engine.

    Every field is a monotonic count (a Prometheus counter). They count this process's own
    operations, so the sums over the processes of a Redis cluster are the cluster's totals.
    """

    clients_created: int
    """Handshakes that created a session."""
    clients_destroyed: int
    """Sessions destroyed, for any reason (disconnect, reaped, overflowed)."""
    clients_reaped: int
    """Of those, destroyed because they stopped connecting for ``client_ttl`` (faye's reaping)."""
    clients_overflowed: int
    """Of those, destroyed because their queue passed ``max_queue`` (a slow consumer)."""
    subscriptions_added: int
    subscriptions_removed: int
    """Removed by an unsubscribe or with their destroyed client."""
    messages_published: int
    """Publishes routed, whether or not anyone was subscribed."""
    deliveries: int
    """Copies handed to recipients: written at once or queued (a recipient whose queue overflowed
    gets none)."""
    deliveries_queued: int
    """Of those, the copies queued rather than written at once."""
    errors: int
    """Calls that failed because the backing store could not be reached (always 0 in memory)."""


class EngineCounters:
    """The counts behind :class:`EngineStatistics`; an engine increments them where things happen."""

    __slots__ = ("created", "deliveries", "destroyed", "overflows", "published", "queued", "reaped", "subscribed",
                 "unsubscribed")

    def __init__(self) -> None:
        self.created = self.destroyed = self.reaped = self.overflows = 0
        self.subscribed = self.unsubscribed = 0
        self.published = self.deliveries = self.queued = 0

    def statistics(self, *, errors: int) -> EngineStatistics:
        return EngineStatistics(
            clients_created=self.created,
            clients_destroyed=self.destroyed,
            clients_reaped=self.reaped,
            clients_overflowed=self.overflows,
            subscriptions_added=self.subscribed,
            subscriptions_removed=self.unsubscribed,
            messages_published=self.published,
            deliveries=self.deliveries,
            deliveries_queued=self.queued,
            errors=errors,
        )


class Engine(ABC):
    """Clients, subscriptions and queues. Methods are coroutines so that Redis fits."""

    recipients: Recipients = _Unbound()
    events: EventSink = _NoEvents()
    client_ttl: float = 120.0
    max_queue: int = 10_000

    def bind(self, recipients: Recipients, *, events: EventSink, client_ttl: float, max_queue: int) -> None:
        """Called once by the broker, before :meth:`start`.

        ``client_ttl`` is how long a client lives without a ping (faye: 2 x timeout);
        ``max_queue`` the most messages queued for one client before it is destroyed.
        """
        self.recipients = recipients
        self.events = events
        self.client_ttl = client_ttl
        self.max_queue = max_queue

    async def start(self) -> None:
        """Open connections, start timers."""

    async def close(self) -> None:
        """Cancel timers and close connections (faye ``engine.disconnect``)."""

    def shared_store_url(self) -> str | None:
        """The URL of a store every process of this engine shares, for the REST resources' default
        store (Redis: the same Redis); None for an engine confined to one process."""
        return None

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
        """Emit ``unsubscribe`` per channel then ``disconnect``, delete state, call
        ``recipients.client_destroyed``."""

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
        """Route ``delivery`` to every client subscribed to any of ``keys``, once each.

        ``keys`` is the channel's expansion (``protocol.expand``). Emits ``publish``; pushes or
        queues and wakes each recipient (module docstring). Returns the number of recipients
        that got a copy.
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

    @abstractmethod
    def statistics(self) -> EngineStatistics:
        """Counters for monitoring (trio's ``statistics()`` convention)."""
