"""``/meta/handshake`` decisions (docs/protocol.md §2.1, §2.2, §2.8; checklist 1-12)."""

from __future__ import annotations

import pytest

from protocol.commands import CreateClient, Message
from protocol.server import BAYEUX_VERSION, BROKER_CONNECTION_TYPES, Facts, Policy, handle
from tests.protocol.helpers import (
    FAYE_CONNECTION_TYPES,
    HANDSHAKE_ADVICE,
    NEW_ID,
    POLICY,
    RETRY,
    TIMEOUT_MS,
    handshake,
    without,
)

FACTS = Facts(new_client_id=NEW_ID)


def test_c1_c3_c4_successful_handshake_reply() -> None:
    message = handshake(id="1")
    decision = handle(message, FACTS, POLICY)
    assert decision.reply == {
        "id": "1",
        "channel": "/meta/handshake",
        "successful": True,
        "version": "1.0",
        "supportedConnectionTypes": FAYE_CONNECTION_TYPES,
        "clientId": NEW_ID,
        "advice": RETRY,
    }
    assert decision.commands == (CreateClient(NEW_ID),)


def test_s0_2_constants() -> None:
    assert BAYEUX_VERSION == "1.0"
    assert list(BROKER_CONNECTION_TYPES) == FAYE_CONNECTION_TYPES


def test_c3_supported_connection_types_is_a_fresh_full_list() -> None:
    first = handle(handshake(supportedConnectionTypes=["websocket"]), FACTS, POLICY).reply
    assert first is not None
    first["supportedConnectionTypes"].clear()
    second = handle(handshake(), FACTS, POLICY).reply
    assert second is not None
    assert second["supportedConnectionTypes"] == FAYE_CONNECTION_TYPES


@pytest.mark.parametrize(
    ("policy", "advice"),
    [
        pytest.param(Policy(), {"reconnect": "retry", "interval": 0, "timeout": 60_000}, id="faye-defaults"),
        pytest.param(POLICY, {"reconnect": "retry", "interval": 0, "timeout": 45_000}, id="timeout-45"),
        pytest.param(
            Policy(timeout_ms=5_000, interval_ms=250),
            {"reconnect": "retry", "interval": 250, "timeout": 5_000},
            id="interval",
        ),
    ],
)
def test_c4_s2_1_handshake_advice(policy: Policy, advice: Message) -> None:
    reply = handle(handshake(), FACTS, policy).reply
    assert reply is not None
    assert reply["advice"] == advice


def test_s2_1_handshake_advice_follows_the_request_connection_type() -> None:
    """faye passes ``message.connectionType`` to ``_advize`` for every handshake and connect."""
    reply = handle(handshake(connectionType="eventsource"), FACTS, POLICY).reply
    assert reply is not None
    assert reply["advice"] == {"reconnect": "retry", "interval": TIMEOUT_MS, "timeout": 0}


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({"version": "2.0"}, id="c9-version-2"),
        pytest.param({"version": 1}, id="s1_4-version-number"),
        pytest.param({"version": True}, id="version-true"),
        pytest.param({"version": []}, id="version-empty-array-is-truthy"),
        pytest.param({"supportedConnectionTypes": ["foo", "long-polling"]}, id="c8-unknown-mixed-with-known"),
        pytest.param({"supportedConnectionTypes": [1, None, {}, "in-process"]}, id="non-strings-mixed-with-known"),
        *(pytest.param({"supportedConnectionTypes": [t]}, id=f"type-{t}") for t in FAYE_CONNECTION_TYPES),
    ],
)
def test_s1_4_handshake_accepts(fields: Message) -> None:
    decision = handle(handshake(**fields), FACTS, POLICY)
    assert decision.reply is not None
    assert decision.reply["successful"] is True
    assert decision.reply["version"] == "1.0"
    assert decision.reply["clientId"] == NEW_ID
    assert decision.commands == (CreateClient(NEW_ID),)


VERSION_MISSING = "402:version:Missing required parameter"
TYPES_MISSING = "402:supportedConnectionTypes:Missing required parameter"


@pytest.mark.parametrize(
    ("message", "error"),
    [
        pytest.param(without(handshake(), "version"), VERSION_MISSING, id="c5-no-version"),
        pytest.param(handshake(version=""), VERSION_MISSING, id="c5-empty-version"),
        pytest.param(handshake(version=None), VERSION_MISSING, id="null-version"),
        pytest.param(handshake(version=0), VERSION_MISSING, id="zero-version"),
        pytest.param(handshake(version=False), VERSION_MISSING, id="false-version"),
        pytest.param(without(handshake(), "supportedConnectionTypes"), TYPES_MISSING, id="c6-no-types"),
        pytest.param(handshake(supportedConnectionTypes=None), TYPES_MISSING, id="null-types"),
        pytest.param(handshake(supportedConnectionTypes=""), TYPES_MISSING, id="empty-string-types"),
        pytest.param(handshake(supportedConnectionTypes=0), TYPES_MISSING, id="zero-types"),
        pytest.param(handshake(supportedConnectionTypes=False), TYPES_MISSING, id="false-types"),
        pytest.param(
            handshake(supportedConnectionTypes=["iframe", "flash"]),
            "301:iframe,flash:Connection types not supported",
            id="c7-no-common-type",
        ),
        pytest.param(handshake(supportedConnectionTypes=[]), "301::Connection types not supported", id="c7-empty-list"),
        pytest.param(
            handshake(supportedConnectionTypes="long-polling"),
            "301:long-polling:Connection types not supported",
            id="s1_4-string-instead-of-array",
        ),
        pytest.param(
            handshake(supportedConnectionTypes=[["long-polling"]]),
            "301:long-polling:Connection types not supported",
            id="nested-array-never-matches",
        ),
        pytest.param(
            handshake(supportedConnectionTypes={"long-polling": True}),
            "301:[object Object]:Connection types not supported",
            id="object",
        ),
        pytest.param(handshake(supportedConnectionTypes=5), "301:5:Connection types not supported", id="number"),
        pytest.param(handshake(supportedConnectionTypes=True), "301:true:Connection types not supported", id="true"),
        pytest.param(
            handshake(supportedConnectionTypes=["Long-Polling"]),
            "301:Long-Polling:Connection types not supported",
            id="case-sensitive",
        ),
    ],
)
def test_s2_2_handshake_errors(message: Message, error: str) -> None:
    decision = handle(message, FACTS, POLICY)
    assert decision.reply is not None
    assert decision.reply["error"] == error
    assert decision.reply["successful"] is False
    assert decision.commands == ()


@pytest.mark.parametrize(
    ("message", "error"),
    [
        pytest.param(
            without(handshake(), "version", "supportedConnectionTypes"), TYPES_MISSING, id="types-402-beats-version"
        ),
        pytest.param(
            without(handshake(supportedConnectionTypes=[]), "version"),
            "301::Connection types not supported",
            id="types-301-beats-version",
        ),
        pytest.param(
            handshake(error="403::Authentication required"), "403::Authentication required", id="extension-error-kept"
        ),
        pytest.param(
            without(handshake(error="403::Authentication required"), "version"),
            VERSION_MISSING,
            id="version-beats-extension",
        ),
        pytest.param(
            handshake(error="403::Authentication required", supportedConnectionTypes=["flash"]),
            "301:flash:Connection types not supported",
            id="types-beat-extension",
        ),
        pytest.param(handshake(error="not a faye error"), "not a faye error", id="extension-error-any-format"),
    ],
)
def test_s2_8_handshake_error_precedence(message: Message, error: str) -> None:
    decision = handle(message, FACTS, POLICY)
    assert decision.reply is not None
    assert decision.reply["error"] == error
    assert decision.commands == ()


def test_c5_c11_failed_handshake_reply_shape() -> None:
    reply = handle(without(handshake(), "supportedConnectionTypes"), FACTS, POLICY).reply
    assert reply == {
        "channel": "/meta/handshake",
        "successful": False,
        "version": "1.0",
        "supportedConnectionTypes": FAYE_CONNECTION_TYPES,
        "error": TYPES_MISSING,
        "advice": HANDSHAKE_ADVICE,
    }


def test_s1_4_failed_handshake_echoes_a_sent_client_id() -> None:
    """faye's ``_makeResponse`` copies clientId; only connect and disconnect delete it."""
    reply = handle(handshake(version="", clientId="old", id="h"), FACTS, POLICY).reply
    assert reply is not None
    assert reply["clientId"] == "old"
    assert reply["id"] == "h"


def test_s2_2_successful_handshake_replaces_a_sent_client_id() -> None:
    reply = handle(handshake(clientId="old"), FACTS, POLICY).reply
    assert reply is not None
    assert reply["clientId"] == NEW_ID


def test_c12_handshake_reply_has_no_ext_minimum_version_or_auth() -> None:
    message = handshake(ext={"token": "t"}, minimumVersion="1.0", data={"x": 1})
    reply = handle(message, FACTS, POLICY).reply
    assert reply is not None
    assert not {"ext", "minimumVersion", "authSuccessful", "data"} & reply.keys()


@pytest.mark.parametrize(
    "facts", [Facts(new_client_id=NEW_ID, local=True), Facts(new_client_id=NEW_ID, client_exists=True)]
)
def test_s2_2_handshake_ignores_session_facts(facts: Facts) -> None:
    assert handle(handshake(), facts, POLICY) == handle(handshake(), FACTS, POLICY)
