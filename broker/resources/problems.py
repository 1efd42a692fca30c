"""Problem details (RFC 9457): every error of the REST API is an ``application/problem+json`` body.

A handler raises :class:`Problem`; the API turns it into the response. ``type`` is a URN per
kind of problem (``urn:bayeux-broker:problem:<slug>``, listed in ``docs/resources.md``),
``title`` is the same for every problem of a kind, ``detail`` says what was wrong with this
request, and extension members (``index`` for a bulk import) say where. ``instance`` is the
request's path as a URI reference (percent-encoded, RFC 3986 §3.3), whatever bytes it held.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

import orjson
from starlette.responses import Response

from broker.errors import BrokerError

__all__ = ["PROBLEM_TYPES", "Problem", "instance_of", "problem_response"]

MEDIA_TYPE = "application/problem+json"

PROBLEM_TYPES: dict[str, tuple[int, str]] = {
    "invalid-json": (400, "Malformed JSON"),
    "invalid-object": (400, "Invalid object"),
    "invalid-name": (400, "Invalid collection name or id"),
    "invalid-query": (400, "Invalid query parameter"),
    "invalid-header": (400, "Invalid header"),
    "unauthorized": (401, "Authentication required"),
    "forbidden": (403, "Forbidden"),
    "not-found": (404, "Not found"),
    "method-not-allowed": (405, "Method not allowed"),
    "already-exists": (409, "Already exists"),
    "precondition-failed": (412, "Precondition failed"),
    "too-large": (413, "Content too large"),
    "unsupported-media-type": (415, "Unsupported media type"),
    "internal": (500, "Internal server error"),
    "unavailable": (503, "Store unavailable"),
}
"""Every problem the API answers with: slug -> (HTTP status, title)."""


_PATH_SAFE = "/!$&'()*+,;=:@-._~"
"""Characters a path segment may hold unencoded (RFC 3986 §3.3 ``pchar``), and the separator."""


def instance_of(path: str) -> str:
    """The decoded request path as a URI reference: ``/api/a%0Ab`` stays ``/api/a%0Ab``, not a newline."""
    return quote(path, safe=_PATH_SAFE)


def type_uri(slug: str) -> str:
    return f"urn:bayeux-broker:problem:{slug}"


class Problem(BrokerError):
    """An error answered as problem details; ``slug`` is a key of :data:`PROBLEM_TYPES`."""

    def __init__(
        self,
        slug: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        status: int | None = None,
        **extensions: object,
    ) -> None:
        super().__init__(detail)
        default_status, self.title = PROBLEM_TYPES[slug]
        self.slug = slug
        self.status = status or default_status
        self.detail = detail
        self.headers = dict(headers or {})
        self.extensions = extensions

    def response(self, instance: str) -> Response:
        return problem_response(self, instance)


def problem_response(problem: Problem, instance: str) -> Response:
    body: dict[str, object] = {
        "type": type_uri(problem.slug),
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        "instance": instance,
        **problem.extensions,
    }
    headers = {"Cache-Control": "no-store", **problem.headers}
    return Response(orjson.dumps(body), status_code=problem.status, media_type=MEDIA_TYPE, headers=headers)
