"""REST resources on the broker's store, with every change published live (docs/resources.md).

Collections of JSON objects under ``/api/<collection>``: list (filter, sort, paginate), read,
create, import, replace, merge-patch and delete, with versions and ``ETag``/``If-Match``
optimistic concurrency and RFC 9457 problem details for every error. Each committed change is
published, after the write is stored, on ``/resources/<collection>`` and
``/resources/<collection>/<id>`` through the same :class:`~broker.server.Broker` as every
Bayeux client. This package is separate from the Bayeux code: it calls ``broker.publish`` (the
server-side client) and provides the authorizer ``create_app`` installs on those channels
(:class:`ResourceChannelGuard`: only the server publishes there).
"""

from __future__ import annotations

from broker.resources.access import AccessHook, AccessRequest, Denied
from broker.resources.api import ResourceAPI
from broker.resources.changes import CHANNEL_ROOT, ChangeFeed, ResourceChannelGuard, channels_of
from broker.resources.problems import Problem

__all__ = [
    "CHANNEL_ROOT",
    "AccessHook",
    "AccessRequest",
    "ChangeFeed",
    "Denied",
    "Problem",
    "ResourceAPI",
    "ResourceChannelGuard",
    "channels_of",
]
