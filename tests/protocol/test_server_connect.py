"""``/meta/connect`` decisions (docs/protocol.md §2.1, §2.3, §2.8, §5.3, §12; checklist 13-27)."""

from __future__ import annotations

import pytest

from protocol.commands import Connect, Message
from protocol.server import Facts, Policy, handle
from tests.protocol.helpers import (
    CLIENT,
    FAYE_CONNECTION_TYPES,
    HANDSHAKE_ADVICE,
    KNOWN,
    LOCAL,
    POLICY,
    RETRY,
    TIMEOUT_MS,
    UNKNOWN,
    connect,
    without,
)

FIRST = Facts(client_exists=True, first_connect=True)


def test_c13_c25_successful_connect_reply() -> None:
    decision = handle(connect(id="2"), KNOWN, POLICY)
    assert decision.reply == {
        "id": "2",
        "clientId": CLIENT,
        "channel": "/meta/connect",
        "successful": True,
        "advice": RETRY,
    }
    assert decision.commands == (Connect(CLIENT, TIMEOUT_MS, "long-polling"),)


@pytest.mark.parametrize("connection_type", FAYE_CONNECTION_TYPES)
def test_c23_every_faye_connection_type_is_accepted_on_any_transport(connection_type: str) -> None:
    decision = handle(connect(connectionType=connection_type), KNOWN, POLICY)
    assert decision.reply is not None
    assert decision.reply["successful"] is True
    (command,) = decision.commands
    assert isinstance(command, Connect)
    assert command.connection_type == connection_type


UNKNOWN_CLIENT = f"401:{CLIENT}:Unknown client"
ID_MISSING = "402:clientId:Missing required parameter"
TYPE_MISSING = "402:connectionType:Missing required parameter"


@pytest.mark.parametrize(
    ("message", "facts", "error"),
    [
        pytest.param(connect(), UNKNOWN, UNKNOWN_CLIENT, id="c19-unknown-client"),
        pytest.param(without(connect(), "clientId"), UNKNOWN, ID_MISSING, id="c20-no-client-id"),
        pytest.param(connect(clientId=""), UNKNOWN, ID_MISSING, id="empty-client-id"),
        pytest.param(connect(clientId=0), UNKNOWN, ID_MISSING, id="zero-client-id"),
        pytest.param(connect(clientId=None), UNKNOWN, ID_MISSING, id="null-client-id"),
        pytest.param(connect(clientId=[]), UNKNOWN, "401::Unknown client", id="empty-array-client-id-is-truthy"),
        pytest.param(without(connect(), "connectionType"), KNOWN, TYPE_MISSING, id="c21-no-connection-type"),
        pytest.param(connect(connectionType=""), KNOWN, TYPE_MISSING, id="empty-connection-type"),
        pytest.param(connect(connectionType=None), KNOWN, TYPE_MISSING, id="null-connection-type"),
        pytest.param(connect(connectionType=0), KNOWN, TYPE_MISSING, id="zero-connection-type"),
        pytest.param(
            connect(connectionType="flash"), KNOWN, "301:flash:Connection types not supported", id="c22-flash"
        ),
        pytest.param(
            connect(connectionType="Long-Polling"),
            KNOWN,
            "301:Long-Polling:Connection types not supported",
            id="case-sensitive",
        ),
        pytest.param(
            connect(connectionType=["long-polling"]),
            KNOWN,
            "301:long-polling:Connection types not supported",
            id="array",
        ),
        pytest.param(
            connect(connectionType={}), KNOWN, "301:[object Object]:Connection types not supported", id="object"
        ),
        pytest.param(connect(connectionType=1), KNOWN, "301:1:Connection types not supported", id="number"),
    ],
)
def test_s2_3_connect_errors(message: Message, facts: Facts, error: str) -> None:
    decision = handle(message, facts, POLICY)
    assert decision.reply is not None
    assert decision.reply["error"] == error
    assert decision.reply["successful"] is False
    assert decision.reply["advice"] == HANDSHAKE_ADVICE
    assert "clientId" not in decision.reply
    assert decision.commands == ()


@pytest.mark.parametrize(
    ("message", "facts", "error"),
    [
        pytest.param(
            connect(error="403::Authentication required"),
            KNOWN,
            "403::Authentication required",
            id="extension-error-kept",
        ),
        pytest.param(connect(error="403::Denied"), UNKNOWN, UNKNOWN_CLIENT, id="401-beats-extension"),
        pytest.param(without(connect(), "clientId"), UNKNOWN, ID_MISSING, id="402-client-id-beats-401"),
        pytest.param(
            connect(connectionType="flash"), UNKNOWN, "301:flash:Connection types not supported", id="301-beats-401"
        ),
        pytest.param(
            without(connect(connectionType="flash"), "clientId"),
            UNKNOWN,
            "301:flash:Connection types not supported",
            id="301-beats-402-client-id",
        ),
        pytest.param(
            without(connect(), "clientId", "connectionType"),
            UNKNOWN,
            TYPE_MISSING,
            id="402-connection-type-wins",
        ),
        pytest.param(connect(connectionType=""), UNKNOWN, TYPE_MISSING, id="402-connection-type-beats-301"),
    ],
)
def test_s2_8_connect_error_precedence(message: Message, facts: Facts, error: str) -> None:
    decision = handle(message, facts, POLICY)
    assert decision.reply is not None
    assert decision.reply["error"] == error
    assert decision.commands == ()


def test_c19_failed_connect_reply_shape() -> None:
    reply = handle(connect(id="c3", clientId="nope"), UNKNOWN, POLICY).reply
    assert reply == {
        "id": "c3",
        "channel": "/meta/connect",
        "successful": False,
        "error": "401:nope:Unknown client",
        "advice": HANDSHAKE_ADVICE,
    }


@pytest.mark.parametrize(
    ("message", "facts", "policy", "hold_ms"),
    [
        pytest.param(connect(), KNOWN, POLICY, TIMEOUT_MS, id="c13-held-for-timeout"),
        pytest.param(connect(advice={"timeout": 0}), KNOWN, POLICY, 0, id="c14-advice-timeout-0"),
        pytest.param(connect(advice={"timeout": 1500}), KNOWN, POLICY, 1500, id="c15-advice-timeout-honoured"),
        pytest.param(connect(advice={"timeout": 600_000}), KNOWN, POLICY, 600_000, id="c68-no-upper-bound"),
        pytest.param(connect(advice={"timeout": 1500.9}), KNOWN, POLICY, 1500, id="float-truncated"),
        pytest.param(connect(advice={"timeout": -5}), KNOWN, POLICY, TIMEOUT_MS, id="negative-ignored"),
        pytest.param(connect(advice={"timeout": True}), KNOWN, POLICY, TIMEOUT_MS, id="bool-ignored"),
        pytest.param(connect(advice={"timeout": "1500"}), KNOWN, POLICY, TIMEOUT_MS, id="string-ignored"),
        pytest.param(connect(advice={"timeout": None}), KNOWN, POLICY, TIMEOUT_MS, id="null-ignored"),
        pytest.param(connect(advice={"interval": 5}), KNOWN, POLICY, TIMEOUT_MS, id="no-timeout-key"),
        pytest.param(connect(advice={}), KNOWN, POLICY, TIMEOUT_MS, id="empty-advice"),
        pytest.param(connect(advice="x"), KNOWN, POLICY, TIMEOUT_MS, id="advice-not-an-object"),
        pytest.param(connect(connectionType="eventsource"), KNOWN, POLICY, 0, id="c24-eventsource-0"),
        pytest.param(
            connect(connectionType="eventsource", advice={"timeout": 1500}),
            KNOWN,
            POLICY,
            0,
            id="c24-eventsource-beats-advice",
        ),
        pytest.param(connect(), FIRST, POLICY, 0, id="s12-first-connect-answered-at-once"),
        pytest.param(connect(advice={"timeout": 1500}), FIRST, POLICY, 0, id="s12-first-connect-beats-advice"),
        pytest.param(
            connect(),
            FIRST,
            Policy(timeout_ms=TIMEOUT_MS, answer_first_connect=False),
            TIMEOUT_MS,
            id="s12-faye-holds-first-connect",
        ),
        pytest.param(
            connect(advice={"timeout": 1500}),
            FIRST,
            Policy(timeout_ms=TIMEOUT_MS, answer_first_connect=False),
            1500,
            id="s12-faye-first-connect-honours-advice",
        ),
        pytest.param(
            connect(connectionType="eventsource"),
            FIRST,
            Policy(timeout_ms=TIMEOUT_MS, answer_first_connect=False),
            0,
            id="s12-faye-first-connect-eventsource",
        ),
    ],
)
def test_s2_3_s5_3_hold_time(message: Message, facts: Facts, policy: Policy, hold_ms: int) -> None:
    decision = handle(message, facts, policy)
    assert decision.commands == (Connect(CLIENT, hold_ms, message["connectionType"]),)


@pytest.mark.parametrize(
    ("connection_type", "policy", "advice"),
    [
        pytest.param("long-polling", POLICY, RETRY, id="c13-retry"),
        pytest.param(
            "eventsource",
            POLICY,
            {"reconnect": "retry", "interval": TIMEOUT_MS, "timeout": 0},
            id="c24-eventsource",
        ),
        pytest.param(
            "websocket",
            Policy(timeout_ms=5_000, interval_ms=1_000),
            {"reconnect": "retry", "interval": 1_000, "timeout": 5_000},
            id="interval",
        ),
        pytest.param(
            "eventsource",
            Policy(timeout_ms=5_000, interval_ms=1_000),
            {"reconnect": "retry", "interval": 5_000, "timeout": 0},
            id="eventsource-ignores-interval",
        ),
    ],
)
def test_s2_1_connect_advice(connection_type: str, policy: Policy, advice: Message) -> None:
    reply = handle(connect(connectionType=connection_type), KNOWN, policy).reply
    assert reply is not None
    assert reply["advice"] == advice


def test_s2_3_advice_timeout_does_not_change_the_reply_advice() -> None:
    reply = handle(connect(advice={"timeout": 0}), KNOWN, POLICY).reply
    assert reply is not None
    assert reply["advice"] == RETRY


def test_s2_3_failed_eventsource_connect_gets_handshake_advice() -> None:
    reply = handle(connect(connectionType="eventsource"), UNKNOWN, POLICY).reply
    assert reply is not None
    assert reply["advice"] == HANDSHAKE_ADVICE


def test_s7_2_local_connect_is_decided_like_any_other() -> None:
    assert handle(connect(connectionType="in-process"), LOCAL, POLICY) == handle(
        connect(connectionType="in-process"), KNOWN, POLICY
    )
