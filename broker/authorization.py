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
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from broker.extensions import Context
from protocol import channels
from protocol.commands import Message

__all__ = ["Attempt", "Authorizer", "Denied", "Operation", "Verdict", "first_denial", "subscription_covers"]


class Operation(Enum):
    """What a client attempts."""

    HANDSHAKE = "handshake"
    SUBSCRIBE = "subscribe"
    PUBLISH = "publish"


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """One validated operation, as an authorizer sees it."""

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
        if inspect.isawaitable(verdict):
            verdict = await verdict
        if verdict is not None:
            return verdict
    return None


def subscription_covers(subscription: str, channel: str) -> bool:
    """True when a subscription to ``subscription`` (a channel or a pattern) receives publishes to ``channel``."""
    return subscription in channels.expand(channel)
