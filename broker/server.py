"""The Broker: the only door between transports (the wire) and the engine (the state).

``process(messages, request)`` implements faye's ``Server#process`` (docs/protocol.md §2.1):
incoming extensions, facts gathered from the engine, the pure decision (``protocol.server``),
the authorization point (``broker.authorization``), the commands applied to the engine, outgoing
extensions, and replies in completion order with a held connect last and its delivered messages
right after its reply.

Transports call only this class: :meth:`Broker.process`, :meth:`Broker.encode`,
:meth:`Broker.open_stream` / :meth:`Broker.close_stream` for push sinks, :meth:`Broker.start`.
The engine and the connection registry are private to it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, assert_never

from broker.authorization import Attempt, Authorizer, AuthorizerTable, Operation, first_denial
from broker.config import Settings
from broker.connections import Connections, ConnectionStatistics
from broker.delivery import Delivery
from broker.engines.base import Engine, EngineStatistics
from broker.engines.memory import MemoryEngine
from broker.errors import EngineUnavailable
from broker.events import EventBus
from broker.extensions import Context, Extension, Pipeline
from broker.hold import Release
from broker.ids import generate_client_id
from broker.once import Once
from broker.request_state import RequestState
from broker.sinks import PushSink
from protocol import channels, errors
from protocol.commands import (
    Connect,
    CreateClient,
    Decision,
    DestroyClient,
    Message,
    Publish,
    Subscribe,
    Unsubscribe,
)
from protocol.connection_types import ConnectionType
from protocol.server import Facts, handle, refuse, unavailable

if TYPE_CHECKING:
    from clients.client import Client

__all__ = ["Broker", "BrokerStatistics", "Outgoing", "Stream"]

log = logging.getLogger(__name__)

Outgoing = Message | Delivery
"""An item of a reply batch: a reply built by a handler, or a delivered message."""

_PUBLISH = Operation.PUBLISH
"""Enum members read per request are module constants (an enum attribute lookup costs ~100 ns in 3.11)."""
_DELIVERY = Release.DELIVERY

_SESSION_CHANNELS = frozenset(
    {channels.CONNECT, channels.SUBSCRIBE, channels.UNSUBSCRIBE, channels.DISCONNECT}
)


class Stream(Enum):
    """The answer to :meth:`Broker.open_stream`."""

    OPENED = "opened"
    UNKNOWN_CLIENT = "unknown-client"


@dataclass(frozen=True, slots=True, kw_only=True)
class BrokerStatistics:
    """One broker process, for monitoring: its own counters plus its engine's and its connections'."""

    requests: dict[ConnectionType, int]
    """Batches processed (HTTP requests, WebSocket frames, in-process sends), by transport."""
    messages: int
    """Messages received (before incoming extensions, which may drop some)."""
    handshakes_accepted: int
    handshakes_refused: int
    """Refused by ``protocol`` (bad version, no common connection type...) or by an extension."""
    handshakes_denied: int
    """Refused by an authorizer."""
    denied: int
    """Commands of any kind refused by an authorizer (handshakes included)."""
    engine_unavailable: int
    """Messages answered ``500::Engine unavailable``."""
    engine: EngineStatistics
    connections: ConnectionStatistics


class Broker:
    """One Bayeux server: an engine, settings, extensions, authorizers and monitoring events."""

    def __init__(
        self,
        *,
        settings: Settings | None = None,
        engine: Engine | None = None,
        extensions: Sequence[Extension] = (),
        authorizers: Sequence[Authorizer] = (),
    ) -> None:
        self.settings = settings or Settings()
        self.policy = self.settings.policy()
        self.events = EventBus()
        self._engine = engine or MemoryEngine()
        self._pipeline = Pipeline(extensions)
        self._authorizers = AuthorizerTable(authorizers)
        self._connections = Connections(queues=self._engine, pipeline=self._pipeline,
                                        max_pending=self.settings.max_queue)
        self._engine.bind(self._connections, events=self.events, client_ttl=2 * self.settings.timeout,
                          max_queue=self.settings.max_queue)
        self._start = Once(self._engine.start)
        self.closing = False
        self._client: Client | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._requests: Counter[ConnectionType] = Counter()
        self._messages = 0
        self._handshakes = Counter[str]()
        self._denied = 0
        self._unavailable = 0

    @property
    def engine(self) -> Engine:
        """The engine (for embedders and tests; transports never use it)."""
        return self._engine

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Start the engine; safe to call more than once (mounted apps start lazily)."""
        await self._start()

    async def close(self) -> None:
        """Answer every pending connect, then stop the engine (faye ``adapter.close``)."""
        if self._client is not None:
            client, self._client = self._client, None
            await client.disconnect()
        self.closing = True
        self._connections.release_all(Release.SHUTDOWN)
        await asyncio.sleep(0)
        if self._start.done:
            await self._engine.close()
            self._start.reset()

    # -- extensions, authorizers, events, the server-side client -------------------------

    def add_extension(self, extension: Extension) -> None:
        self._pipeline.add(extension)

    def remove_extension(self, extension: Extension) -> None:
        self._pipeline.remove(extension)

    def add_authorizer(self, authorizer: Authorizer, *channels: str) -> None:
        """Consult ``authorizer`` on every handshake, subscribe and publish, or, given channel names or
        patterns, on the subscribes and publishes that concern them (``broker.authorization``)."""
        self._authorizers.add(authorizer, channels)

    def client(self) -> Client:
        """The server-side client (faye ``bayeux.getClient()``), created on first use.

        It is the bundled Python client (:class:`clients.Client`) on an in-process transport, so it
        handshakes, subscribes again and reconnects exactly as a remote client does.
        """
        if self._client is None:
            from broker.local import server_side_client

            self._client = server_side_client(self)
        return self._client

    async def publish(self, channel: str, data: object) -> Message:
        """Publish from the server (through the server-side client and the extensions)."""
        return await self.client().publish(channel, data)

    def on(self, event: str, listener: Callable[..., object]) -> None:
        """Listen to a monitoring event (faye ``bayeux.on``)."""
        self.events.on(event, listener)

    def off(self, event: str, listener: Callable[..., object]) -> None:
        self.events.off(event, listener)

    def statistics(self) -> BrokerStatistics:
        return BrokerStatistics(
            requests=dict(self._requests),
            messages=self._messages,
            handshakes_accepted=self._handshakes["accepted"],
            handshakes_refused=self._handshakes["refused"],
            handshakes_denied=self._handshakes["denied"],
            denied=self._denied,
            engine_unavailable=self._unavailable,
            engine=self._engine.statistics(),
            connections=self._connections.statistics(),
        )

    # -- processing --------------------------------------------------------------------

    async def process(self, messages: list[Message], request: RequestState) -> list[Outgoing]:
        """Handle a batch; return its replies (and delivered messages) in faye's order."""
        if not self._start.done:
            await self._start()
        context = request.context
        self._requests[context.transport] += 1
        self._messages += len(messages)
        out: list[Outgoing] = []
        connects: list[Message] = []
        pipeline = self._pipeline
        for message in messages:
            if pipeline.has_incoming:
                changed = await pipeline.incoming(message, context)
                if changed is None:
                    continue
                message = changed
            if message.get("channel") == channels.CONNECT:
                connects.append(message)
            else:
                out.extend(await self._handle(message, request))
        if len(connects) == 1:
            out.extend(await self._handle(connects[0], request))
        elif connects:
            for part in await asyncio.gather(*(self._handle(m, request) for m in connects)):
                out.extend(part)
        return out

    async def _handle(self, message: Message, request: RequestState) -> list[Outgoing]:
        delivered: list[Delivery] = []
        try:
            reply, delivered = await self._decide_and_apply(message, request)
        except EngineUnavailable as exc:
            log.warning("cannot handle %s: %s", message.get("channel"), exc)
            self._unavailable += 1
            reply = unavailable(message, self.policy)
        out: list[Outgoing] = []
        if reply is not None and not self._pipeline.shared_encoding:
            reply = await self._pipeline.outgoing(reply, request.context)
        if reply is not None:
            out.append(reply)
        out.extend(delivered)
        return out

    async def _facts(self, message: Message, channel: object, *, local: bool) -> Facts:
        if channel == channels.HANDSHAKE:
            return Facts(new_client_id=await self._new_client_id(), local=local)
        if not isinstance(channel, str) or channel not in _SESSION_CHANNELS:
            return Facts(local=local)
        client_id = message.get("clientId")
        if not isinstance(client_id, str) or not client_id or not await self._engine.client_exists(client_id):
            return Facts(local=local)
        if channel == channels.SUBSCRIBE:
            count = await self._engine.subscription_count(client_id)
            return Facts(client_exists=True, local=local, subscription_count=count)
        if channel == channels.CONNECT:
            return Facts(client_exists=True, local=local, first_connect=client_id not in self._connections.connected)
        return Facts(client_exists=True, local=local)

    async def _new_client_id(self) -> str:
        while True:
            client_id = generate_client_id()
            if not await self._engine.client_exists(client_id):
                return client_id

    async def _decide_and_apply(self, message: Message, request: RequestState) -> tuple[Message | None, list[Delivery]]:
        channel = message.get("channel")
        facts = await self._facts(message, channel, local=request.context.local)
        decision = handle(message, facts, self.policy)
        denied = False
        if self._authorizers.active and decision.commands:
            decision, denied = await self._authorize(decision, message, request.context)
        if channel == channels.HANDSHAKE:
            self._handshakes["accepted" if decision.commands else "denied" if denied else "refused"] += 1
        delivered: list[Delivery] = []
        engine = self._engine
        for command in decision.commands:
            match command:  # the most frequent first
                case Publish():
                    delivery = Delivery(command.message, command.encoded)
                    await engine.publish(delivery, channels.expand(command.channel), command.publisher)
                case Connect():
                    if self._replies_later(command, request):
                        assert decision.reply is not None
                        await self._hold_by_callback(command, decision.reply, request)
                        return None, []
                    delivered = await self._hold(command, request)
                case Subscribe():
                    await engine.subscribe(command.client_id, command.channel)
                case Unsubscribe():
                    await engine.unsubscribe(command.client_id, command.channel)
                case CreateClient():
                    await engine.create_client(command.client_id)
                case DestroyClient():
                    await engine.destroy_client(command.client_id)
                case _:
                    assert_never(command)
        return decision.reply, delivered

    async def _authorize(self, decision: Decision, message: Message, context: Context) -> tuple[Decision, bool]:
        """The authorization point: each validated handshake, subscribe and publish, before any is applied."""
        for index, command in enumerate(decision.commands):
            match command:
                case Publish():
                    operation, channel = _PUBLISH, command.channel
                    client_id = command.publisher if isinstance(command.publisher, str) else None
                case Subscribe():
                    operation, channel, client_id = Operation.SUBSCRIBE, command.channel, command.client_id
                case CreateClient():
                    operation, channel, client_id = Operation.HANDSHAKE, "", command.client_id
                case _:
                    continue
            asked = self._authorizers.asked(operation, channel)
            if not asked:
                continue
            denied = await first_denial(asked, Attempt(operation, channel, client_id, message, context))
            if denied is not None:
                self._denied += 1
                return refuse(decision, index, errors.denied(channel, denied.reason)), True
        return decision, False

    # -- holding connects ----------------------------------------------------------------

    def _replies_later(self, command: Connect, request: RequestState) -> bool:
        """A socket's held connect is only a timer: its reply is sent by a callback when it ends."""
        sink = request.sink
        return sink is not None and sink.replies_later and command.hold_ms > 0 and not self.closing

    async def _open(self, command: Connect, request: RequestState) -> None:
        """faye ``engine.connect`` start: ping the client and bind the socket that sent the connect."""
        client_id = command.client_id
        await self._engine.ping(client_id)
        self._connections.connected.add(client_id)
        sink = request.sink
        if sink is not None:
            self._connections.bind(client_id, sink)
            await sink.drain()  # what was queued while the client had no socket goes out first

    async def _hold_by_callback(self, command: Connect, reply: Message, request: RequestState) -> None:
        """Hold a socket's connect with no suspended coroutine: the reply goes out when it ends."""
        await self._open(command, request)
        client_id = command.client_id
        sink = request.sink
        assert sink is not None
        hold = self._connections.start_hold(client_id, supersede=self.settings.answer_superseded_connect)

        def finished(reason: Release) -> None:
            self._connections.end_hold(client_id, hold)
            if reason is not Release.SOCKET_CLOSED and not sink.closed:
                task = asyncio.get_running_loop().create_task(self._send_later(sink, reply, request.context))
                self._background.add(task)
                task.add_done_callback(self._sent_later)

        hold.on_release(command.hold_ms / 1000, finished)

    async def _send_later(self, sink: PushSink, reply: Message, context: Context) -> None:
        changed = await self._pipeline.outgoing(reply, context)
        if changed is not None and not sink.closed:
            await sink.flush()
            await sink.write(await self._pipeline.encode([changed], context))

    def _sent_later(self, task: asyncio.Task[None]) -> None:
        """A held connect's late reply could not be written: the socket closed meanwhile, which is no error."""
        self._background.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.debug("a held connect's reply was not sent: %r", exc)

    async def _hold(self, command: Connect, request: RequestState) -> list[Delivery]:
        """faye ``engine.connect``: ping, bind a socket, hold until messages or the timeout."""
        client_id = command.client_id
        connections = self._connections
        await self._open(command, request)
        pushed = client_id in connections.sinks
        hold = connections.start_hold(client_id, supersede=self.settings.answer_superseded_connect)
        request.holds.append(hold)
        try:
            if not pushed:
                queued = await self._engine.take_queue(client_id)
                if queued:
                    return queued
            if command.hold_ms > 0 and not self.closing:
                reason = await hold.wait(command.hold_ms / 1000)
                if reason is _DELIVERY and not pushed:
                    return await self._engine.take_queue(client_id)
            return []
        finally:
            connections.end_hold(client_id, hold)

    # -- push streams --------------------------------------------------------------------

    async def open_stream(self, client_id: str, sink: PushSink) -> Stream:
        """Bind a stream that is not opened by a connect (EventSource) to an existing client.

        The transport drains the sink once its peer can receive (what was queued goes out first).
        """
        await self.start()
        if not client_id or not await self._engine.client_exists(client_id):
            return Stream.UNKNOWN_CLIENT
        self._connections.bind(client_id, sink)
        await self._engine.claim(client_id)
        return Stream.OPENED

    async def close_stream(self, sink: PushSink) -> None:
        """A socket or stream closed: requeue what it had not written yet, then forget it."""
        client_id, pending = sink.client_id, sink.pending
        self._connections.unbind(sink)
        if client_id is not None and pending:
            try:
                await self._engine.requeue(client_id, pending)
            except EngineUnavailable:
                log.warning("cannot requeue %d messages of %s", len(pending), client_id)

    # -- encoding ----------------------------------------------------------------------

    def encode(self, items: Sequence[Outgoing], context: Context) -> Awaitable[bytes]:
        """A JSON array of outgoing items, with each delivery encoded once for everyone (awaitable)."""
        return self._pipeline.encode(items, context)
