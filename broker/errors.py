"""The exceptions the ``broker`` package raises, under one root.

::

    BrokerError                  root: catch this to catch everything the broker raises
    ├── EngineUnavailable        the engine's backing store (Redis) cannot be reached; requests get
    │                            ``500::Engine unavailable`` and clients retry (docs/protocol.md §2)
    ├── BodyTooLarge             an HTTP body or frame is over ``max_body_bytes`` (HTTP 413)
    ├── StoreError               the REST resources' store refused or failed (``broker.store``)
    │   ├── NotFound             no such collection or object (404)
    │   ├── AlreadyExists        an object with that id exists (409)
    │   ├── PreconditionFailed   ``If-Match`` named another version (412)
    │   └── StoreUnavailable     the store's backend cannot be reached (503)
    └── Problem                  an HTTP problem the REST API answers (``broker.resources``)

Errors from Redis, SQLite, sockets and JSON are converted into these at the boundary where they
happen (``raise ... from``), so callers never see a foreign exception. What the server refuses a
*client* is not an exception here: it is a Bayeux error string in a reply (``protocol.errors``).
The server-side client raises the client package's exceptions (``clients.errors``).
"""

from __future__ import annotations

__all__ = ["BodyTooLarge", "BrokerError", "EngineUnavailable"]


class BrokerError(Exception):
    """Root of every exception the ``broker`` package raises."""


class EngineUnavailable(BrokerError):
    """The engine's backing store cannot be reached (Redis errors are mapped to this)."""


class BodyTooLarge(BrokerError):
    """A request body or WebSocket frame is larger than ``Settings.max_body_bytes``."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"Request body larger than {limit} bytes")
        self.limit = limit
