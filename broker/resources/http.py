"""Reading HTTP input for the REST API: bodies, media types, entity tags, list queries.

Entity tags are the object's version in quotes (``"42"``). ``If-Match`` compares strongly and
``If-None-Match`` weakly (RFC 9110 §8.8.3.2, §13.1.1-§13.1.2); a tag that is not one of ours
simply never matches. A malformed header is a 400 ``invalid-header`` problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from starlette.datastructures import Headers, QueryParams
from starlette.requests import Request

from broker import http_io
from broker.errors import BodyTooLarge
from broker.resources.problems import Problem
from broker.store import Condition, Query, SortKey
from broker.store.query import FIELD_NAME

__all__ = [
    "CONDITIONAL_HEADER",
    "ENTITY_TAG_LIST",
    "Preconditions",
    "check_media_type",
    "etag",
    "parse_list_query",
    "preconditions",
    "read_body",
]

_ENTITY_TAG = re.compile(r'(W/)?"([\x21\x23-\x7e\x80-\xff]*)"')
# RFC 9110 §5.6.1: a list may hold empty elements; an opaque tag may hold commas (etagc, §8.8.3).
_TAG = r'(?:W/)?"[\x21\x23-\x7e\x80-\xff]*"'
_TAGS = rf"(?:{_TAG})?(?:[ \t]*,[ \t]*(?:{_TAG})?)*"
ENTITY_TAG_LIST = re.compile(_TAGS)
CONDITIONAL_HEADER = re.compile(rf"[ \t]*(?:\*|{_TAGS})[ \t]*")
"""A whole ``If-Match`` or ``If-None-Match`` value: ``*`` or a list of entity tags."""

_MAX_VERSION_DIGITS = 19

MAX_LIMIT = 1000
DEFAULT_LIMIT = 100
MAX_OFFSET = 1_000_000_000
MAX_SORT_KEYS = 8
MAX_FILTERS = 16
RESERVED_PARAMETERS = frozenset({"limit", "offset", "sort"})


def etag(version: int) -> str:
    return f'"{version}"'


async def read_body(request: Request, *, limit: int) -> bytes:
    """The body, refused with 413 past ``limit`` bytes (declared or streamed)."""
    try:
        return await http_io.read_body(request.receive, request.headers, limit=limit)
    except BodyTooLarge:
        declared = http_io.declared_length(request.headers)
        if declared is not None and declared > limit:
            raise Problem("too-large", f"the request body is {declared} bytes; the limit is {limit}") from None
        raise Problem("too-large", f"the request body is over the limit of {limit} bytes") from None


def check_media_type(headers: Headers, accepted: tuple[str, ...]) -> None:
    """415 unless ``Content-Type`` is one of ``accepted`` (with, at most, ``charset=utf-8``)."""
    value = headers.get("content-type")
    expected = " or ".join(accepted)
    if value is None:
        raise Problem("unsupported-media-type", f"send the body with Content-Type: {expected}")
    media_type, *parameters = (part.strip() for part in value.split(";"))
    if media_type.lower() not in accepted:
        raise Problem("unsupported-media-type", f"Content-Type {media_type[:100]!r} is not supported; use {expected}")
    for parameter in parameters:
        name, _, raw = parameter.partition("=")
        if name.strip().lower() == "charset" and raw.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise Problem("unsupported-media-type",
                          f"charset {raw.strip()[:40]!r} is not supported; send {expected} in UTF-8")


def _entity_tags(headers: Headers, name: str) -> list[tuple[bool, str]] | None:
    """The tags of every ``name`` header as ``(weak, opaque tag)``; None for ``*``; [] when absent."""
    values = headers.getlist(name)
    if not values:
        return []
    joined = ",".join(values).strip(" \t")
    if joined == "*":
        return None
    if ENTITY_TAG_LIST.fullmatch(joined) is None:
        raise Problem("invalid-header", f"{name} must be '*' or entity tags such as \"12\"; got {joined[:100]!r}")
    # the list is well formed, so its quotes pair up: each match is one tag, commas inside included
    return [(match.group(1) is not None, match.group(2)) for match in _ENTITY_TAG.finditer(joined)]


def _versions(tags: list[tuple[bool, str]], *, weak_ok: bool) -> frozenset[int]:
    return frozenset(
        int(tag) for weak, tag in tags
        if (weak_ok or not weak) and tag.isascii() and tag.isdigit() and len(tag) <= _MAX_VERSION_DIGITS
    )


@dataclass(frozen=True)
class Preconditions:
    """``If-Match`` and ``If-None-Match``, kept apart because a GET answers them differently."""

    if_match: Condition
    if_none_match: Condition

    @property
    def write(self) -> Condition:
        """Both at once, for a write (RFC 9110 §13.2.2: either failing is 412)."""
        match, none_match = self.if_match, self.if_none_match
        if match.exists and none_match.exists is False:
            return Condition(match=frozenset())  # "exists" and "does not exist": never holds
        return Condition(
            exists=match.exists if match.exists is not None else none_match.exists,
            match=match.match,
            none_match=none_match.none_match,
        )

    @property
    def given(self) -> bool:
        return not (self.if_match.is_any and self.if_none_match.is_any)


def preconditions(headers: Headers) -> Preconditions:
    match_tags = _entity_tags(headers, "if-match")
    none_tags = _entity_tags(headers, "if-none-match")
    if match_tags is None:
        if_match = Condition(exists=True)
    elif match_tags:
        if_match = Condition(match=_versions(match_tags, weak_ok=False))
    else:
        if_match = Condition()
    if none_tags is None:
        if_none_match = Condition(exists=False)
    else:
        if_none_match = Condition(none_match=_versions(none_tags, weak_ok=True))
    return Preconditions(if_match, if_none_match)


def _integer(params: QueryParams, name: str, *, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 12 or not low <= int(raw) <= high:
        raise Problem("invalid-query", f"{name} must be an integer from {low} to {high}; got {raw[:40]!r}")
    return int(raw)


def _sort(raw: str) -> tuple[SortKey, ...]:
    keys: list[SortKey] = []
    for part in raw.split(","):
        descending = part.startswith("-")
        name = part[1:] if descending else part.lstrip("+ ")
        if FIELD_NAME.fullmatch(name) is None:
            raise Problem("invalid-query", f"sort takes field names separated by commas, each may start with '-' "
                                           f"for descending order; got {raw[:80]!r}")
        keys.append(SortKey(name, descending))
    if len(keys) > MAX_SORT_KEYS:
        raise Problem("invalid-query", f"sort by at most {MAX_SORT_KEYS} fields")
    return tuple(keys)


def parse_list_query(params: QueryParams) -> Query:
    """``?field=value`` filters, ``sort=a,-b``, ``limit`` (1-1000, 100) and ``offset``."""
    for name in set(params.keys()):
        if len(params.getlist(name)) > 1:
            raise Problem("invalid-query", f"query parameter {name[:64]!r} is given more than once")
    filters: list[tuple[str, str]] = []
    for name, value in params.items():
        if name in RESERVED_PARAMETERS:
            continue
        if FIELD_NAME.fullmatch(name) is None:
            raise Problem("invalid-query", f"{name[:64]!r} is not a field name to filter on (letters, digits, "
                                           "'_' and '-', starting with a letter or '_')")
        filters.append((name, value))
    if len(filters) > MAX_FILTERS:
        raise Problem("invalid-query", f"filter on at most {MAX_FILTERS} fields")
    sort = params.get("sort")
    return Query(
        filters=tuple(filters),
        sort=_sort(sort) if sort is not None else (),
        limit=_integer(params, "limit", default=DEFAULT_LIMIT, low=1, high=MAX_LIMIT),
        offset=_integer(params, "offset", default=0, low=0, high=MAX_OFFSET),
    )
