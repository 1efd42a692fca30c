"""``/meta/subscribe`` and ``/meta/unsubscribe`` decisions (docs/protocol.md §1.3, §2.4, §2.8, §7.2;
checklist 28-43, 110)."""

from __future__ import annotations

from typing import Any

import pytest

from protocol.commands import Message, Subscribe, Unsubscribe
from protocol.server import Facts, Policy, handle
from tests.protocol.helpers import CLIENT, KNOWN, LOCAL, POLICY, UNKNOWN, without

Command = type[Subscribe] | type[Unsubscribe]
BOTH = [
    pytest.param("/meta/subscribe", Subscribe, id="subscribe"),
    pytest.param("/meta/unsubscribe", Unsubscribe, id="unsubscribe"),
]


def request(channel: str, subscription: Any = "/foo", **fields: object) -> Message:
    message: Message = {"channel": channel, "clientId": CLIENT, "subscription": subscription}
    message.update(fields)
    return message


@pytest.mark.parametrize(("channel", "command"), BOTH)
def test_c28_string_subscription_is_echoed_as_a_string(channel: str, command: Command) -> None:
    decision = handle(request(channel, "/foo", id="s1"), KNOWN, POLICY)
    assert decision.reply == {
        "id": "s1",
        "clientId": CLIENT,
        "channel": channel,
        "successful": True,
        "subscription": "/foo",
    }
    assert decision.commands == (command(CLIENT, "/foo"),)


@pytest.mark.parametrize(("channel", "command"), BOTH)
def test_c29_array_subscription_is_echoed_as_the_same_array(channel: str, command: Command) -> None:
    wanted = ["/a/*", "/b/**", "/c"]
    decision = handle(request(channel, wanted), KNOWN, POLICY)
    assert decision.reply is not None
    assert decision.reply["successful"] is True
    assert decision.reply["subscription"] == ["/a/*", "/b/**", "/c"]
    assert decision.commands == tuple(command(CLIENT, c) for c in wanted)


@pytest.mark.parametrize(("channel", "command"), BOTH)
def test_c38_empty_array_is_successful_and_does_nothing(channel: str, command: Command) -> None:
    decision = handle(request(channel, []), KNOWN, POLICY)
    assert decision.reply == {"clientId": CLIENT, "channel": channel, "successful": True, "subscription": []}
    assert decision.commands == ()


@pytest.mark.parametrize(("channel", "command"), BOTH)
def test_c39_repeated_channel_is_applied_each_time(channel: str, command: Command) -> None:
    """The engine makes subscribe idempotent (the ``subscribe`` event fires once)."""
    decision = handle(request(channel, ["/foo", "/foo"]), KNOWN, POLICY)
    assert decision.reply is not None
    assert decision.reply["successful"] is True
    assert decision.commands == (command(CLIENT, "/foo"), command(CLIENT, "/foo"))


UNKNOWN_CLIENT = f"401:{CLIENT}:Unknown client"
ID_MISSING = "402:clientId:Missing required parameter"
SUB_MISSING = "402:subscription:Missing required parameter"


@pytest.mark.parametrize(("channel", "command"), BOTH)
@pytest.mark.parametrize(
    ("fields", "drop", "facts", "error", "echo"),
    [
        pytest.param({}, "subscription", KNOWN, SUB_MISSING, [], id="c34-missing-subscription"),
        pytest.param({"subscription": None}, "", KNOWN, SUB_MISSING, [], id="null-subscription"),
        pytest.param({"subscription": ""}, "", KNOWN, SUB_MISSING, [], id="empty-string-subscription"),
        pytest.param({"subscription": 0}, "", KNOWN, SUB_MISSING, [], id="zero-subscription"),
        pytest.param({"subscription": False}, "", KNOWN, SUB_MISSING, [], id="false-subscription"),
        pytest.param({}, "", UNKNOWN, UNKNOWN_CLIENT, "/foo", id="c35-unknown-client"),
        pytest.param({}, "clientId", UNKNOWN, ID_MISSING, "/foo", id="c36-no-client-id"),
        pytest.param({"clientId": ""}, "", UNKNOWN, ID_MISSING, "/foo", id="empty-client-id"),
        pytest.param({}, "subscription", UNKNOWN, SUB_MISSING, [], id="s2_8-subscription-beats-401"),
        pytest.param({"clientId": None, "subscription": ""}, "", UNKNOWN, SUB_MISSING, [], id="s2_8-last-402-wins"),
        pytest.param({"error": "403::Denied"}, "", KNOWN, "403::Denied", "/foo", id="c110-extension-error"),
        pytest.param({"error": "403::Denied"}, "", UNKNOWN, UNKNOWN_CLIENT, "/foo", id="401-beats-extension"),
    ],
)
def test_s2_4_session_checks(
    channel: str, command: Command, fields: Message, drop: str, facts: Facts, error: str, echo: object
) -> None:
    message = without(request(channel, **fields), drop)
    decision = handle(message, facts, POLICY)
    assert decision.reply is not None
    assert decision.reply["error"] == error
    assert decision.reply["successful"] is False
    assert decision.reply["subscription"] == echo
    assert decision.commands == ()


def test_c35_unknown_client_reply_still_echoes_client_id_and_subscription() -> None:
    reply = handle(request("/meta/subscribe", ["/a"], id="s2"), UNKNOWN, POLICY).reply
    assert reply == {
        "id": "s2",
        "clientId": CLIENT,
        "channel": "/meta/subscribe",
        "successful": False,
        "error": UNKNOWN_CLIENT,
        "subscription": ["/a"],
    }


def test_c110_s6_extension_error_reply_observed_on_the_wire() -> None:
    message = request("/meta/subscribe", "/secret", id="s", error="403::Authentication required")
    decision = handle(message, KNOWN, POLICY)
    assert decision.reply == {
        "id": "s",
        "clientId": CLIENT,
        "channel": "/meta/subscribe",
        "error": "403::Authentication required",
        "successful": False,
        "subscription": "/secret",
    }
    assert decision.commands == ()


REMOTE_REFUSED = [
    pytest.param("/meta/foo", "403:/meta/foo:Forbidden channel", id="c30-meta"),
    pytest.param("/meta/*", "403:/meta/*:Forbidden channel", id="c43-meta-star"),
    pytest.param("/meta/**", "403:/meta/**:Forbidden channel", id="meta-globstar"),
    pytest.param("/meta/subscribe", "403:/meta/subscribe:Forbidden channel", id="meta-handler-channel"),
    pytest.param("/service/x", "403:/service/x:Forbidden channel", id="c31-service"),
    pytest.param("/service/**", "403:/service/**:Forbidden channel", id="c31-service-globstar"),
    pytest.param("foo", "405:foo:Invalid channel", id="c32-no-leading-slash"),
    pytest.param("/foo/*/bar", "405:/foo/*/bar:Invalid channel", id="c33-star-not-last"),
    pytest.param("/foo*", "405:/foo*:Invalid channel", id="c33-star-in-segment"),
    pytest.param("/foo/***", "405:/foo/***:Invalid channel", id="c33-triple-star"),
    pytest.param("/meta/x/", "405:/meta/x/:Invalid channel", id="s2_8-405-overwrites-403"),
    pytest.param("", "405::Invalid channel", id="empty-entry"),
    pytest.param(None, "405::Invalid channel", id="null-entry"),
    pytest.param({"a": 1}, "405:[object Object]:Invalid channel", id="s2_4-object-entry"),
    pytest.param(5, "405:5:Invalid channel", id="number-entry"),
]


@pytest.mark.parametrize(("channel", "command"), BOTH)
@pytest.mark.parametrize(("entry", "error"), REMOTE_REFUSED)
def test_s1_3_remote_client_channel_errors(channel: str, command: Command, entry: object, error: str) -> None:
    decision = handle(request(channel, [entry]), KNOWN, POLICY)
    assert decision.reply is not None
    assert decision.reply["error"] == error
    assert decision.reply["successful"] is False
    assert decision.reply["subscription"] == [entry]
    assert decision.commands == ()


@pytest.mark.parametrize(
    ("subscription", "error"),
    [
        pytest.param({"a": 1}, "405:[object Object]:Invalid channel", id="object"),
        pytest.param(True, "405:true:Invalid channel", id="true"),
        pytest.param(7, "405:7:Invalid channel", id="number"),
        pytest.param("/service/x", "403:/service/x:Forbidden channel", id="string"),
    ],
)
def test_s2_4_non_array_subscription_is_one_entry_echoed_as_sent(subscription: object, error: str) -> None:
    decision = handle(request("/meta/subscribe", subscription), KNOWN, POLICY)
    assert decision.reply is not None
    assert decision.reply["error"] == error
    assert decision.reply["subscription"] == subscription


@pytest.mark.parametrize(("channel", "command"), BOTH)
@pytest.mark.parametrize("entry", ["/meta/**", "/meta/foo", "/meta/*", "/service/**", "/service/x", "/foo", "/**"])
def test_s1_3_s7_2_local_client_may_use_meta_and_service(channel: str, command: Command, entry: str) -> None:
    decision = handle(request(channel, entry), LOCAL, POLICY)
    assert decision.reply is not None
    assert decision.reply["successful"] is True
    assert decision.commands == (command(CLIENT, entry),)


@pytest.mark.parametrize(("channel", "command"), BOTH)
@pytest.mark.parametrize(
    ("entry", "error"),
    [
        pytest.param("foo", "405:foo:Invalid channel", id="no-leading-slash"),
        pytest.param("/meta/x/", "405:/meta/x/:Invalid channel", id="meta-trailing-slash"),
        pytest.param("/service/*/x", "405:/service/*/x:Invalid channel", id="service-bad-pattern"),
        pytest.param({"a": 1}, "405:[object Object]:Invalid channel", id="object"),
    ],
)
def test_s1_3_local_client_still_gets_405_for_invalid_channels(
    channel: str, command: Command, entry: object, error: str
) -> None:
    decision = handle(request(channel, entry), LOCAL, POLICY)
    assert decision.reply is not None
    assert decision.reply["error"] == error
    assert decision.commands == ()


@pytest.mark.parametrize(("channel", "command"), BOTH)
@pytest.mark.parametrize(
    ("wanted", "applied", "error"),
    [
        pytest.param(["/p1", "/meta/x", "/p2"], ["/p1"], "403:/meta/x:Forbidden channel", id="c37-forbidden-middle"),
        pytest.param(["/p1", "bad", "/p2"], ["/p1"], "405:bad:Invalid channel", id="invalid-middle"),
        pytest.param(["/p1", "/p2", "/service/x"], ["/p1", "/p2"], "403:/service/x:Forbidden channel", id="last"),
        pytest.param(["/meta/x", "bad"], [], "403:/meta/x:Forbidden channel", id="first-error-stops-the-walk"),
    ],
)
def test_s2_4_partial_subscribe_keeps_earlier_channels(
    channel: str, command: Command, wanted: list[str], applied: list[str], error: str
) -> None:
    decision = handle(request(channel, wanted), KNOWN, POLICY)
    assert decision.reply is not None
    assert decision.reply["error"] == error
    assert decision.reply["successful"] is False
    assert decision.reply["subscription"] == wanted
    assert decision.commands == tuple(command(CLIENT, c) for c in applied)


@pytest.mark.parametrize(("channel", "command"), BOTH)
@pytest.mark.parametrize("facts", [KNOWN, LOCAL], ids=["remote", "local"])
def test_design_s4_channel_length_is_bounded(channel: str, command: Command, facts: Facts) -> None:
    policy = Policy(max_channel_length=10)
    fits, too_long = "/" + "a" * 9, "/" + "a" * 10
    decision = handle(request(channel, [fits, too_long, "/b"]), facts, policy)
    assert decision.reply is not None
    assert decision.reply["error"] == "405::Invalid channel"
    assert decision.commands == (command(CLIENT, fits),)


@pytest.mark.parametrize(
    ("count", "wanted", "applied", "error"),
    [
        pytest.param(0, ["/a", "/b"], ["/a", "/b"], None, id="up-to-the-limit"),
        pytest.param(1, ["/a", "/b"], ["/a"], "403:/b:Too many subscriptions", id="reaches-the-limit"),
        pytest.param(2, ["/a"], [], "403:/a:Too many subscriptions", id="already-at-the-limit"),
        pytest.param(5, ["/a"], [], "403:/a:Too many subscriptions", id="over-the-limit"),
        pytest.param(2, ["bad"], [], "405:bad:Invalid channel", id="channel-error-first"),
        pytest.param(2, ["/meta/x"], [], "403:/meta/x:Forbidden channel", id="forbidden-first"),
        pytest.param(2, [], [], None, id="empty-at-the-limit"),
    ],
)
def test_design_s4_subscriptions_per_client_are_bounded(
    count: int, wanted: list[str], applied: list[str], error: str | None
) -> None:
    facts = Facts(client_exists=True, subscription_count=count)
    decision = handle(request("/meta/subscribe", wanted), facts, Policy(max_subscriptions=2))
    assert decision.reply is not None
    assert decision.reply.get("error") == error
    assert decision.reply["successful"] is (error is None)
    assert decision.commands == tuple(Subscribe(CLIENT, c) for c in applied)


def test_design_s4_unsubscribe_ignores_the_subscription_limit() -> None:
    facts = Facts(client_exists=True, subscription_count=5)
    decision = handle(request("/meta/unsubscribe", ["/a", "/b"]), facts, Policy(max_subscriptions=2))
    assert decision.reply is not None
    assert decision.reply["successful"] is True
    assert decision.commands == (Unsubscribe(CLIENT, "/a"), Unsubscribe(CLIENT, "/b"))


@pytest.mark.parametrize(("channel", "command"), BOTH)
@pytest.mark.parametrize(
    ("subscription", "facts"),
    [("/foo", KNOWN), (["/meta/x"], KNOWN), ("/foo", UNKNOWN), (None, KNOWN), ("/meta/x", LOCAL)],
)
def test_c40_subscribe_replies_carry_no_advice(
    channel: str, command: Command, subscription: object, facts: Facts
) -> None:
    reply = handle(request(channel, subscription), facts, POLICY).reply
    assert reply is not None
    assert "advice" not in reply


def test_c41_unsubscribe_never_subscribed_is_successful() -> None:
    """The core does not check membership: faye answers successful either way."""
    decision = handle(request("/meta/unsubscribe", "/never"), KNOWN, POLICY)
    assert decision.reply is not None
    assert decision.reply["successful"] is True
    assert decision.commands == (Unsubscribe(CLIENT, "/never"),)
