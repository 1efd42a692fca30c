"""Refusals decided in ``protocol``: the size limit on a publish, and ``refuse`` for the broker's
authorization point (docs/architecture.md, "Authorization point"; docs/protocol.md §2.4, §2.6)."""

from __future__ import annotations

import orjson
import pytest

from protocol.commands import CreateClient, Decision, Message, Subscribe
from protocol.server import Facts, Policy, handle, refuse
from tests.protocol.helpers import CLIENT, KNOWN, NEW_ID, POLICY, UNKNOWN, handshake, published

FORBIDDEN = "403:/secret:Forbidden channel"


def _subscribe(subscription: object) -> Message:
    return {"channel": "/meta/subscribe", "clientId": CLIENT, "subscription": subscription, "id": "s"}


@pytest.mark.parametrize("size", [10, 100, 1000])
def test_publish_is_refused_when_its_delivered_copy_is_larger_than_the_limit(size: int) -> None:
    message = {"channel": "/foo", "data": "x" * size, "id": "p"}
    encoded = orjson.dumps({"channel": "/foo", "data": "x" * size, "id": "p"})
    at_limit = Policy(max_message_bytes=len(encoded))
    assert handle(message, UNKNOWN, at_limit).commands == (published("/foo", dict(message)),)
    below = Policy(max_message_bytes=len(encoded) - 1)
    assert handle(message, UNKNOWN, below) == Decision(
        {"id": "p", "channel": "/foo", "successful": False, "error": "413:/foo:Message too large"})


def test_the_size_limit_counts_the_delivered_copy_not_the_fields_stripped_from_it() -> None:
    message = {"channel": "/foo", "data": 1, "clientId": CLIENT, "advice": {"x": "y" * 100}}
    limit = Policy(max_message_bytes=len(orjson.dumps({"channel": "/foo", "data": 1})))
    assert handle(message, KNOWN, limit).commands == (published("/foo", {"channel": "/foo", "data": 1}, CLIENT),)


def test_refused_subscribe_keeps_the_channels_before_the_refused_one() -> None:
    decision = handle(_subscribe(["/a", "/secret", "/b"]), KNOWN, POLICY)
    assert decision.commands == (Subscribe(CLIENT, "/a"), Subscribe(CLIENT, "/secret"), Subscribe(CLIENT, "/b"))
    refused = refuse(decision, 1, FORBIDDEN)
    assert refused == Decision(
        {"id": "s", "clientId": CLIENT, "channel": "/meta/subscribe", "successful": False, "error": FORBIDDEN,
         "subscription": ["/a", "/secret", "/b"]},
        (Subscribe(CLIENT, "/a"),),
    )


def test_refuse_builds_a_new_reply_and_leaves_the_decision_alone() -> None:
    decision = handle(_subscribe("/secret"), KNOWN, POLICY)
    refused = refuse(decision, 0, FORBIDDEN)
    assert decision.reply is not None
    assert decision.reply["successful"] is True
    assert refused.reply is not None
    assert refused.reply is not decision.reply
    assert refused.commands == ()


def test_refused_publish_routes_nothing() -> None:
    decision = handle({"channel": "/secret", "data": 1, "id": "p"}, UNKNOWN, POLICY)
    assert refuse(decision, 0, FORBIDDEN) == Decision(
        {"id": "p", "channel": "/secret", "successful": False, "error": FORBIDDEN})


def test_refused_handshake_creates_no_client_and_advises_not_to_reconnect() -> None:
    """faye#542: a client refused at handshake would otherwise handshake again forever."""
    decision = handle(handshake(id="h"), Facts(new_client_id=NEW_ID), POLICY)
    assert decision.commands == (CreateClient(NEW_ID),)
    refused = refuse(decision, 0, "403::Authentication required")
    assert refused.commands == ()
    assert refused.reply is not None
    assert "clientId" not in refused.reply
    assert refused.reply["successful"] is False
    assert refused.reply["error"] == "403::Authentication required"
    assert refused.reply["advice"] == {"reconnect": "none"}


def test_only_a_decision_with_a_reply_can_be_refused() -> None:
    with pytest.raises(AssertionError):
        refuse(Decision(None, (Subscribe(CLIENT, "/a"),)), 0, FORBIDDEN)

