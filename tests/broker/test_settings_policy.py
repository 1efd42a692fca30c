"""``Settings.policy()`` hands every limit the pure handlers enforce to ``protocol`` (docs/architecture.md §2)."""

from __future__ import annotations

import dataclasses

import pytest

from broker.config import Settings
from protocol.server import Policy

_CHANGED = {
    "timeout": (Settings(timeout=7.5), "timeout_ms", 7500),
    "interval": (Settings(interval=0.25), "interval_ms", 250),
    "max_channel_length": (Settings(max_channel_length=17), "max_channel_length", 17),
    "max_subscriptions": (Settings(max_subscriptions=3), "max_subscriptions", 3),
    "max_message_bytes": (Settings(max_message_bytes=99), "max_message_bytes", 99),
    "strip_delivery_fields": (Settings(strip_delivery_fields=False), "strip_delivery_fields", False),
    "answer_first_connect": (Settings(answer_first_connect=False), "answer_first_connect", False),
}


def test_every_policy_field_comes_from_a_setting() -> None:
    assert {field for _, field, _ in _CHANGED.values()} == {f.name for f in dataclasses.fields(Policy)}


@pytest.mark.parametrize("name", sorted(_CHANGED))
def test_a_changed_setting_reaches_the_policy(name: str) -> None:
    settings, field, expected = _CHANGED[name]
    assert getattr(settings.policy(), field) == expected
    assert getattr(Settings().policy(), field) != expected
