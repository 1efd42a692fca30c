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

from typing import Any

from protocol.errors import parse_error

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


class BayeuxError(ClientError):
    """The server answered ``successful: false``.

    ``error`` is the whole Bayeux error string; ``code`` (e.g. 403, or None when the string does
    not follow faye's grammar), ``params`` and ``reason`` are its parts, as faye's
    ``Error.parse`` splits them; ``reply`` is the server's whole reply.
    """

    def __init__(self, reply: dict[str, Any]) -> None:
        self.reply = reply
        self.error = str(reply.get("error", ""))
        self.code, self.params, self.reason = parse_error(self.error)
        super().__init__(self.error or "refused by the server")


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
