"""What the broker keeps about one request while it processes it (internal; never given to user code).

Extensions see only the public :class:`~broker.extensions.Context`. The broker also needs to know
which push sink sent the request (a WebSocket's connect binds it) and which connects the request
is holding (so that an HTTP transport can release them when its client goes away).
"""

from __future__ import annotations

from broker.extensions import Context
from broker.hold import Hold, Release
from broker.sinks import PushSink

__all__ = ["RequestState"]


class RequestState:
    """One request (an HTTP body, a WebSocket frame, an in-process batch) on its way through the broker.

    ``sink`` is the push sink the request came from (it is bound to the client its connect names);
    ``holds`` are the connects this request is holding. (A plain class: one is made per request.)
    """

    __slots__ = ("context", "holds", "sink")

    def __init__(self, context: Context, sink: PushSink | None = None) -> None:
        self.context = context
        self.sink = sink
        self.holds: list[Hold] = []

    def release_holds(self, reason: Release) -> None:
        for hold in self.holds:
            hold.release(reason)

    def release_holds_peer_gone(self) -> None:
        """The HTTP client went away mid-poll: its connects end with nothing taken from the queue."""
        self.release_holds(Release.PEER_GONE)
