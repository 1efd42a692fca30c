"""The Broker: gathers facts, asks ``protocol`` for a decision, applies it to the engine.

``process(messages, context)`` implements faye's ``Server#process`` (faye-protocol.md §2.1):
incoming extensions, the pure handler, engine commands, advice (added by the handler),
outgoing extensions, and replies in completion order with a held connect last and its
delivered messages right after its reply.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace

import orjson

from broker.config import Settings
from broker.connections import Connections, PushSink
from broker.delivery import Delivery
from broker.engines.base import Engine, EngineHooks, EngineUnavailable
from broker.engines.memory import MemoryEngine
from broker.events import EventBus
from broker.extensions import Context, Extension, run_pipeline
from broker.ids import generate_client_id
from broker.local import LocalClient
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
from protocol.messages import join_encoded
from protocol.server import Facts, handle, unavailable

__all__ = ["Broker", "Outgoing"]

log = logging.getLogger(__name__)

Outgoing = Message | Delivery
"""An item of a reply batch: a reply built by a handler, or a delivered message."""

_SESSION_CHANNELS = frozenset(
    {channels.CONNECT, channels.SUBSCRIBE, channels.UNSUBSCRIBE, channels.DISCONNECT}
)


class Broker:
    """One Bayeux server: an engine, settings, extensions and monitoring events."""

    def __init__(
        self,
        *,
        settings: Settings | None = None,
        engine: Engine | None = None,
        extensions: Sequence[Extension] = (),
    ) -> None:
        self.settings = settings or Settings()
        self.engine = engine or MemoryEngine()
        self.policy = self.settings.policy()
        self.events = EventBus()
        self.connections = Connections(max_pending=self.settings.max_queue)
        self.connections.take_queues = self.engine.take_queues
        self.connections.requeue = self.engine.requeue
        self._extensions: list[Extension] = []
        self._incoming: list[Callable[..., object]] = []
        self._outgoing: list[Callable[..., object]] = []
        for extension in extensions:
            self.add_extension(extension)
        self.engine.bind(
            EngineHooks(
                push_many=self.connections.push_many,
                wake=self.connections.wake,
                wake_many=self.connections.wake_many,
                closed=self.connections.closed,
                emit=self.events.emit,
                resync=self.connections.wake_all,
            ),
            client_ttl=2 * self.settings.timeout,
            max_queue=self.settings.max_queue,
        )
        self._started = False
        self._start_lock = asyncio.Lock()
        self.closing = False
        self._client: LocalClient | None = None
        self._background: set[asyncio.Task[None]] = set()

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Start the engine; safe to call more than once (mounted apps start lazily)."""
        if self._started:
            return
        async with self._start_lock:
            if not self._started:
                await self.engine.start()
                self._started = True

    async def close(self) -> None:
        """Answer every pending connect, then stop the engine (faye ``adapter.close``)."""
        self.closing = True
        if self._client is not None:
            await self._client.disconnect()
            self._client = None
        self.connections.release_all("shutdown")
        await asyncio.sleep(0)
        if self._started:
            await self.engine.close()
            self._started = False

    # -- extensions and events ---------------------------------------------------------

    def add_extension(self, extension: Extension) -> None:
        self._extensions.append(extension)
        self._rebuild_pipelines()

    def remove_extension(self, extension: Extension) -> None:
        self._extensions.remove(extension)
        self._rebuild_pipelines()

    def _rebuild_pipelines(self) -> None:
        self._incoming = [e.incoming for e in self._extensions if e.has_incoming]
        self._outgoing = [e.outgoing for e in self._extensions if e.has_outgoing]
        self.connections.direct_enabled = not self._outgoing

    @property
    def outgoing_hooks(self) -> list[Callable[..., object]]:
        return self._outgoing

    def client(self) -> LocalClient:
        """The server-side client (faye ``bayeux.getClient()``), created on first use."""
        if self._client is None:
            self._client = LocalClient(self)
        return self._client

    async def publish(self, channel: str, data: object) -> Message:
        """Publish from the server (through the server-side client and the extensions)."""
        return await self.client().publish(channel, data)

    def on(self, event: str, listener: Callable[..., object]) -> None:
        """Listen to a monitoring event (faye ``bayeux.on``)."""
        self.events.on(event, listener)

    def off(self, event: str, listener: Callable[..., object]) -> None:
        self.events.off(event, listener)

    # -- processing --------------------------------------------------------------------

    async def process(self, messages: list[Message], context: Context) -> list[Outgoing]:
        """Handle a batch; return its replies (and delivered messages) in faye's order."""
        await self.start()
        out: list[Outgoing] = []
        connects: list[Message] = []
        for message in messages:
            if self._incoming:
                message = await run_pipeline(self._incoming, message, context)  # type: ignore[assignment]
                if message is None:
                    continue
            if message.get("channel") == channels.CONNECT:
                connects.append(message)
            else:
                out.extend(await self._handle(message, context))
        if len(connects) == 1:
            out.extend(await self._handle(connects[0], context))
        elif connects:
            for part in await asyncio.gather(*(self._handle(m, context) for m in connects)):
                out.extend(part)
        return out

    async def _facts(self, message: Message, channel: object) -> Facts:
        if channel == channels.HANDSHAKE:
            return Facts(new_client_id=await self._new_client_id())
        if not isinstance(channel, str) or channel not in _SESSION_CHANNELS:
            return Facts()
        client_id = message.get("clientId")
        if not isinstance(client_id, str) or not client_id:
            return Facts()
        exists = await self.engine.client_exists(client_id)
        if not exists:
            return Facts()
        if channel == channels.SUBSCRIBE:
            return Facts(client_exists=True, subscription_count=await self.engine.subscription_count(client_id))
        if channel == channels.CONNECT:
            return Facts(client_exists=True, first_connect=client_id not in self.connections.connected)
        return Facts(client_exists=True)

    async def _new_client_id(self) -> str:
        while True:
            client_id = generate_client_id()
            if not await self.engine.client_exists(client_id):
                return client_id

    async def _handle(self, message: Message, context: Context) -> list[Outgoing]:
        delivered: list[Delivery] = []
        try:
            reply, delivered = await self._decide_and_apply(message, context)
        except EngineUnavailable as exc:
            log.warning("cannot handle %s: %s", message.get("channel"), exc)
            reply = unavailable(message, self.policy)
        out: list[Outgoing] = []
        if reply is not None:
            if self._outgoing:
                reply = await run_pipeline(self._outgoing, reply, context)
            if reply is not None:
                out.append(reply)
        out.extend(delivered)
        return out

    async def _decide_and_apply(self, message: Message, context: Context) -> tuple[Message | None, list[Delivery]]:
        facts = await self._facts(message, message.get("channel"))
        if context.local and not facts.local:
            facts = replace(facts, local=True)
        decision = handle(message, facts, self.policy)
        delivered: list[Delivery] = []
        for command in decision.commands:
            if isinstance(command, Connect):
                if self._replies_later(command, context):
                    assert decision.reply is not None
                    await self._hold_by_callback(command, decision.reply, context)
                    return None, []
                delivered = await self._hold(command, context)
            else:
                await self._apply(command, decision)
        return decision.reply, delivered

    async def _apply(self, command: object, decision: Decision) -> None:
        engine = self.engine
        if isinstance(command, Publish):
            delivery = Delivery(command.message)
            if len(delivery.encoded) > self.settings.max_message_bytes:
                assert decision.reply is not None
                decision.reply["error"] = errors.message_too_large(command.channel)
                decision.reply["successful"] = False
                return
            await engine.publish(delivery, channels.expand(command.channel), command.publisher)
        elif isinstance(command, Subscribe):
            await engine.subscribe(command.client_id, command.channel)
        elif isinstance(command, Unsubscribe):
            await engine.unsubscribe(command.client_id, command.channel)
        elif isinstance(command, CreateClient):
            await engine.create_client(command.client_id)
        elif isinstance(command, DestroyClient):
            await engine.destroy_client(command.client_id)

    def _replies_later(self, command: Connect, context: Context) -> bool:
        """A socket's held connect is only a timer: its reply is sent by a callback when it ends."""
        sink = context.socket
        return isinstance(sink, PushSink) and sink.replies_later and command.hold_ms > 0 and not self.closing

    async def _open(self, command: Connect, context: Context) -> None:
        """faye ``engine.connect`` start: ping the client and bind the socket that sent the connect."""
        client_id = command.client_id
        await self.engine.ping(client_id)
        self.connections.connected.add(client_id)
        sink = context.socket
        if isinstance(sink, PushSink):
            self.connections.bind(client_id, sink, self.engine.take_queue)
            await sink.drain()  # what was queued while the client had no socket goes out first

    async def _hold_by_callback(self, command: Connect, reply: Message, context: Context) -> None:
        """Hold a socket's connect with no suspended coroutine: the reply goes out when it ends."""
        await self._open(command, context)
        client_id = command.client_id
        sink = context.socket
        assert isinstance(sink, PushSink)
        hold = self.connections.start_hold(client_id, supersede=self.settings.answer_superseded_connect)

        def finished(reason: str) -> None:
            self.connections.end_hold(client_id, hold)
            if reason != "socket-closed" and not sink.closed:
                task = asyncio.get_running_loop().create_task(self._send_later(sink, reply, context))
                self._background.add(task)
                task.add_done_callback(self._background.discard)

        hold.on_release(command.hold_ms / 1000, finished)

    async def _send_later(self, sink: PushSink, reply: Message, context: Context) -> None:
        replies: list[Outgoing] = [reply]
        if self._outgoing:
            changed = await run_pipeline(self._outgoing, reply, context)
            replies = [] if changed is None else [changed]
        if replies:
            await sink.flush()
            await sink.send_replies(await self.encode(replies, context))

    async def _hold(self, command: Connect, context: Context) -> list[Delivery]:
        """faye ``engine.connect``: ping, bind a socket, hold until messages or the timeout."""
        client_id = command.client_id
        connections = self.connections
        await self._open(command, context)
        pushed = client_id in connections.sinks
        hold = connections.start_hold(client_id, supersede=self.settings.answer_superseded_connect)
        context.holds.append(hold)
        try:
            if not pushed:
                queued = await self.engine.take_queue(client_id)
                if queued:
                    return queued
            if command.hold_ms > 0 and not self.closing:
                reason = await hold.wait(command.hold_ms / 1000)
                if reason == "delivery" and not pushed:
                    return await self.engine.take_queue(client_id)
            return []
        finally:
            connections.end_hold(client_id, hold)

    async def unbind(self, sink: PushSink) -> None:
        """A socket or stream closed: requeue what it had not written yet, then forget it."""
        client_id, pending = sink.client_id, sink.pending
        self.connections.unbind(sink)
        if client_id is not None and pending:
            await self.engine.requeue(client_id, pending)

    # -- encoding ----------------------------------------------------------------------

    async def encode_message(self, item: Outgoing, context: Context) -> bytes | None:
        """JSON of one outgoing item; a delivery passes the outgoing extensions first."""
        if isinstance(item, Delivery):
            if not self._outgoing:
                return item.encoded
            message = await run_pipeline(self._outgoing, item.copy_message(), context)
            return None if message is None else orjson.dumps(message)
        return orjson.dumps(item)

    async def encode(self, items: Sequence[Outgoing], context: Context) -> bytes:
        """A JSON array of outgoing items, with each delivery encoded once for everyone."""
        if not self._outgoing:
            return join_encoded([item.encoded if isinstance(item, Delivery) else orjson.dumps(item) for item in items])
        parts = []
        for item in items:
            encoded = await self.encode_message(item, context)
            if encoded is not None:
                parts.append(encoded)
        return join_encoded(parts)

    def statistics(self) -> dict[str, int]:
        return {
            "pending_connects": len(self.connections.holds),
            "push_connections": len(self.connections.sinks),
            **self.engine.statistics(),
        }
