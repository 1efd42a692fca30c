"""``/meta/disconnect`` decisions (docs/protocol.md §2.5, §2.8; checklist 62-64)."""

from __future__ import annotations

import pytest

from protocol.commands import DestroyClient, Message
from protocol.server import Facts, handle
from tests.protocol.helpers import CLIENT, KNOWN, LOCAL, POLICY, UNKNOWN, without


def disconnect(**fields: object) -> Message:
    message: Message = {"channel": "/meta/disconnect", "clientId": CLIENT}
    message.update(fields)
    return message


@pytest.mark.parametrize("facts", [KNOWN, LOCAL], ids=["remote", "local"])
def test_c62_successful_disconnect(facts: Facts) -> None:
    decision = handle(disconnect(id="d1"), facts, POLICY)
    assert decision.reply == {"id": "d1", "clientId": CLIENT, "channel": "/meta/disconnect", "successful": True}
    assert decision.commands == (DestroyClient(CLIENT),)


def test_c63_unknown_client_reply_shape() -> None:
    decision = handle(disconnect(id="d2"), UNKNOWN, POLICY)
    assert decision.reply == {
        "id": "d2",
        "channel": "/meta/disconnect",
        "successful": False,
        "error": f"401:{CLIENT}:Unknown client",
    }
    assert decision.commands == ()


ID_MISSING = "402:clientId:Missing required parameter"


@pytest.mark.parametrize(
    ("message", "facts", "error"),
    [
        pytest.param(disconnect(), UNKNOWN, f"401:{CLIENT}:Unknown client", id="c63-unknown"),
        pytest.param(without(disconnect(), "clientId"), UNKNOWN, ID_MISSING, id="c64-no-client-id"),
        pytest.param(disconnect(clientId=""), UNKNOWN, ID_MISSING, id="empty-client-id"),
        pytest.param(disconnect(clientId=0), UNKNOWN, ID_MISSING, id="zero-client-id"),
        pytest.param(disconnect(clientId=False), UNKNOWN, ID_MISSING, id="false-client-id"),
        pytest.param(disconnect(error="401::Access denied"), KNOWN, "401::Access denied", id="extension-error"),
        pytest.param(disconnect(error="401::Access denied"), UNKNOWN, f"401:{CLIENT}:Unknown client", id="s2_8-401"),
        pytest.param(without(disconnect(error="x"), "clientId"), UNKNOWN, ID_MISSING, id="s2_8-402-client-id-wins"),
    ],
)
def test_s2_5_disconnect_errors_remove_client_id(message: Message, facts: Facts, error: str) -> None:
    decision = handle(message, facts, POLICY)
    assert decision.reply is not None
    assert decision.reply["error"] == error
    assert decision.reply["successful"] is False
    assert "clientId" not in decision.reply
    assert "advice" not in decision.reply
    assert decision.commands == ()
