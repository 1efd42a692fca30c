"""Reading an HTTP request under the broker's limits, on raw ASGI (one place for every HTTP endpoint).

The Bayeux transports and the REST resources both read bodies with :func:`read_body`, and both
act when a client goes away with :func:`on_disconnect`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from starlette.requests import ClientDisconnect
from starlette.types import Receive

from broker.errors import BodyTooLarge

__all__ = ["declared_length", "on_disconnect", "read_body"]


def declared_length(headers: Mapping[str, str]) -> int | None:
    """The ``Content-Length`` header as a number, or None when absent or not a number."""
    declared = headers.get("content-length")
    if declared is None or not declared.strip().isdigit():
        return None
    return int(declared)


async def read_body(receive: Receive, headers: Mapping[str, str], *, limit: int) -> bytes:
    """The whole body; :class:`BodyTooLarge` past ``limit`` bytes (declared or streamed), and
    :class:`starlette.requests.ClientDisconnect` when the client goes away mid-body."""
    declared = headers.get("content-length")  # declared_length(), inline: this runs for every request
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ClientDisconnect
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def on_disconnect(receive: Receive, then: Callable[[], None]) -> None:
    """Call ``then()`` once the client has closed the connection (the request body was read already).

    One coroutine per watched request (a held long-poll, an EventSource stream), run as a task.
    """
    while (await receive())["type"] != "http.disconnect":
        pass
    then()
