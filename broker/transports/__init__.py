"""Transports translate between the wire and ``Broker.process`` (docs/protocol.md §4)."""

from broker.transports.http import BayeuxHTTP
from broker.transports.websocket import BayeuxWebSocket

__all__ = ["BayeuxHTTP", "BayeuxWebSocket"]
