"""Response headers shared by the HTTP transports (faye-protocol.md §4.2-§4.4, §4.7)."""

from __future__ import annotations

import orjson
from starlette.datastructures import Headers
from starlette.responses import Response

__all__ = ["bayeux_headers", "cors_headers", "error_response", "preflight_response"]

ALLOW_HEADERS = "Accept, Authorization, Content-Type, Pragma, X-Requested-With"


def cors_headers(headers: Headers) -> dict[str, str]:
    """faye echoes the Origin (never ``*``) with credentials, only when one was sent."""
    origin = headers.get("origin")
    if not origin:
        return {}
    return {"Access-Control-Allow-Credentials": "true", "Access-Control-Allow-Origin": origin}


def bayeux_headers(headers: Headers, content_type: str) -> dict[str, str]:
    return {
        "Content-Type": content_type,
        "Cache-Control": "no-cache, no-store",
        "X-Content-Type-Options": "nosniff",
        **cors_headers(headers),
    }


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
