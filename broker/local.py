"""The server-side client (faye ``bayeux.getClient()``, docs/protocol.md §7.2) on an in-process transport.

``broker.client()`` is the bundled Python client (:class:`clients.Client`), driven by the same
``protocol.client.ClientSession`` as every remote client, with a transport that hands its
batches to :meth:`Broker.process <broker.server.Broker.process>` instead of a socket. So it
handshakes, reconnects after advice, handshakes again and subscribes again after its session is
lost (``401``), exactly as a remote client would. Server extensions see its messages with
``context.local`` True (faye's ``request === null``), and being local it may subscribe to
``/meta/**`` and ``/service/**``, which is how server-side handlers receive ``/service/*``
requests. Deliveries and late connect replies reach it through an in-process push sink.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import orjson

from broker.extensions import Context
from broker.request_state import RequestState
from broker.sinks import PushSink
from clients.client import Client
from clients.transports import Receiver, Transport, TransportHooks
from protocol.commands import Message
from protocol.connection_types import ConnectionType

if TYPE_CHECKING:
    from broker.server import Broker

__all__ = ["InProcessConnector", "InProcessSink", "InProcessTransport", "server_side_client"]

log = logging.getLogger(__name__)

LOCAL_CONTEXT = Context(transport=ConnectionType.IN_PROCESS, local=True)


class InProcessSink(PushSink):
    """Hands what the broker writes (deliveries, a held connect's reply) to the client, decoded."""

    __slots__ = ("_receive",)
    transport = ConnectionType.IN_PROCESS
    replies_later = True

    def __init__(self, receive: Receiver) -> None:
        super().__init__(LOCAL_CONTEXT)
        self._receive = receive

    async def write(self, payload: bytes) -> None:
        await self._receive(orjson.loads(payload))


class InProcessTransport:
    """``in-process``: each batch goes through ``Broker.process``; replies come back decoded."""

    connection_type = ConnectionType.IN_PROCESS.value

    def __init__(self, broker: Broker, hooks: TransportHooks) -> None:
        self._broker = broker
        self._hooks = hooks
        self.sink = InProcessSink(hooks.on_receive)

    async def open(self) -> None:
        """Nothing to open."""

    async def send(self, messages: list[Message]) -> None:
        broker = self._broker
        try:
            replies = await broker.process(messages, RequestState(LOCAL_CONTEXT, self.sink))
            payload = await broker.encode(replies, LOCAL_CONTEXT)
        except Exception:
            # an extension raised, or the broker is closing: the session retries after a backoff
            log.exception("the server-side client's batch failed")
            self._hooks.on_failed(messages)
            return
        if replies:
            await self._hooks.on_receive(orjson.loads(payload))

    async def close(self) -> None:
        await self._broker.close_stream(self.sink)


class InProcessConnector:
    """The server-side client's only transport, which also carries its handshake."""

    handshake_type: str = ConnectionType.IN_PROCESS.value
    connection_types: tuple[str, ...] = (ConnectionType.IN_PROCESS.value,)

    def __init__(self, broker: Broker) -> None:
        self._broker = broker

    def transport(self, connection_type: str, hooks: TransportHooks) -> Transport:
        return InProcessTransport(self._broker, hooks)


def server_side_client(broker: Broker) -> Client:
    """A :class:`clients.Client` on ``broker`` itself; it starts with its first subscribe or publish."""
    return Client(connector=InProcessConnector(broker), timeout=broker.settings.timeout, retry=0.1, max_retry=2.0)
