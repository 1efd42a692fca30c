"""Broker settings: timeouts and the limits that bound every input (docs/architecture.md §4, docs/limits.md)."""

from __future__ import annotations

from dataclasses import dataclass

from protocol.server import Policy

__all__ = ["Settings"]


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Every option of the broker, with its default. Times are in seconds."""

    mount: str = "/faye"
    timeout: float = 60.0
    """How long a ``/meta/connect`` is held (faye ``timeout``); clients are reaped after 2x."""
    interval: float = 0.0
    """Advice ``interval``: how long clients wait between connects."""
    ping: float | None = None
    """WebSocket ping frames every ``ping`` seconds (faye sends none by default)."""
    eventsource_ping: float = 10.0
    """EventSource keep-alive comments (faye sends one every 10 s)."""
    max_body_bytes: int = 1_048_576
    max_message_bytes: int = 262_144
    max_batch_messages: int = 1000
    max_channel_length: int = 1024
    max_subscriptions: int = 1000
    max_queue: int = 10_000
    """Messages queued for one client; past it the client is disconnected (slow consumer)."""
    strip_delivery_fields: bool = True
    answer_first_connect: bool = True
    answer_superseded_connect: bool = True

    def __post_init__(self) -> None:
        if not self.mount.startswith("/"):
            raise ValueError("mount must start with '/'")
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")
        if self.interval < 0:
            raise ValueError("interval must not be negative")
        if self.ping is not None and self.ping <= 0:
            raise ValueError("ping must be positive")
        for name in (
            "max_body_bytes",
            "max_message_bytes",
            "max_batch_messages",
            "max_channel_length",
            "max_subscriptions",
            "max_queue",
        ):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")

    @property
    def mount_path(self) -> str:
        """The mount without a trailing slash ("/" stays "")."""
        return self.mount.rstrip("/")

    def policy(self) -> Policy:
        """The subset of settings the pure handlers need."""
        return Policy(
            timeout_ms=int(self.timeout * 1000),
            interval_ms=int(self.interval * 1000),
            max_channel_length=self.max_channel_length,
            max_subscriptions=self.max_subscriptions,
            max_message_bytes=self.max_message_bytes,
            strip_delivery_fields=self.strip_delivery_fields,
            answer_first_connect=self.answer_first_connect,
        )
