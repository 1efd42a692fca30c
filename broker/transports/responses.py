"""Responses of the HTTP transports, with the one set of Bayeux headers (docs/protocol.md §4.2-§4.4, §4.7)."""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

__all__ = ["BayeuxReply", "bayeux_header_list", "error_response", "preflight_response"]

ALLOW_HEADERS = "Accept, Authorization, Content-Type, Pragma, X-Requested-With"


_NO_CACHE = (b"cache-control", b"no-cache, no-store")
_NO_SNIFF = (b"x-content-type-options", b"nosniff")


def bayeux_header_list(request_headers: Headers, content_type: bytes) -> list[tuple[bytes, bytes]]:
    """The headers of every Bayeux response body (faye: no caching, no sniffing, CORS when asked)."""
    headers = [(b"content-type", content_type), _NO_CACHE, _NO_SNIFF]
    origin = request_headers.get("origin")
    if origin:
        headers += [(b"access-control-allow-credentials", b"true"),
                    (b"access-control-allow-origin", origin.encode("latin-1"))]
    return headers


class BayeuxReply:
    """A 200 reply with faye's headers, sent as two raw ASGI messages.

    The long-polling hot path builds one per poll; Starlette's ``Response`` would re-encode
    and re-check its headers each time.
    """

    __slots__ = ("body", "headers")

    def __init__(self, body: bytes, request_headers: Headers, content_type: bytes,
                 extra: Sequence[tuple[bytes, bytes]] = ()) -> None:
        self.body = body
        headers = bayeux_header_list(request_headers, content_type)
        if extra:
            headers.extend(extra)
        headers.append((b"content-length", str(len(body)).encode()))
        self.headers = headers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.headers})
        await send({"type": "http.response.body", "body": self.body})


def preflight_response(headers: Headers) -> Response:
    """faye ``_handleOptions``: 200, empty, ACAO = Origin, else Referer, else ``*``."""
    origin = headers.get("origin") or headers.get("referer") or "*"
    return Response(
        b"",
        status_code=200,
        headers={
            "Access-Control-Allow-Credentials": "true",
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Allow-Methods": "POST, GET",
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Max-Age": "86400",
        },
    )


def error_response(status: int, reason: str) -> Response:
    """HTTP-level errors carry a JSON body with the reason (faye sends a bare ``Bad request``)."""
    return Response(
        orjson.dumps({"error": reason, "status": status}),
        status_code=status,
        media_type="application/json",
    )
