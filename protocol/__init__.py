"""Sans-I/O Bayeux core, faye dialect.

Nothing in this package performs I/O, reads a clock or uses ``async``: it decides,
and the ``broker`` package applies those decisions. The rules are in ``docs/protocol.md``.
"""

from protocol.channels import expand, is_meta, is_pattern, is_service, is_subscribable, is_valid
from protocol.client import ClientOptions, ClientSession
from protocol.commands import Command, Connect, CreateClient, Decision, DestroyClient, Publish, Subscribe, Unsubscribe
from protocol.connection_types import BROKER_CONNECTION_TYPES, ConnectionType
from protocol.server import Facts, Policy, handle, refuse

__all__ = [
    "BROKER_CONNECTION_TYPES",
    "ClientOptions",
    "ClientSession",
    "Command",
    "Connect",
    "ConnectionType",
    "CreateClient",
    "Decision",
    "DestroyClient",
    "Facts",
    "Policy",
    "Publish",
    "Subscribe",
    "Unsubscribe",
    "expand",
    "handle",
    "is_meta",
    "is_pattern",
    "is_service",
    "is_subscribable",
    "is_valid",
    "refuse",
]
