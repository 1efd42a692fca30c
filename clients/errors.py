"""The client's exceptions: one root, local misuse apart from what the server refused.

::

    ClientError                  root: catch this to catch everything the client raises
    ├── BayeuxError              the server refused a request; carries the Bayeux error (§3)
    │   ├── HandshakeError       refused handshake (an extension's ``403::Authentication required``)
    │   ├── SubscribeError       refused subscribe (``403:/service/x:Forbidden channel``)
    │   ├── UnsubscribeError     refused unsubscribe
    │   └── PublishError         refused publish (``405:/a/*:Invalid channel``)
    ├── ClientClosed             the client is disconnected, or the server advised ``none``
    └── TransportError           the broker could not be reached (raised at the boundary,
                                 from httpx and websockets errors, ``raise ... from``)
"""

from __future__ import annotations

from protocol import errors as protocol_errors

__all__ = [
    "BayeuxError",
    "ClientClosed",
    "ClientError",
    "HandshakeError",
    "PublishError",
    "SubscribeError",
    "TransportError",
    "UnsubscribeError",
]


class ClientError(Exception):
    """Root of every exception the ``clients`` package raises."""


class BayeuxError(ClientError, protocol_errors.BayeuxError):
    """The server answered ``successful: false`` (:class:`protocol.errors.BayeuxError`: ``error``,
    ``code``, ``params``, ``reason``, ``reply``)."""


class HandshakeError(BayeuxError):
    """The server refused the handshake."""


class SubscribeError(BayeuxError):
    """The server refused a subscription."""


class UnsubscribeError(BayeuxError):
    """The server refused an unsubscription."""


class PublishError(BayeuxError):
    """The server refused a publish."""


class ClientClosed(ClientError):
    """The client is disconnected (by ``disconnect()`` or the server's ``reconnect: none``)."""


class TransportError(ClientError):
    """The broker could not be reached over a transport."""
