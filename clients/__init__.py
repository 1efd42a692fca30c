"""Bayeux clients: the asyncio Python client (``from clients import Client``).

See docs/python-client.md. The protocol logic is :mod:`protocol.client`; this package does I/O.
"""

from clients.client import Client, Extension
from clients.errors import (
    BayeuxError,
    ClientClosed,
    ClientError,
    HandshakeError,
    PublishError,
    SubscribeError,
    TransportError,
    UnsubscribeError,
)
from clients.subscription import Message, Subscription

__all__ = [
    "BayeuxError",
    "Client",
    "ClientClosed",
    "ClientError",
    "Extension",
    "HandshakeError",
    "Message",
    "PublishError",
    "SubscribeError",
    "Subscription",
    "TransportError",
    "UnsubscribeError",
]
