"""docs/protocol.md §13 items 87-93: callback-polling (JSONP over GET)."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.broker.wire import (
    HANDSHAKE,
    T,
    assert_held_about,
    assert_json_error,
    channel,
    http_client,
    publish,
    session,
    timed,
)
from tests.support.servers import BrokerProcess

pytestmark = pytest.mark.anyio


async def _jsonp(http: httpx.AsyncClient, url: str, message: Any, **params: str) -> httpx.Response:
    return await http.get(url, params={"message": json.dumps(message), **params})


def _unwrap(response: httpx.Response, callback: str) -> list[dict[str, Any]]:
    assert response.status_code == 200, (response.status_code, response.text)
    body = response.text
    prefix, suffix = f"/**/{callback}(", ");"
    assert body.startswith(prefix), body
    assert body.endswith(suffix), body
    replies = json.loads(body[len(prefix):-len(suffix)])
    assert isinstance(replies, list), replies
    return replies


async def test_c87_jsonp_get_wraps_replies_in_the_callback(broker: BrokerProcess) -> None:
    async with http_client() as http:
        response = await _jsonp(http, broker.url, HANDSHAKE, jsonp="cb")
    assert response.headers["content-type"] == "text/javascript; charset=utf-8"
    [reply] = _unwrap(response, "cb")
    assert reply["channel"] == "/meta/handshake"
    assert reply["successful"] is True


async def test_c87_jsonp_body_is_exact(broker: BrokerProcess) -> None:
    async with http_client() as http:
        response = await _jsonp(http, broker.url, {"channel": "/c87", "data": 1, "id": "j"}, jsonp="callback")
    assert response.status_code == 200
    assert response.content == b'/**/callback([{"id":"j","channel":"/c87","successful":true}]);'


@pytest.mark.parametrize("params", [{}, {"jsonp": ""}], ids=["missing", "empty"])
async def test_c88_default_callback_is_jsonpcallback(broker: BrokerProcess, params: dict[str, str]) -> None:
    """faye: ``jsonp = params.jsonp || JSONP_CALLBACK``, so an empty name also means the default."""
    async with http_client() as http:
        response = await _jsonp(http, broker.url, HANDSHAKE, **params)
    [reply] = _unwrap(response, "jsonpcallback")
    assert reply["successful"] is True


async def test_c89_jsonp_reply_headers(broker: BrokerProcess) -> None:
    async with http_client() as http:
        response = await _jsonp(http, broker.url, HANDSHAKE, jsonp="cb")
        with_origin = await http.get(broker.url, params={"message": json.dumps(HANDSHAKE), "jsonp": "cb"},
                                     headers={"Origin": "http://example.com"})
    assert response.status_code == 200
    assert response.headers["content-disposition"] == "attachment; filename=f.txt"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["cache-control"] == "no-cache, no-store"
    assert response.headers["content-length"] == str(len(response.content))
    assert "access-control-allow-origin" not in response.headers
    assert with_origin.headers["access-control-allow-origin"] == "http://example.com"
    assert with_origin.headers["access-control-allow-credentials"] == "true"


@pytest.mark.parametrize("callback", ["alert(1)", "42", "a..b", "a.", "cb;x", "a-b"])
async def test_c90_bad_callback_name_is_400_json_error_deliberate(broker: BrokerProcess, callback: str) -> None:
    async with http_client() as http:
        response = await _jsonp(http, broker.url, HANDSHAKE, jsonp=callback)
    assert_json_error(response, 400)


@pytest.mark.parametrize("callback", ["ns.cb", "__jsonp1__", "$", "A.b_c.$d9"])
async def test_c90_good_callback_name_is_accepted(broker: BrokerProcess, callback: str) -> None:
    async with http_client() as http:
        response = await _jsonp(http, broker.url, HANDSHAKE, jsonp=callback)
    [reply] = _unwrap(response, callback)
    assert reply["successful"] is True


async def test_c91_get_without_message_is_400_json_error_deliberate(broker: BrokerProcess) -> None:
    async with http_client() as http:
        response = await http.get(broker.url, params={"jsonp": "cb"})
        bare = await http.get(broker.url)
    assert_json_error(response, 400)
    assert_json_error(bare, 400)


async def test_c92_line_and_paragraph_separators_are_escaped(broker: BrokerProcess) -> None:
    name = channel("c92")
    data = "a\u2028b\u2029c"
    async with http_client() as http:
        client_id = await session(http, broker.url, name)
        assert (await publish(http, broker.url, name, data))["successful"] is True
        response = await _jsonp(http, broker.url, {"channel": "/meta/connect", "clientId": client_id,
                                                   "connectionType": "callback-polling", "advice": {"timeout": 0}},
                                jsonp="cb")
    assert "\u2028" not in response.text
    assert "\u2029" not in response.text
    assert b"\\u2028" in response.content
    assert b"\\u2029" in response.content
    replies = _unwrap(response, "cb")
    assert replies[1:] == [{"channel": name, "data": data}]


async def test_c93_jsonp_connect_is_held_like_a_post_connect(broker: BrokerProcess) -> None:
    async with http_client() as http:
        client_id = await session(http, broker.url)
        response, elapsed = await timed(_jsonp(http, broker.url, {"channel": "/meta/connect", "clientId": client_id,
                                                                  "connectionType": "callback-polling"}, jsonp="cb"))
    assert_held_about(elapsed, T)
    assert _unwrap(response, "cb") == [{"channel": "/meta/connect", "clientId": client_id, "successful": True,
                                        "advice": {"reconnect": "retry", "interval": 0, "timeout": int(T * 1000)}}]


async def test_c93_jsonp_connect_returns_early_on_delivery(broker: BrokerProcess) -> None:
    name = channel("c93")
    async with http_client() as http:
        client_id = await session(http, broker.url, name)
        await publish(http, broker.url, name, "queued")
        response, elapsed = await timed(_jsonp(http, broker.url, {"channel": "/meta/connect", "clientId": client_id,
                                                                  "connectionType": "callback-polling"}, jsonp="cb"))
    assert elapsed < 1.0
    assert _unwrap(response, "cb")[1:] == [{"channel": name, "data": "queued"}]
