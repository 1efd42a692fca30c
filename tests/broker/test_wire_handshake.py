"""docs/protocol.md §13 items 1-12: ``/meta/handshake`` over POST-JSON."""

from __future__ import annotations

from typing import Any

import pytest

from tests.broker.wire import CLIENT_ID, CONNECTION_TYPES, HANDSHAKE, T, http_client, post
from tests.support.servers import BrokerProcess

pytestmark = pytest.mark.anyio


async def _handshake(broker: BrokerProcess, **changes: Any) -> dict[str, Any]:
    message = {**HANDSHAKE, **changes}
    message = {key: value for key, value in message.items() if value is not ...}
    async with http_client() as http:
        response = await http.post(broker.url, json=message)
    assert response.status_code == 200, response.text
    replies = response.json()
    assert isinstance(replies, list)
    assert len(replies) == 1, replies
    reply: dict[str, Any] = replies[0]
    return reply


def _failed(error: str) -> dict[str, Any]:
    return {
        "channel": "/meta/handshake",
        "successful": False,
        "version": "1.0",
        "supportedConnectionTypes": CONNECTION_TYPES,
        "error": error,
        "advice": {"reconnect": "handshake"},
    }


async def test_c01_handshake_returns_one_successful_reply(broker: BrokerProcess) -> None:
    async with http_client() as http:
        response = await http.post(broker.url, json=HANDSHAKE)
    assert response.status_code == 200
    replies = response.json()
    assert isinstance(replies, list)
    assert len(replies) == 1
    assert replies[0]["channel"] == "/meta/handshake"
    assert replies[0]["successful"] is True
    assert replies[0]["version"] == "1.0"


async def test_c02_client_id_is_31_base36_chars_and_unique(broker: BrokerProcess) -> None:
    async with http_client() as http:
        first = (await post(http, broker.url, HANDSHAKE))[0]["clientId"]
        second = (await post(http, broker.url, HANDSHAKE))[0]["clientId"]
    assert CLIENT_ID.match(first), first
    assert CLIENT_ID.match(second), second
    assert first != second


async def test_c03_supported_connection_types_is_the_full_server_list(broker: BrokerProcess) -> None:
    reply = await _handshake(broker)
    assert reply["supportedConnectionTypes"] == CONNECTION_TYPES


async def test_c04_handshake_advice(broker: BrokerProcess) -> None:
    reply = await _handshake(broker)
    assert reply["advice"] == {"reconnect": "retry", "interval": 0, "timeout": int(T * 1000)}


@pytest.mark.parametrize("version", [..., "", None], ids=["missing", "empty", "null"])
async def test_c05_handshake_without_version(broker: BrokerProcess, version: Any) -> None:
    reply = await _handshake(broker, version=version)
    assert reply == _failed("402:version:Missing required parameter")
    assert "clientId" not in reply


async def test_c06_handshake_without_supported_connection_types(broker: BrokerProcess) -> None:
    reply = await _handshake(broker, supportedConnectionTypes=...)
    assert reply == _failed("402:supportedConnectionTypes:Missing required parameter")


@pytest.mark.parametrize(
    ("types", "error"),
    [
        (["iframe", "flash"], "301:iframe,flash:Connection types not supported"),
        ([], "301::Connection types not supported"),
    ],
    ids=["iframe-flash", "empty"],
)
async def test_c07_handshake_with_no_common_connection_type(
    broker: BrokerProcess, types: list[str], error: str
) -> None:
    reply = await _handshake(broker, supportedConnectionTypes=types)
    assert reply == _failed(error)


async def test_c08_unknown_connection_types_next_to_known_ones_are_fine(broker: BrokerProcess) -> None:
    reply = await _handshake(broker, supportedConnectionTypes=["foo", "long-polling"])
    assert reply["successful"] is True
    assert CLIENT_ID.match(reply["clientId"])


@pytest.mark.parametrize("version", ["2.0", 1], ids=["2.0", "number-1"])
async def test_c09_any_truthy_version_is_accepted_and_reply_says_1_0(broker: BrokerProcess, version: Any) -> None:
    reply = await _handshake(broker, version=version)
    assert reply["successful"] is True
    assert reply["version"] == "1.0"


@pytest.mark.parametrize("message_id", ["abc", 7], ids=["string", "number"])
async def test_c10_truthy_id_is_echoed_unchanged(broker: BrokerProcess, message_id: Any) -> None:
    reply = await _handshake(broker, id=message_id)
    assert reply["id"] == message_id
    assert type(reply["id"]) is type(message_id)


@pytest.mark.parametrize("message_id", [0, "", False, None], ids=["zero", "empty", "false", "null"])
async def test_c10_falsy_id_is_not_echoed(broker: BrokerProcess, message_id: Any) -> None:
    reply = await _handshake(broker, id=message_id)
    assert reply["successful"] is True
    assert "id" not in reply


async def test_c11_failed_handshake_still_carries_version_and_types(broker: BrokerProcess) -> None:
    reply = await _handshake(broker, supportedConnectionTypes=["flash"])
    assert reply["successful"] is False
    assert reply["version"] == "1.0"
    assert reply["supportedConnectionTypes"] == CONNECTION_TYPES


async def test_c12_handshake_reply_has_no_ext_minimum_version_or_auth_successful(broker: BrokerProcess) -> None:
    reply = await _handshake(broker, ext={"token": "x"}, id="h12")
    for key in ("ext", "minimumVersion", "authSuccessful"):
        assert key not in reply
    assert set(reply) == {"id", "channel", "successful", "version", "supportedConnectionTypes", "clientId", "advice"}
