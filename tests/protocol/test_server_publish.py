"""Publishing to non-meta channels (docs/protocol.md §1.3, §1.4, §2.6, §2.8, §5.9 item 6;
checklist 44-54, 58, 60, 61, 111)."""

from __future__ import annotations

import pytest

from protocol.commands import Message, Publish
from protocol.server import DELIVERY_STRIPPED_FIELDS, Facts, Policy, handle
from tests.protocol.helpers import CLIENT, KNOWN, LOCAL, POLICY, UNKNOWN, published, without

FAYE = Policy(strip_delivery_fields=False)
DATA_MISSING = "402:data:Missing required parameter"


def publish(**fields: object) -> Message:
    message: Message = {"channel": "/foo", "data": {"x": 1}}
    message.update(fields)
    return message


def test_c44_publish_reply_has_no_data() -> None:
    decision = handle(publish(id="p1"), UNKNOWN, POLICY)
    assert decision.reply == {"id": "p1", "channel": "/foo", "successful": True}
    assert decision.commands == (published("/foo", {"channel": "/foo", "data": {"x": 1}, "id": "p1"}, None),)


@pytest.mark.parametrize(
    ("facts", "fields", "publisher"),
    [
        pytest.param(UNKNOWN, {}, None, id="c45-no-client-id"),
        pytest.param(UNKNOWN, {"clientId": "nope"}, "nope", id="c46-unknown-client-id"),
        pytest.param(KNOWN, {"clientId": CLIENT}, CLIENT, id="known-client-id"),
        pytest.param(LOCAL, {"clientId": CLIENT}, CLIENT, id="local-client"),
    ],
)
def test_s2_6_client_id_is_not_validated_but_echoed(facts: Facts, fields: Message, publisher: object) -> None:
    decision = handle(publish(**fields), facts, POLICY)
    assert decision.reply is not None
    assert decision.reply["successful"] is True
    assert decision.reply.get("clientId") == publisher
    (command,) = decision.commands
    assert isinstance(command, Publish)
    assert command.publisher == publisher
    assert "clientId" not in command.message


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(None, id="null"),
        pytest.param(0, id="zero"),
        pytest.param(False, id="false"),
        pytest.param("", id="empty-string"),
        pytest.param([], id="empty-array"),
        pytest.param({}, id="empty-object"),
        pytest.param("text", id="string"),
    ],
)
def test_c47_any_present_data_is_valid_and_delivered_unchanged(data: object) -> None:
    decision = handle(publish(data=data), UNKNOWN, POLICY)
    assert decision.reply is not None
    assert decision.reply["successful"] is True
    (command,) = decision.commands
    assert isinstance(command, Publish)
    delivered = command.message["data"]
    assert delivered == data
    assert type(delivered) is type(data)


@pytest.mark.parametrize(
    ("message", "error"),
    [
        pytest.param(without(publish(), "data"), DATA_MISSING, id="c47-no-data"),
        pytest.param(publish(channel="/foo/*"), "405:/foo/*:Invalid channel", id="c48-pattern"),
        pytest.param(publish(channel="/foo/**"), "405:/foo/**:Invalid channel", id="c48-globstar"),
        pytest.param(publish(channel="/**"), "405:/**:Invalid channel", id="root-globstar"),
        pytest.param(publish(channel="/a.b"), "405:/a.b:Invalid channel", id="c52-dot"),
        pytest.param(publish(channel="/a b"), "405:/a b:Invalid channel", id="c52-space"),
        pytest.param(publish(channel="/"), "405:/:Invalid channel", id="c52-bare-slash"),
        pytest.param(publish(channel="//a"), "405://a:Invalid channel", id="c52-empty-segment"),
        pytest.param(publish(channel="/café"), "405:/café:Invalid channel", id="s1_1-non-ascii"),
        pytest.param(publish(channel=123), "405:123:Invalid channel", id="s1_1-number"),
        pytest.param(publish(channel=[]), "405::Invalid channel", id="empty-array"),
        pytest.param(
            publish(channel="/meta/subscribe/"), "405:/meta/subscribe/:Invalid channel", id="s1_3-meta-trailing-slash"
        ),
        pytest.param(
            without(publish(channel="/meta/subscribe/"), "data"), DATA_MISSING, id="s1_3-meta-trailing-slash-no-data"
        ),
        pytest.param(publish(error="403::Password required"), "403::Password required", id="c111-extension-error"),
        pytest.param(
            publish(error="403::x", channel="/foo/*"), "405:/foo/*:Invalid channel", id="s2_8-405-beats-extension"
        ),
        pytest.param(without(publish(error="403::x"), "data"), DATA_MISSING, id="s2_8-402-beats-extension"),
        pytest.param(without(publish(channel="/foo/*"), "data"), DATA_MISSING, id="s2_8-402-beats-405"),
    ],
)
def test_s2_6_publish_errors_publish_nothing(message: Message, error: str) -> None:
    decision = handle(message, KNOWN, POLICY)
    assert decision.reply is not None
    assert decision.reply["error"] == error
    assert decision.reply["successful"] is False
    assert "advice" not in decision.reply
    assert decision.commands == ()


@pytest.mark.parametrize(
    ("message", "reply"),
    [
        pytest.param(
            without(publish(), "channel"),
            {"successful": False, "error": "405::Invalid channel"},
            id="c51-data-present",
        ),
        pytest.param(
            without(publish(), "channel", "data"),
            {"successful": False, "error": DATA_MISSING},
            id="c51-data-missing",
        ),
        pytest.param(
            publish(channel="", id="p"),
            {"id": "p", "successful": False, "error": "405::Invalid channel"},
            id="empty-channel",
        ),
        pytest.param(
            publish(channel=None),
            {"successful": False, "error": "405::Invalid channel"},
            id="null-channel",
        ),
    ],
)
def test_c51_publish_without_a_channel_gets_a_reply_without_channel(message: Message, reply: Message) -> None:
    decision = handle(message, UNKNOWN, POLICY)
    assert decision.reply == reply
    assert decision.commands == ()


@pytest.mark.parametrize(
    "channel",
    [
        pytest.param("/meta/foo", id="c49-unknown-meta"),
        pytest.param("/meta", id="bare-meta"),
        pytest.param("/meta/*", id="meta-pattern"),
        pytest.param("/meta/subscribe/x", id="c50-cve-2020-11020-subscribe"),
        pytest.param("/meta/handshake/x", id="cve-handshake"),
        pytest.param("/meta/connect/x", id="cve-connect"),
        pytest.param("/meta/unsubscribe/x", id="cve-unsubscribe"),
        pytest.param("/meta/disconnect/x", id="cve-disconnect"),
    ],
)
@pytest.mark.parametrize("facts", [KNOWN, LOCAL, UNKNOWN], ids=["known", "local", "unknown"])
def test_s1_3_c50_meta_channels_are_matched_exactly(channel: str, facts: Facts) -> None:
    message = publish(channel=channel, clientId=CLIENT, subscription="/foo", id="m")
    decision = handle(message, facts, POLICY)
    assert decision.reply == {
        "id": "m",
        "clientId": CLIENT,
        "channel": channel,
        "successful": False,
        "error": f"403:{channel}:Forbidden channel",
    }
    assert decision.commands == ()


@pytest.mark.parametrize("channel", ["/service/x", "/service/a/b"])
@pytest.mark.parametrize("facts", [KNOWN, LOCAL], ids=["remote", "local"])
def test_c60_publish_to_service_channel_succeeds(channel: str, facts: Facts) -> None:
    decision = handle(publish(channel=channel), facts, POLICY)
    assert decision.reply is not None
    assert decision.reply["successful"] is True
    assert decision.commands == (published(channel, {"channel": channel, "data": {"x": 1}}, None),)


VERBATIM = publish(
    id="p1",
    clientId=CLIENT,
    ext={"e": 1},
    custom="kept",
    advice={"reconnect": "none"},
    successful=True,
    error="",
)


@pytest.mark.parametrize(
    ("policy", "delivered"),
    [
        pytest.param(
            POLICY,
            {"channel": "/foo", "data": {"x": 1}, "id": "p1", "ext": {"e": 1}, "custom": "kept"},
            id="s5_9-strip-advice-successful-error-clientId",
        ),
        pytest.param(
            FAYE,
            {
                "channel": "/foo",
                "data": {"x": 1},
                "id": "p1",
                "ext": {"e": 1},
                "custom": "kept",
                "advice": {"reconnect": "none"},
                "successful": True,
                "error": "",
            },
            id="c61-faye-verbatim-minus-clientId",
        ),
    ],
)
def test_c54_c61_delivered_copy(policy: Policy, delivered: Message) -> None:
    decision = handle(VERBATIM, KNOWN, policy)
    assert decision.reply == {"id": "p1", "clientId": CLIENT, "channel": "/foo", "successful": True}
    assert decision.commands == (published("/foo", delivered, CLIENT),)


def test_s5_9_stripped_fields() -> None:
    assert DELIVERY_STRIPPED_FIELDS == ("clientId", "advice", "successful", "error")


def test_s2_6_delivered_copy_is_not_the_request() -> None:
    message = publish(clientId=CLIENT)
    decision = handle(message, KNOWN, FAYE)
    (command,) = decision.commands
    assert isinstance(command, Publish)
    assert command.message is not message
    assert message["clientId"] == CLIENT


@pytest.mark.parametrize(
    ("channel", "data", "error"),
    [
        pytest.param("/" + "a" * 9, True, None, id="at-the-limit"),
        pytest.param("/" + "a" * 10, True, "405::Invalid channel", id="over-the-limit"),
        pytest.param("/" + "a" * 10, False, DATA_MISSING, id="over-the-limit-no-data"),
        pytest.param("/" + "a" * 10 + "/*", True, "405::Invalid channel", id="long-pattern"),
    ],
)
def test_design_s4_published_channel_length_is_bounded(channel: str, data: bool, error: str | None) -> None:
    message = publish(channel=channel) if data else without(publish(channel=channel), "data")
    decision = handle(message, UNKNOWN, Policy(max_channel_length=10))
    assert decision.reply is not None
    assert decision.reply.get("error") == error
    assert len(decision.commands) == (error is None)
