"""Publishing committed changes on Bayeux channels, through the same Broker as every client.

A change to object ``<id>`` of ``<collection>`` is published, after the write is stored, on
``/resources/<collection>`` and then on ``/resources/<collection>/<id>``, as the message data
``{"action": "created"|"updated"|"deleted", "id": ..., "data": ..., "version": ...}``. The
REST API holds the object (``Store.ordered``) from the write until both publishes return,
so every subscriber sees the changes to one object in the order they were stored.

A publish the broker refuses (an extension's error, an unavailable engine) is logged and
counted; the write stays committed and the HTTP request still succeeds.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import orjson

from broker.authorization import Attempt, Denied, Operation, Verdict
from broker.store import Change
from clients.errors import BayeuxError

if TYPE_CHECKING:
    from broker.server import Broker

__all__ = ["CHANNEL_ROOT", "ChangeFeed", "ResourceChannelGuard", "channels_of"]

log = logging.getLogger(__name__)

CHANNEL_ROOT = "/resources"


def channels_of(collection: str, object_id: str) -> tuple[str, str]:
    """The two channels a change is published on, in publishing order."""
    return f"{CHANNEL_ROOT}/{collection}", f"{CHANNEL_ROOT}/{collection}/{object_id}"


class ChangeFeed:
    """Publishes changes through ``broker.publish`` (the server-side client and the extensions)."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.published = 0
        """Change events published (two per change: the collection's channel, then the object's)."""
        self.failed = 0
        """Change events the broker refused or could not publish (the write stays committed)."""

    async def publish(self, change: Change) -> None:
        event = change.event()
        encoded = orjson.dumps(event)
        for channel in channels_of(change.record.collection, change.record.id):
            try:
                # each publish gets its own copy: an extension may change the message it is given
                await self.broker.publish(channel, orjson.loads(encoded))
                self.published += 1
            except BayeuxError as exc:
                self.failed += 1
                log.warning("change %s of %s not published on %s: %s",
                            change.record.version, change.record.id, channel, exc.error)
            except Exception:
                self.failed += 1
                log.exception("change %s of %s not published on %s", change.record.version, change.record.id, channel)



class ResourceChannelGuard:
    """Only the server publishes on ``/resources/**``: a client's publish there is denied (403).

    The change channels carry what the store committed; a client publishing on them could
    forge changes. Subscribing is unaffected. ``create_app`` installs this authorizer.
    """

    def authorize(self, attempt: Attempt) -> Verdict:
        channel = attempt.channel
        if attempt.operation is Operation.PUBLISH and not attempt.context.local and (
            channel == CHANNEL_ROOT or channel.startswith(CHANNEL_ROOT + "/")
        ):
            return Denied("Forbidden channel")
        return None
