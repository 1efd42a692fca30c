"""The asyncio Bayeux client: I/O around :class:`protocol.client.ClientSession`.

The session decides (what to send, when to retry, what to deliver); this module only performs the
actions it returns: it writes batches through a transport, arms one timer, runs extensions, settles
the futures of pending requests and hands delivered messages to subscriptions.

Transports (docs/protocol.md §9.1): the handshake goes over long-polling, as faye's client does;
then the first of the client's ``transports`` that the server lists in ``supportedConnectionTypes``
and that opens is used, so a WebSocket that cannot be opened falls back to long-polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from types import TracebackType
from typing import Any

from clients.errors import (
    BayeuxError,
    ClientClosed,
    ClientError,
    HandshakeError,
    PublishError,
    SubscribeError,
    UnsubscribeError,
)
from clients.subscription import Callback, Message, Subscription
from clients.transports import Connector, NetworkConnector, Transport, TransportHooks
from protocol import channels
from protocol.client import (
    Abandon,
    Action,
    ClientOptions,
    ClientSession,
    Closed,
    Connected,
    Deliver,
    HandshakeRefused,
    Reject,
    Resolve,
    SelectTransport,
    Send,
    State,
    Wait,
)

__all__ = ["Client", "Extension"]

log = logging.getLogger(__name__)

Raw = dict[str, Any]

DISCONNECT_GRACE = 5.0
"""Seconds ``disconnect()`` waits for the server's reply before closing anyway."""


class Extension:
    """faye's client extension (§6): override ``incoming`` and/or ``outgoing``. Each takes a message
    (a dict) and returns it, changed or not, or None to drop it; either may be a coroutine. Any
    object with one or both methods works as an extension; this base class is a convenience."""

    def incoming(self, message: Raw) -> Raw | Awaitable[Raw | None] | None:
        return message

    def outgoing(self, message: Raw) -> Raw | Awaitable[Raw | None] | None:
        return message


def _network(url: str, headers: Mapping[str, str] | None) -> Connector:
    return NetworkConnector(url, headers=headers)


class Client:
    """A Bayeux client for faye-compatible servers; use ``async with Client(url) as client:``."""

    def __init__(self, url: str | None = None, *, transports: Sequence[str] | None = None,
                 extensions: Iterable[object] = (), headers: Mapping[str, str] | None = None,
                 timeout: float = 60.0, retry: float = 1.0, max_retry: float = 30.0,
                 max_pending: int = 10_000, connector: Connector | None = None) -> None:
        if connector is None:
            if url is None:
                raise TypeError("a Client needs the broker's url (or a connector)")
            connector = _network(url, headers)
        transports = tuple(transports) if transports is not None else connector.connection_types
        unknown = set(transports) - set(connector.connection_types)
        if unknown or not transports:
            allowed = " and/or ".join(repr(t) for t in connector.connection_types)
            raise ValueError(f"transports must be {allowed}, not {sorted(unknown)}")
        self.url = url
        self._connector = connector
        self.session = ClientSession(options=ClientOptions(
            connection_types=tuple(transports), timeout=timeout, retry=retry, max_retry=max_retry))
        self._extensions: list[object] = list(extensions)
        self._max_pending = max_pending
        self._opened: dict[str, Transport] = {}
        self._active: Transport | None = None
        self._outbox: asyncio.Queue[tuple[Raw, ...]] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._futures: dict[int, tuple[asyncio.Future[Raw], type[BayeuxError]]] = {}
        self._subscriptions: dict[str, list[Subscription]] = {}
        self._ready: asyncio.Future[None] | None = None
        self._stats = {"handshakes": 0, "connects": 0, "sent": 0, "received": 0, "delivered": 0, "failed": 0}

    # -- state -----------------------------------------------------------------------------

    @property
    def client_id(self) -> str | None:
        """The current session's clientId (it changes after a re-handshake)."""
        return self.session.client_id

    @property
    def connection_type(self) -> str | None:
        """``"websocket"`` or ``"long-polling"`` once connected."""
        return self.session.connection_type

    @property
    def state(self) -> State:
        return self.session.state

    def statistics(self) -> dict[str, int]:
        """Counters: handshakes and connects sent, messages sent/received/delivered, failed sends."""
        return dict(self._stats)

    def add_extension(self, extension: object) -> None:
        self._extensions.append(extension)

    def remove_extension(self, extension: object) -> None:
        self._extensions.remove(extension)

    # -- lifecycle -------------------------------------------------------------------------

    async def connect(self) -> None:
        """Handshake and connect; return once the first session is up. While the broker cannot be
        reached this keeps retrying (wrap it in ``asyncio.timeout`` to give up); a refused
        handshake raises :class:`HandshakeError`.

        Calling it is optional: as faye's client does, the first ``subscribe`` or ``publish``
        starts the session too."""
        ready = self._start()
        try:
            await asyncio.shield(ready)
        except HandshakeError:
            await self.close()
            raise

    def _start(self) -> asyncio.Future[None]:
        """Start the session once: the handshake transport, the writer, the first handshake."""
        if self._ready is None:
            loop = asyncio.get_running_loop()
            self._ready = loop.create_future()
            # a refused first handshake is raised by connect(); without a caller it is only logged
            self._ready.add_done_callback(lambda ready: ready.cancelled() or ready.exception())
            self._transport(self._connector.handshake_type)
            self._writer = asyncio.ensure_future(self._write())
            self._apply(self.session.start(loop.time()))
        return self._ready

    def _hooks(self) -> TransportHooks:
        return TransportHooks(on_receive=self._received, on_failed=self._failed,
                              request_timeout=lambda: self.session.request_timeout)

    def _transport(self, connection_type: str) -> Transport:
        transport = self._opened.get(connection_type)
        if transport is None:
            transport = self._opened[connection_type] = self._connector.transport(connection_type, self._hooks())
        return transport

    async def __aenter__(self) -> Client:
        try:
            await self.connect()
        except BaseException:
            await self.close()
            raise
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.disconnect()

    async def disconnect(self) -> None:
        """Send ``/meta/disconnect`` (if a session is up; its reply is awaited for up to
        :data:`DISCONNECT_GRACE` seconds), then close the transports."""
        if self._ready is not None and self.session.state is not State.DISCONNECTED:
            future = self._request(*self.session.disconnect(self._now()), BayeuxError)
            with contextlib.suppress(ClientError, TimeoutError):
                await asyncio.wait_for(future, DISCONNECT_GRACE)
        await self.close()

    async def close(self) -> None:
        """Close the transports without telling the server (it reaps the session later)."""
        if self.session.state is not State.DISCONNECTED:
            self._apply(self.session.disconnect(self._now())[1])
        if self._timer is not None:
            self._timer.cancel()
        tasks = [task for task in (self._writer, *self._tasks) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for transport in self._opened.values():
            await transport.close()
        self._end_subscriptions(ClientClosed("the client is disconnected"))

    # -- requests --------------------------------------------------------------------------

    def subscribe(self, channel: str, callback: Callback | None = None) -> Subscription:
        """Subscribe to a channel or pattern (``/chat/*``, ``/chat/**``); see :class:`Subscription`.

        ``await client.subscribe(channel, callback)`` returns once the server acknowledged it, and
        ``async for message in client.subscribe(channel)`` iterates over deliveries. The channel is
        subscribed again after every re-handshake.
        """
        self._start()
        subscription = Subscription(self, channel, callback, max_pending=self._max_pending)
        self._subscriptions.setdefault(channel, []).append(subscription)
        future = self._request(*self.session.subscribe(channel, self._now()), SubscribeError)
        future.add_done_callback(lambda done: self._acknowledged(subscription, done))
        return subscription

    async def unsubscribe(self, target: Subscription | str) -> None:
        """Stop one subscription, or every subscription of a channel; the server is told once no
        subscription of that channel is left."""
        channel = target if isinstance(target, str) else target.channel
        wanted = self._subscriptions.get(channel, [])
        removed = list(wanted) if isinstance(target, str) else [s for s in wanted if s is target]
        for subscription in removed:
            wanted.remove(subscription)
            subscription._close()
        if wanted or channel not in self._subscriptions:
            return
        del self._subscriptions[channel]
        await self._request(*self.session.unsubscribe(channel, self._now()), UnsubscribeError)

    async def publish(self, channel: str, data: Any, *, ext: Raw | None = None) -> Raw:
        """Publish ``data`` and return the server's reply once it acknowledged the message.

        While the client is reconnecting the message waits and is sent once the connection is back.
        Raises :class:`PublishError` (with the Bayeux ``code``) when the server refuses it.
        """
        self._start()
        return await self._request(*self.session.publish(channel, data, self._now(), ext=ext), PublishError)

    # -- performing the session's actions -------------------------------------------------

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    def _request(self, ticket: int, actions: list[Action], error: type[BayeuxError]) -> asyncio.Future[Raw]:
        future: asyncio.Future[Raw] = asyncio.get_running_loop().create_future()
        self._futures[ticket] = (future, error)
        self._apply(actions)
        return future

    def _apply(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Send):
                self._outbox.put_nowait(action.messages)
            elif isinstance(action, Wait):
                self._arm(action.deadline)
            elif isinstance(action, Deliver):
                self._deliver(action)
            elif isinstance(action, Resolve | Reject | Abandon):
                self._settle(action)
            elif isinstance(action, SelectTransport):
                self._spawn(self._select(action.connection_types))
            else:
                self._announce(action)

    def _announce(self, action: Connected | HandshakeRefused | Closed) -> None:
        if isinstance(action, Connected):
            log.info("connected as %s over %s", action.client_id, action.connection_type)
            if self._ready is not None and not self._ready.done():
                self._ready.set_result(None)
        elif isinstance(action, HandshakeRefused):
            log.warning("handshake refused: %s", action.reply.get("error"))
            if self._ready is not None and not self._ready.done():
                self._ready.set_exception(HandshakeError(action.reply))
        else:
            if self._ready is not None and not self._ready.done():
                self._ready.set_exception(ClientClosed(action.reason))
            self._end_subscriptions(ClientClosed(action.reason))

    def _settle(self, action: Resolve | Reject | Abandon) -> None:
        future, error = self._futures.pop(action.ticket, (None, BayeuxError))
        if future is None or future.done():
            return
        if isinstance(action, Resolve):
            future.set_result(action.reply)
        elif isinstance(action, Reject):
            future.set_exception(error(action.reply))
        else:
            future.set_exception(ClientClosed(action.reason))

    def _acknowledged(self, subscription: Subscription, future: asyncio.Future[Raw]) -> None:
        if subscription.acknowledged.done():
            return
        error = None if future.cancelled() else future.exception()
        if error is None:
            subscription.acknowledged.set_result(None)
            return
        wanted = self._subscriptions.get(subscription.channel, [])
        if subscription in wanted:
            wanted.remove(subscription)
        subscription._close(error)

    def _deliver(self, action: Deliver) -> None:
        raw = action.message
        ext = raw.get("ext")
        for pattern in action.subscriptions:
            message = Message(channel=raw["channel"], data=raw.get("data"), subscription=pattern,
                              ext=ext if isinstance(ext, dict) else None, raw=raw)
            for subscription in self._subscriptions.get(pattern, ()):
                self._stats["delivered"] += 1
                subscription._push(message)

    def _end_subscriptions(self, error: ClientError) -> None:
        for wanted in self._subscriptions.values():
            for subscription in wanted:
                subscription._close(error if not subscription.acknowledged.done() else None)
        self._subscriptions.clear()

    def _arm(self, deadline: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = asyncio.get_running_loop().call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._apply(self.session.tick(self._now()))
        deadline = self.session.deadline
        if deadline is not None and self._timer is None:  # the loop may wake a little early
            self._arm(deadline)

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- transports ------------------------------------------------------------------------

    async def _select(self, candidates: tuple[str, ...]) -> None:
        """faye ``Transport.get``: the first candidate that opens; the handshake's transport always does."""
        fallback = self._connector.handshake_type
        self._active = self._transport(fallback)
        for connection_type in candidates:
            transport = self._transport(connection_type)
            try:
                await transport.open()
            except ClientError as exc:
                log.info("%s unavailable, falling back: %s", connection_type, exc)
                continue
            self._active = transport
            break
        self._apply(self.session.transport_selected(self._active.connection_type, self._now()))

    async def _write(self) -> None:
        """Send batches in order, after the outgoing extensions; the handshake always goes over HTTP."""
        while True:
            batch = await self._outbox.get()
            messages = [m for m in [await self._run_extensions("outgoing", dict(m)) for m in batch] if m is not None]
            if len(messages) < len(batch):
                self._dropped_by_extension(batch, messages)
            if not messages:
                continue
            self._count(messages)
            handshake = messages[0].get("channel") == channels.HANDSHAKE
            active = self._active
            transport = self._transport(self._connector.handshake_type) if handshake or active is None else active
            await transport.send(messages)

    def _count(self, messages: list[Raw]) -> None:
        self._stats["sent"] += len(messages)
        for message in messages:
            if message.get("channel") == channels.HANDSHAKE:
                self._stats["handshakes"] += 1
            elif message.get("channel") == channels.CONNECT:
                self._stats["connects"] += 1

    def _dropped_by_extension(self, batch: tuple[Raw, ...], kept: list[Raw]) -> None:
        """A request an outgoing extension dropped is answered locally, so nobody waits forever."""
        kept_ids = {m.get("id") for m in kept}
        replies = [{"id": m.get("id"), "channel": m.get("channel"), "successful": False,
                    "error": "400::Dropped by an outgoing extension"} for m in batch if m.get("id") not in kept_ids]
        self._apply(self.session.receive(replies, self._now()))

    async def _received(self, messages: list[Raw]) -> None:
        self._stats["received"] += len(messages)
        kept = [m for m in [await self._run_extensions("incoming", m) for m in messages] if m is not None]
        self._apply(self.session.receive(kept, self._now()))

    def _failed(self, messages: list[Raw]) -> None:
        self._stats["failed"] += len(messages)
        self._apply(self.session.send_failed(messages, self._now()))

    async def _run_extensions(self, hook: str, message: Raw | None) -> Raw | None:
        if hook == "outgoing" and message is not None and isinstance(message.get("ext"), dict):
            message["ext"] = dict(message["ext"])  # extensions may edit it: not the caller's dict
        for extension in list(self._extensions):
            method = getattr(extension, hook, None)
            if message is None or method is None:
                continue
            try:
                result = method(message)
                message = await result if inspect.isawaitable(result) else result
            except Exception:  # a broken extension must not stall the client: skip it for this message
                log.exception("%s extension %r failed", hook, extension)
        return message
