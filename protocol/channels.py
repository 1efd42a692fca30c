"""Channel-name grammar and wildcard expansion (faye ``src/protocol/grammar.js``, ``channel.js``).

A segment is one or more of ``A-Z a-z 0-9 - _ ! ~ ( ) $ @``. A channel *name* is one or more
``/segment``; a *pattern* is zero or more ``/segment`` followed by ``/*`` or ``/**``.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import TypeGuard

__all__ = [
    "META_CHANNELS",
    "expand",
    "is_meta",
    "is_name",
    "is_pattern",
    "is_service",
    "is_subscribable",
    "is_valid",
    "overlaps",
]

_SEGMENT = r"[A-Za-z0-9\-_!~()$@]+"
_NAME = re.compile(rf"(?:/{_SEGMENT})+")
_PATTERN = re.compile(rf"(?:/{_SEGMENT})*/\*\*?")

HANDSHAKE = "/meta/handshake"
CONNECT = "/meta/connect"
SUBSCRIBE = "/meta/subscribe"
UNSUBSCRIBE = "/meta/unsubscribe"
DISCONNECT = "/meta/disconnect"
META_CHANNELS = frozenset({HANDSHAKE, CONNECT, SUBSCRIBE, UNSUBSCRIBE, DISCONNECT})


def is_name(channel: object) -> TypeGuard[str]:
    """True for a concrete channel name such as ``/foo/bar`` (no wildcard)."""
    return isinstance(channel, str) and _NAME.fullmatch(channel) is not None


def is_pattern(channel: object) -> TypeGuard[str]:
    """True for a wildcard pattern such as ``/foo/*`` or ``/**``."""
    return isinstance(channel, str) and _PATTERN.fullmatch(channel) is not None


def is_valid(channel: object) -> TypeGuard[str]:
    """faye ``Channel.isValid``: a name or a pattern."""
    return is_name(channel) or is_pattern(channel)


def _first_segment(channel: str) -> str:
    return channel.split("/", 2)[1]


def is_meta(channel: object) -> TypeGuard[str]:
    """faye ``Channel.isMeta``: valid, and the first segment is ``meta``."""
    return is_valid(channel) and _first_segment(channel) == "meta"


def is_service(channel: object) -> TypeGuard[str]:
    """faye ``Channel.isService``: valid, and the first segment is ``service``."""
    return is_valid(channel) and _first_segment(channel) == "service"


def is_subscribable(channel: object) -> TypeGuard[str]:
    """faye ``Channel.isSubscribable``: valid, neither meta nor service."""
    return is_valid(channel) and _first_segment(channel) not in ("meta", "service")


@lru_cache(maxsize=8192)
def expand(name: str) -> tuple[str, ...]:
    """The subscription keys that receive a publish to ``name`` (faye ``Channel.expand``).

    ``/a/b/c`` gives ``/**``, ``/a/b/c``, ``/a/b/*``, ``/a/**``, ``/a/b/**``: the name, the
    name with its last segment replaced by ``*``, and ``/**`` after every proper prefix.
    """
    segments = name.split("/")[1:]
    keys = ["/**", name, "/".join(["", *segments[:-1], "*"])]
    keys.extend("/".join(["", *segments[:i], "**"]) for i in range(1, len(segments)))
    return tuple(keys)


def _split_pattern(channel: str) -> tuple[list[str], str]:
    """The segments before the wildcard, and the wildcard (``""`` for a name, ``*`` or ``**``)."""
    segments = channel.split("/")[1:]
    if segments[-1] in ("*", "**"):
        return segments[:-1], segments[-1]
    return segments, ""


def overlaps(first: str, second: str) -> bool:
    """True when some channel name is matched by both ``first`` and ``second`` (names or patterns).

    A name matches itself; ``/a/*`` matches names one segment below ``/a``; ``/a/**`` any depth
    below it (§1.2). So ``/**`` overlaps everything, ``/a/*`` overlaps ``/a/**`` and ``/a/b``,
    and ``/a/*`` does not overlap ``/a/b/*``.
    """
    head_1, wild_1 = _split_pattern(first)
    head_2, wild_2 = _split_pattern(second)
    if len(head_1) > len(head_2):
        head_1, wild_1, head_2, wild_2 = head_2, wild_2, head_1, wild_1
    if head_2[: len(head_1)] != head_1:
        return False
    if wild_1 == "**":
        return len(head_2) > len(head_1) or wild_2 != ""
    if wild_1 == "*":
        # matches exactly one segment more than its head: the other must allow that depth
        return (len(head_2) == len(head_1) and wild_2 != "") or (len(head_2) == len(head_1) + 1 and wild_2 == "")
    # a name, no deeper than the other: only the same name matches it
    return wild_2 == "" and head_1 == head_2
