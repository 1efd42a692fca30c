"""The access-control hook of the REST API: one callable decides per request.

``create_app(access=hook)`` calls ``hook(AccessRequest(...))`` before the API reads the body
or touches the store. The hook (a plain function or a coroutine function) returns:

- ``True`` (or ``None``): allowed;
- ``False``: 403 ``forbidden``;
- :class:`Denied`: its status (401 with a ``WWW-Authenticate`` challenge, or 403) and detail.

A hook that raises denies the request (500 ``internal``, logged): access control fails closed.
The OpenAPI document and ``OPTIONS`` are not access-checked.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from broker.resources.problems import Problem

__all__ = ["AccessHook", "AccessRequest", "Denied", "check_access"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True)
class AccessRequest:
    """What the hook sees: the method, the collection and id (None for a collection), the headers."""

    method: str
    collection: str
    id: str | None
    headers: Mapping[str, str]
    """The request headers (case-insensitive lookup: ``headers.get("authorization")``)."""
    client: str | None = None
    """The peer's address."""


@dataclass(frozen=True, kw_only=True)
class Denied:
    """A refusal: 401 (not authenticated; sent with ``WWW-Authenticate: <challenge>``) or 403."""

    status: Literal[401, 403] = 403
    detail: str = "you may not do this"
    challenge: str = "Bearer"

    def __post_init__(self) -> None:
        if self.status not in (401, 403):
            raise ValueError("Denied.status must be 401 or 403")

    @classmethod
    def unauthorized(cls, detail: str = "authentication required", *, challenge: str = "Bearer") -> Denied:
        return cls(status=401, detail=detail, challenge=challenge)

    @classmethod
    def forbidden(cls, detail: str = "you may not do this") -> Denied:
        return cls(status=403, detail=detail)


Decision = bool | Denied | None
AccessHook = Callable[[AccessRequest], Decision | Awaitable[Decision]]
"""The hook's type: sync or async, answering True/None (allow), False (403) or :class:`Denied`."""


async def check_access(hook: AccessHook | None, request: AccessRequest) -> None:
    """Raise the problem the hook's answer calls for; return when the request is allowed."""
    if hook is None:
        return
    try:
        answer = hook(request)
        if inspect.isawaitable(answer):
            answer = await answer
    except Exception:
        log.exception("the access hook failed on %s %s", request.method, request.collection)
        raise Problem("internal", "the access check failed") from None
    if answer is True or answer is None:
        return
    if answer is False:
        raise Problem("forbidden", "you may not do this")
    if isinstance(answer, Denied):
        if answer.status == 401:
            raise Problem("unauthorized", answer.detail, headers={"WWW-Authenticate": answer.challenge})
        raise Problem("forbidden", answer.detail)
    log.error("the access hook returned %r; expected True, False, None or Denied", answer)
    raise Problem("internal", "the access check failed")
