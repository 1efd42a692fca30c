"""Rules shared by every reply (docs/protocol.md §1.4, §2.1 ``_makeResponse``/``_advize``, §2.7, §9.4;
checklist 10, 25, 40, 69)."""

from __future__ import annotations

import pytest

import protocol
from protocol.commands import Decision, Message, Publish
from protocol.server import Facts, handle
from tests.protocol.helpers import CLIENT, KNOWN, NEW_ID, POLICY, UNKNOWN, connect, handshake, published

SESSION = Facts(client_exists=True, new_client_id=NEW_ID)

REQUESTS = [
    pytest.param(handshake(), id="handshake"),
    pytest.param(connect(), id="connect"),
    pytest.param({"channel": "/meta/subscribe", "clientId": CLIENT, "subscription": "/a"}, id="subscribe"),
    pytest.param({"channel": "/meta/unsubscribe", "clientId": CLIENT, "subscription": "/a"}, id="unsubscribe"),
    pytest.param({"channel": "/meta/disconnect", "clientId": CLIENT}, id="disconnect"),
    pytest.param({"channel": "/meta/foo", "clientId": CLIENT}, id="unknown-meta"),
    pytest.param({"channel": "/foo", "clientId": CLIENT, "data": 1}, id="publish"),
    pytest.param({"channel": "/foo/*", "data": 1}, id="failed-publish"),
]


@pytest.mark.parametrize("request_", REQUESTS)
@pytest.mark.parametrize(
    ("sent", "echoed"),
    [
        pytest.param("abc", True, id="c10-string"),
        pytest.param(7, True, id="c10-number-stays-number"),
        pytest.param(1.5, True, id="float"),
        pytest.param(True, True, id="true"),
        pytest.param([], True, id="empty-array-is-truthy"),
        pytest.param({"n": 1}, True, id="object"),
        pytest.param(0, False, id="c10-zero-not-echoed"),
        pytest.param("", False, id="empty-string-not-echoed"),
        pytest.param(False, False, id="false-not-echoed"),
        pytest.param(None, False, id="null-not-echoed"),
    ],
)
def test_s1_4_id_is_echoed_only_when_truthy(request_: Message, sent: object, echoed: bool) -> None:
    reply = handle({**request_, "id": sent}, SESSION, POLICY).reply
    assert reply is not None
    if echoed:
        assert reply["id"] == sent
        assert type(reply["id"]) is type(sent)
    else:
        assert "id" not in reply


@pytest.mark.parametrize("request_", REQUESTS)
@pytest.mark.parametrize("facts", [SESSION, UNKNOWN], ids=["known", "unknown"])
def test_s2_1_every_reply_has_a_boolean_successful_and_no_data(request_: Message, facts: Facts) -> None:
    reply = handle(request_, facts, POLICY).reply
    assert reply is not None
    assert isinstance(reply["successful"], bool)
    assert reply["successful"] is ("error" not in reply)
    assert "data" not in reply


@pytest.mark.parametrize("request_", REQUESTS)
@pytest.mark.parametrize("facts", [SESSION, UNKNOWN], ids=["known", "unknown"])
def test_s2_1_d11_advice_only_on_handshake_and_connect(request_: Message, facts: Facts) -> None:
    reply = handle(request_, facts, POLICY).reply
    assert reply is not None
    assert ("advice" in reply) is (request_["channel"] in ("/meta/handshake", "/meta/connect"))


@pytest.mark.parametrize("request_", REQUESTS)
def test_s1_4_truthy_client_id_is_echoed_on_success(request_: Message) -> None:
    reply = handle(request_, SESSION, POLICY).reply
    assert reply is not None
    expected = NEW_ID if request_["channel"] == "/meta/handshake" else request_.get("clientId")
    assert reply.get("clientId") == expected


@pytest.mark.parametrize(
    ("message", "reply"),
    [
        pytest.param(
            {"channel": "/meta/foo"},
            {"channel": "/meta/foo", "successful": False, "error": "403:/meta/foo:Forbidden channel"},
            id="c69-bare",
        ),
        pytest.param(
            {"channel": "/meta/foo", "id": "x", "clientId": CLIENT, "error": "401::Access denied"},
            {
                "id": "x",
                "clientId": CLIENT,
                "channel": "/meta/foo",
                "successful": False,
                "error": "403:/meta/foo:Forbidden channel",
            },
            id="s2_7-403-overwrites-extension-error",
        ),
    ],
)
def test_c69_s2_7_unknown_meta_channel(message: Message, reply: Message) -> None:
    assert handle(message, KNOWN, POLICY) == Decision(reply)


def test_s2_1_extension_error_that_is_falsy_does_not_block() -> None:
    decision = handle({"channel": "/foo", "data": 1, "error": ""}, UNKNOWN, POLICY)
    assert decision.reply == {"channel": "/foo", "successful": True}
    assert decision.commands == (published("/foo", {"channel": "/foo", "data": 1}, None),)


def test_design_package_exports() -> None:
    for name in protocol.__all__:
        assert getattr(protocol, name) is not None
    assert protocol.handle is handle


def test_design_decision_defaults_to_no_commands() -> None:
    assert Decision(None).commands == ()


def test_design_commands_are_frozen() -> None:
    command = Publish("/foo", {"channel": "/foo", "data": 1}, b'{"channel":"/foo","data":1}')
    assert command.publisher is None
    with pytest.raises(AttributeError):
        command.channel = "/bar"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("message", "reply"),
    [
        (
            {"channel": "/meta/handshake", "id": "1", "version": "1.0"},
            {"id": "1", "channel": "/meta/handshake", "error": "500::Engine unavailable", "successful": False,
             "advice": {"reconnect": "retry", "interval": 1000, "timeout": POLICY.timeout_ms}},
        ),
        (
            {"channel": "/meta/connect", "clientId": CLIENT, "connectionType": "long-polling"},
            {"clientId": CLIENT, "channel": "/meta/connect", "error": "500::Engine unavailable", "successful": False,
             "advice": {"reconnect": "retry", "interval": 1000, "timeout": POLICY.timeout_ms}},
        ),
        (
            {"channel": "/foo", "data": 1, "id": "p"},
            {"id": "p", "channel": "/foo", "error": "500::Engine unavailable", "successful": False},
        ),
    ],
)
def test_engine_unavailable_reply_advises_retry_not_handshake(message: Message, reply: Message) -> None:
    """When the engine cannot be reached the session may still exist, so clients retry, not re-handshake."""
    assert protocol.server.unavailable(message, POLICY) == reply
