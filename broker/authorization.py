"""The authorization point: who may handshake, subscribe and publish (design in docs/architecture.md).

An :class:`Authorizer` is consulted by the :class:`~broker.server.Broker` after ``protocol`` has
decided and before anything is applied, once per *validated* command: a handshake about to
create a session, a subscribe to one channel or one pattern (a list subscription is split, and a
wildcard arrives as the pattern itself, ``/chat/*``), a publish to one concrete channel. So a rule
cannot be bypassed by sending ``["/secret"]`` instead of ``"/secret"``; a rule that protects a
channel must also refuse the patterns that match it (:func:`subscription_covers` answers that).

Verdicts: ``None`` (no objection) or :class:`Denied`. Any denial wins: the command and those
after it in the same message are not applied, and the reply carries
``403:<channel>:<reason>`` (a handshake: ``403::<reason>`` with advice ``reconnect: none``).
The server-side client is asked about too; ``attempt.context.local`` tells it apart.

An authorizer is added for every attempt, or for channels (names or patterns, as CometD attaches
authorizers to channels): then it is asked only about publishes to a channel those patterns
match and subscribes to a channel or pattern that overlaps them (``/**`` overlaps everything),
and never about handshakes. :class:`AuthorizerTable` keeps them, so that a publish to a channel
no authorizer watches costs a dictionary lookup.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple, Protocol

from broker.extensions import Context
from protocol import channels
from protocol.commands import Message

__all__ = ["Attempt", "Authorizer", "AuthorizerTable", "Denied", "Operation", "Verdict", "first_denial",
           "subscription_covers"]

_CACHE_LIMIT = 4096
"""Channels whose publish authorizers are remembered (cleared when full, or when one is added)."""


class Operation(Enum):
    """What a client attempts."""

    HANDSHAKE = "handshake"
    SUBSCRIBE = "subscribe"
    PUBLISH = "publish"


class Attempt(NamedTuple):
    """One validated operation, as an authorizer sees it (immutable; a named tuple because one is
    built for every publish, and a tuple is built in C)."""

    operation: Operation
    channel: str
    """The channel published to, or the channel or pattern subscribed to; ``""`` for a handshake."""
    client_id: str | None
    """The session's id (the one a handshake is about to create); None for a publish without one."""
    message: Message
    """The incoming message (after incoming extensions), for its ``ext`` (credentials, tokens)."""
    context: Context


@dataclass(frozen=True, slots=True)
class Denied:
    """A refusal; ``reason`` goes into the Bayeux error (letters, digits, spaces and ``-_!~()$@/*.`` only)."""

    reason: str = "Forbidden channel"


Verdict = Denied | None


class Authorizer(Protocol):
    """Decides one attempt; may be a plain method or a coroutine."""

    def authorize(self, attempt: Attempt) -> Verdict | Awaitable[Verdict]: ...


async def first_denial(authorizers: Sequence[Authorizer], attempt: Attempt) -> Denied | None:
    """Ask every authorizer in order; the first denial wins."""
    for authorizer in authorizers:
        verdict = authorizer.authorize(attempt)
        if verdict is None:  # the common answer, checked first: this runs on every publish
            continue
        if not isinstance(verdict, Denied):
            verdict = await verdict
            if verdict is None:
                continue
        return verdict
    return None


def subscription_covers(subscription: str, channel: str) -> bool:
    """True when a subscription to ``subscription`` (a channel or a pattern) receives publishes to ``channel``."""
    return subscription in channels.expand(channel)


_PUBLISH = Operation.PUBLISH


class AuthorizerTable:
    """The broker's authorizers: those asked about every attempt, and those bound to channels."""

    def __init__(self, everywhere: Sequence[Authorizer] = ()) -> None:
        self._everywhere: list[Authorizer] = list(everywhere)
        self._bound: dict[str, list[Authorizer]] = {}
        self._for_publish: dict[str, tuple[Authorizer, ...]] = {}
        self.active = bool(self._everywhere)
        """Whether any authorizer is installed (a plain attribute: read for every message)."""

    def add(self, authorizer: Authorizer, channels_: Sequence[str] = ()) -> None:
        """Ask ``authorizer`` about every attempt, or (with ``channels_``) about those channels."""
        for channel in channels_:
            if not channels.is_valid(channel):
                raise ValueError(f"not a channel name or pattern: {channel!r}")
        if channels_:
            for channel in channels_:
                self._bound.setdefault(channel, []).append(authorizer)
        else:
            self._everywhere.append(authorizer)
        self._for_publish.clear()
        self.active = True

    def asked(self, operation: Operation, channel: str) -> tuple[Authorizer, ...]:
        """The authorizers to ask about ``operation`` on ``channel``, each once, in the order added."""
        if operation is _PUBLISH:
            cached = self._for_publish.get(channel)
            if cached is None:
                if len(self._for_publish) >= _CACHE_LIMIT:
                    self._for_publish.clear()
                bound = [a for key in channels.expand(channel) for a in self._bound.get(key, ())]
                cached = self._for_publish[channel] = _unique([*self._everywhere, *bound])
            return cached
        if operation is Operation.HANDSHAKE or not self._bound:
            return tuple(self._everywhere)
        bound = [a for pattern, listed in self._bound.items() if channels.overlaps(pattern, channel) for a in listed]
        return _unique([*self._everywhere, *bound])


def _unique(authorizers: list[Authorizer]) -> tuple[Authorizer, ...]:
    return tuple(dict.fromkeys(authorizers))
