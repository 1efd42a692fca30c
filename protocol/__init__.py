"""Sans-I/O Bayeux core, faye dialect.

Nothing in this package performs I/O, reads a clock or uses ``async``: it decides,
and the ``broker`` package applies those decisions. See ``../shared/faye-protocol.md``.
"""

from protocol.channels import expand, is_meta, is_pattern, is_service, is_subscribable, is_valid
from protocol.client import ClientOptions, ClientSession
from protocol.commands import Command, Connect, CreateClient, Decision, DestroyClient, Publish, Subscribe, Unsubscribe
from protocol.server import BROKER_CONNECTION_TYPES, Facts, Policy, handle

__all__ = [
    "BROKER_CONNECTION_TYPES",
    "ClientOptions",
    "ClientSession",
    "Command",
    "Connect",
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
]
