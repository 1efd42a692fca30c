"""A pending ``/meta/connect`` (faye ``connection.js``, docs/protocol.md §2.3, §5.3).

A client has at most one :class:`Hold`. It ends for one :class:`Release` reason: messages
arrived, its timeout passed, a newer connect superseded it, the client was destroyed, its
socket or HTTP request went away, or the broker is shutting down.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from enum import Enum

__all__ = ["Hold", "Release"]


class Release(Enum):
    """Why a held connect ended."""

    DELIVERY = "delivery"
    """Messages are waiting for the client: answer now and carry them."""
    TIMEOUT = "timeout"
    """The advised timeout passed with nothing to deliver."""
    SUPERSEDED = "superseded"
    """A newer connect of the same client arrived (answered at once, as CometD does)."""
    CLIENT_DESTROYED = "client-destroyed"
    """The engine destroyed the client (disconnect, reaped, queue overflow)."""
    SOCKET_CLOSED = "socket-closed"
    """The WebSocket or stream that held it closed: nobody can read a reply."""
    PEER_GONE = "peer-gone"
    """The HTTP client went away mid-poll: the reply carries nothing taken from the queue."""
    SHUTDOWN = "shutdown"
    """The broker is closing: every held connect is answered."""


_TIMEOUT = Release.TIMEOUT  # read for every held connect: a module constant is cheaper than the enum lookup


class Hold:
    """One pending connect; ended once, by :meth:`release` or by its timer.

    Either awaited (:meth:`wait`, for HTTP responses) or given a callback (:meth:`on_release`,
    for sockets, so that no coroutine stays suspended while it is held).
    """

    __slots__ = ("_callback", "_future", "_timer", "reason")

    def __init__(self) -> None:
        self._future: asyncio.Future[None] | None = None
        self._callback: Callable[[Release], None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self.reason: Release | None = None

    def release(self, reason: Release) -> None:
        """End the hold; the first reason given is the one kept."""
        if self.reason is None:
            self.reason = reason
        if self._future is not None and not self._future.done():
            self._future.set_result(None)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        callback, self._callback = self._callback, None
        if callback is not None:
            callback(self.reason)

    def release_soon(self, reason: Release) -> None:
        """Mark the hold ended now and run the release on the next loop turn.

        A delivery ends the hold at once (a second wake-up must not schedule another
        release), but its reply goes out a turn later, when the rest of a burst has been queued.
        """
        if self.reason is None:
            self.reason = reason
            asyncio.get_running_loop().call_soon(self.release, reason)

    def on_release(self, seconds: float, callback: Callable[[Release], None]) -> None:
        """Call ``callback(reason)`` once, when released or after ``seconds``."""
        self._callback = callback
        if self.reason is not None:
            self.release(self.reason)
        else:
            self._timer = asyncio.get_running_loop().call_later(seconds, self.release, _TIMEOUT)

    async def wait(self, seconds: float) -> Release:
        """Wait until released or ``seconds`` pass; return why it ended."""
        if self.reason is not None:
            return self.reason
        loop = asyncio.get_running_loop()
        self._future = loop.create_future()
        timer = loop.call_later(seconds, self.release, _TIMEOUT)
        try:
            await self._future
        finally:
            timer.cancel()
            self._future = None
        assert self.reason is not None
        return self.reason
