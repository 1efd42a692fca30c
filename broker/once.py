"""Start a component once, however many callers ask at the same time (a mounted app starts lazily)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

__all__ = ["Once"]


class Once:
    """Runs ``action`` the first time it is awaited; concurrent callers wait for that run.

    A failed run is not remembered: the next caller tries again. :meth:`reset` allows a new run
    (after the component was closed).
    """

    __slots__ = ("_action", "_lock", "done")

    def __init__(self, action: Callable[[], Awaitable[None]]) -> None:
        self._action = action
        self._lock = asyncio.Lock()
        self.done = False

    async def __call__(self) -> None:
        if self.done:
            return
        async with self._lock:
            if not self.done:
                await self._action()
                self.done = True

    def reset(self) -> None:
        self.done = False
