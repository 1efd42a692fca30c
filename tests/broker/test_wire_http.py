"""docs/protocol.md §13 items 70-86: the HTTP transport (long-polling, CORS, batches, errors)."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from tests.broker.wire import (
    HANDSHAKE,
    T,
    assert_held_about,
    assert_json_error,
    channel,
    drain,
    handshake,
    http_client,
    post,
    session,
    timed,
)
from tests.support.servers import BrokerProcess

pytestmark = pytest.mark.anyio

PREFLIGHT_HEADERS = "Accept, Authorization, Content-Type, Pragma, X-Requested-With"


async def test_c70_post_json_reply_headers(broker: BrokerProcess) -> None:
    async with http_client() as http:
        response = await http.post(broker.url, json=HANDSHAKE)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    assert response.headers["cache-control"] == "no-cache, no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["content-length"] == str(len(response.content))
    assert json.loads(response.content)[0]["successful"] is True


async def test_c71_cors_headers_only_when_origin_is_sent(broker: BrokerProcess) -> None:
    async with http_client() as http:
        with_origin = await http.post(broker.url, json=HANDSHAKE, headers={"Origin": "http://example.com"})
        without = await http.post(broker.url, json=HANDSHAKE)
    assert with_origin.status_code == 200
    assert with_origin.headers["access-control-allow-origin"] == "http://example.com"
    assert with_origin.headers["access-control-allow-credentials"] == "true"
    assert without.status_code == 200
    assert "access-control-allow-origin" not in without.headers
    assert "access-control-allow-credentials" not in without.headers


async def test_c72_form_body_without_content_type_is_processed(broker: BrokerProcess) -> None:
    body = ("message=" + quote(json.dumps([HANDSHAKE]))).encode()
    async with http_client() as http:
        response = await http.post(broker.url, content=body)
    assert "content-type" not in response.request.headers
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    [reply] = response.json()
    assert reply["successful"] is True


async def test_c73_text_plain_form_body_is_processed(broker: BrokerProcess) -> None:
    """The browser CORS transport: ``text/plain;charset=UTF-8`` and ``message=<urlencoded>``."""
    body = ("message=" + quote(json.dumps([HANDSHAKE]))).encode()
    async with http_client() as http:
        response = await http.post(broker.url, content=body, headers={
            "Content-Type": "text/plain;charset=UTF-8", "Origin": "http://example.com", "Pragma": "no-cache"})
    assert response.status_code == 200
    [reply] = response.json()
    assert reply["successful"] is True
    assert response.headers["access-control-allow-origin"] == "http://example.com"


@pytest.mark.parametrize("content_type", [None, "text/plain;charset=UTF-8"], ids=["none", "text-plain"])
async def test_c74_raw_json_without_json_content_type_is_400_json_error_deliberate(
    broker: BrokerProcess, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    async with http_client() as http:
        response = await http.post(broker.url, content=json.dumps(HANDSHAKE).encode(), headers=headers)
    assert_json_error(response, 400)


@pytest.mark.parametrize("body", [b"{", b"[{]", b'{"channel": }', b""], ids=["open", "bad-array", "bad", "empty"])
async def test_c75_malformed_json_is_400_json_error_deliberate(broker: BrokerProcess, body: bytes) -> None:
    async with http_client() as http:
        response = await http.post(broker.url, content=body, headers={"Content-Type": "application/json"})
    assert_json_error(response, 400)


@pytest.mark.parametrize("body", [b"1", b'"abc"', b"true"], ids=["number", "string", "true"])
async def test_c76_primitive_json_is_400_json_error_deliberate(broker: BrokerProcess, body: bytes) -> None:
    async with http_client() as http:
        response = await http.post(broker.url, content=body, headers={"Content-Type": "application/json"})
    assert_json_error(response, 400)


async def test_c77_empty_batch_gives_empty_array(broker: BrokerProcess) -> None:
    async with http_client() as http:
        response = await http.post(broker.url, json=[])
    assert response.status_code == 200
    assert response.json() == []


async def test_c78_single_object_gets_an_array_reply(broker: BrokerProcess) -> None:
    async with http_client() as http:
        response = await http.post(broker.url, json={"channel": "/c78", "data": 1})
    assert response.status_code == 200
    assert response.json() == [{"channel": "/c78", "successful": True}]


async def test_c79_batch_replies_come_in_request_order(broker: BrokerProcess) -> None:
    a, b = channel("c79-a"), channel("c79-b")
    async with http_client() as http:
        client_id = await handshake(http, broker.url)
        replies = await post(http, broker.url, [
            {"channel": a, "data": "A", "id": "1"},
            {"channel": "/meta/subscribe", "clientId": client_id, "subscription": b, "id": "2"},
        ])
    assert replies == [
        {"id": "1", "channel": a, "successful": True},
        {"id": "2", "clientId": client_id, "channel": "/meta/subscribe", "successful": True, "subscription": b},
    ]


async def test_c80_connect_in_a_batch_comes_after_the_publish_with_its_delivery(broker: BrokerProcess) -> None:
    name = channel("c80")
    async with http_client() as http:
        client_id = await session(http, broker.url, name)
        replies = await post(http, broker.url, [
            {"channel": "/meta/connect", "clientId": client_id, "connectionType": "long-polling",
             "advice": {"timeout": 0}, "id": "c1"},
            {"channel": name, "data": "own", "clientId": client_id, "id": "p1"},
        ])
    assert replies == [
        {"id": "p1", "clientId": client_id, "channel": name, "successful": True},
        {"id": "c1", "clientId": client_id, "channel": "/meta/connect", "successful": True,
         "advice": {"reconnect": "retry", "interval": 0, "timeout": int(T * 1000)}},
        {"channel": name, "data": "own", "id": "p1"},
    ]


async def test_c81_batch_with_a_held_connect_is_held_about_timeout(broker: BrokerProcess) -> None:
    name = channel("c81")
    async with http_client() as http:
        client_id = await session(http, broker.url)
        replies, elapsed = await timed(post(http, broker.url, [
            {"channel": "/meta/connect", "clientId": client_id, "connectionType": "long-polling", "id": "c"},
            {"channel": "/meta/subscribe", "clientId": client_id, "subscription": name, "id": "s"},
        ]))
    assert_held_about(elapsed, T)
    assert [reply["id"] for reply in replies] == ["s", "c"]
    assert all(reply["successful"] is True for reply in replies)


async def test_c82_handshake_batch_processes_every_message(broker: BrokerProcess) -> None:
    name = channel("c82")
    async with http_client() as http:
        subscriber = await session(http, broker.url, name)
        replies = await post(http, broker.url, [{**HANDSHAKE, "id": "h"}, {"channel": name, "data": 82, "id": "p"}])
        delivered = await drain(http, broker.url, subscriber)
    assert [reply["id"] for reply in replies] == ["h", "p"]
    assert replies[0]["successful"] is True
    assert replies[0]["clientId"]
    assert replies[1] == {"id": "p", "channel": name, "successful": True}
    assert delivered == [{"channel": name, "data": 82, "id": "p"}]


async def test_c83_options_preflight(broker: BrokerProcess) -> None:
    async with http_client() as http:
        response = await http.options(broker.url, headers={"Origin": "http://x"})
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == "http://x"
    assert response.headers["access-control-allow-credentials"] == "true"
    assert response.headers["access-control-allow-headers"] == PREFLIGHT_HEADERS
    assert response.headers["access-control-allow-methods"] == "POST, GET"
    assert response.headers["access-control-max-age"] == "86400"


async def test_c84_preflight_origin_falls_back_to_referer_then_star(broker: BrokerProcess) -> None:
    async with http_client() as http:
        referer = await http.options(broker.url, headers={"Referer": "http://r"})
        neither = await http.options(broker.url)
    assert referer.status_code == 200
    assert referer.headers["access-control-allow-origin"] == "http://r"
    assert neither.status_code == 200
    assert neither.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
async def test_c85_other_methods_are_400_json_error_deliberate(broker: BrokerProcess, method: str) -> None:
    async with http_client() as http:
        response = await http.request(method, broker.url, json=HANDSHAKE)
    assert_json_error(response, 400)


@pytest.mark.parametrize("suffix", ["/anything/else", "/", "/x", "/a%0Ab", "/%0A"])
async def test_c86_post_below_the_mount_is_bayeux(broker: BrokerProcess, suffix: str) -> None:
    async with http_client() as http:
        response = await http.post(broker.url + suffix, json=HANDSHAKE)
    assert response.status_code == 200
    [reply] = response.json()
    assert reply["successful"] is True
