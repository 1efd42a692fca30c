"""Bad input over real loopback sockets: every bad request gets a clear answer, never a 500.

The contract (docs/architecture.md §4, docs/protocol.md §1.4, §2, §3, §4.2, §4.7):

* a body that is not a Bayeux batch (malformed or primitive JSON, no ``message=``, a bad
  JSONP callback, an unsupported method, bytes that are not UTF-8) is an HTTP 400 with a
  JSON body ``{"error": "Bad request...", "status": 400}``;
* a message with wrong types in its fields gets a Bayeux reply (HTTP 200, ``successful:
  false`` and a faye error string ``NNN:args:message``), or is processed as faye does;
* after each bad input the server still answers a handshake, and a full handshake,
  subscribe, publish, connect round trip still works.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.support.servers import BrokerProcess

Message = dict[str, Any]

FAYE_ERROR = re.compile(r"\d{3}:[^:]*:[A-Za-z ]+")
"""faye's error string: 3-digit code, args joined by commas, message (docs/protocol.md §3)."""

_counter = itertools.count()


def unique(prefix: str = "/bad") -> str:
    return f"{prefix}/c{next(_counter)}"


# -- helpers shared with test_limits.py ---------------------------------------------------


def media_type(response: httpx.Response) -> str:
    return response.headers.get("content-type", "").split(";", 1)[0].strip().lower()


def assert_http_error(response: httpx.Response, status: int, *, bad_request: bool = True) -> None:
    """An HTTP-level error: ``status``, ``application/json``, ``{"error": str, "status": status}``."""
    assert response.status_code == status, (response.status_code, response.headers, response.text)
    assert media_type(response) == "application/json", (response.headers, response.text)
    body = response.json()
    assert isinstance(body, dict), body
    assert set(body) == {"error", "status"}, body
    assert body["status"] == status, body
    assert isinstance(body["error"], str), body
    assert body["error"], body
    if bad_request:
        assert body["error"].startswith("Bad request"), body


def bayeux(http: httpx.Client, url: str, payload: object) -> list[Message]:
    """POST a JSON batch; the answer must be HTTP 200 with a JSON array of replies."""
    response = http.post(url, content=json.dumps(payload).encode(), headers={"Content-Type": "application/json"})
    assert response.status_code == 200, (response.status_code, response.text)
    assert media_type(response) == "application/json", response.headers
    replies = response.json()
    assert isinstance(replies, list), replies
    return replies


def handshake(http: httpx.Client, url: str) -> str:
    replies = bayeux(http, url, [{"channel": "/meta/handshake", "version": "1.0",
                                  "supportedConnectionTypes": ["long-polling"], "id": "hs"}])
    assert len(replies) == 1, replies
    reply = replies[0]
    assert reply["successful"] is True, reply
    assert reply["channel"] == "/meta/handshake", reply
    assert re.fullmatch(r"[0-9a-z]+", reply["clientId"]), reply
    return str(reply["clientId"])


def subscribe(http: httpx.Client, url: str, client_id: str, subscription: object) -> Message:
    replies = bayeux(http, url, [{"channel": "/meta/subscribe", "clientId": client_id, "subscription": subscription}])
    assert len(replies) == 1, replies
    return replies[0]


def connect_now(http: httpx.Client, url: str, client_id: str) -> list[Message]:
    """A long-polling connect; call it only when something is queued (it returns at once)."""
    replies = bayeux(http, url, [{"channel": "/meta/connect", "clientId": client_id,
                                  "connectionType": "long-polling"}])
    assert replies, replies
    assert replies[0]["channel"] == "/meta/connect", replies
    assert replies[0]["successful"] is True, replies
    return replies[1:]


def assert_handshake_works(url: str) -> None:
    with httpx.Client(timeout=10) as http:
        handshake(http, url)


def assert_round_trip(url: str) -> None:
    """A normal handshake, subscribe, publish and connect over a fresh HTTP client."""
    with httpx.Client(timeout=10) as http:
        client_id = handshake(http, url)
        channel = unique("/roundtrip")
        reply = subscribe(http, url, client_id, channel)
        assert reply == {"clientId": client_id, "channel": "/meta/subscribe", "successful": True,
                         "subscription": channel}
        published = bayeux(http, url, [{"channel": channel, "data": {"text": "hello"}, "id": "rt"}])
        assert published == [{"id": "rt", "channel": channel, "successful": True}]
        delivered = connect_now(http, url, client_id)
        assert [(m["channel"], m["data"]) for m in delivered] == [(channel, {"text": "hello"})]


def ws_url(url: str) -> str:
    return "ws" + url.removeprefix("http")


async def ws_exchange(ws: ClientConnection, payload: object) -> list[Message]:
    """Send one frame and return the next frame's messages (within 5 s)."""
    await ws.send(json.dumps(payload))
    with anyio.fail_after(5):
        frame = await ws.recv()
    messages = json.loads(frame)
    assert isinstance(messages, list), messages
    return messages


def nested(depth: int, leaf: str = "0") -> str:
    return "[" * depth + leaf + "]" * depth


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


# -- HTTP-level bad requests: 400 with a JSON body ----------------------------------------


@pytest.mark.parametrize(
    "body",
    [b"{", b'[{"channel": "/a", "data": 1}', b"not json", b'{"channel": "/a",}', b"", b"[{]", b"\x00"],
    ids=["open-brace", "unclosed-array", "words", "trailing-comma", "empty", "broken-array", "nul"],
)
def test_malformed_json_body_is_400(broker: BrokerProcess, http: httpx.Client, body: bytes) -> None:
    response = http.post(broker.url, content=body, headers={"Content-Type": "application/json"})
    assert_http_error(response, 400)
    assert_handshake_works(broker.url)


@pytest.mark.parametrize("body", [b"1", b'"abc"', b"true", b"false", b"3.5", b"-7"])
def test_json_primitive_body_is_400(broker: BrokerProcess, http: httpx.Client, body: bytes) -> None:
    response = http.post(broker.url, content=body, headers={"Content-Type": "application/json"})
    assert_http_error(response, 400)
    assert_handshake_works(broker.url)


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain;charset=UTF-8", None])
@pytest.mark.parametrize(
    "body",
    [b"message=%7B", b"message=1", b"message=%22abc%22", b"foo=bar", b"", b"messages=%5B%5D"],
    ids=["malformed", "number", "string", "no-message", "empty", "wrong-name"],
)
def test_form_body_without_a_batch_is_400(
    broker: BrokerProcess, http: httpx.Client, body: bytes, content_type: str | None
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = http.post(broker.url, content=body, headers=headers)
    assert_http_error(response, 400)
    assert_handshake_works(broker.url)


def test_raw_json_body_without_json_content_type_is_400(broker: BrokerProcess, http: httpx.Client) -> None:
    """docs/protocol.md §4.2: without ``application/json`` the body is form data; raw JSON has no ``message``."""
    body = json.dumps({"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": ["long-polling"]})
    response = http.post(broker.url, content=body.encode(), headers={"Content-Type": "text/plain"})
    assert_http_error(response, 400)


@pytest.mark.parametrize("callback", ["1abc", "a-b", "alert(1)", "a..b", "a b", "cb;alert(1)", ".cb", "cb.", "<x>"])
def test_jsonp_bad_callback_is_400(broker: BrokerProcess, http: httpx.Client, callback: str) -> None:
    message = json.dumps({"channel": "/meta/handshake", "version": "1.0",
                          "supportedConnectionTypes": ["callback-polling"]})
    response = http.get(broker.url, params={"message": message, "jsonp": callback})
    assert_http_error(response, 400)
    assert_handshake_works(broker.url)


@pytest.mark.parametrize(
    "params",
    [{}, {"jsonp": "cb"}, {"message": "{"}, {"message": "1"}, {"message": "\"x\""}, {"message": ""}],
    ids=["nothing", "callback-only", "malformed", "number", "string", "empty"],
)
def test_jsonp_missing_or_bad_message_is_400(broker: BrokerProcess, http: httpx.Client, params: dict[str, str]) -> None:
    response = http.get(broker.url, params=params)
    assert_http_error(response, 400)
    assert_handshake_works(broker.url)


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH"])
def test_unsupported_method_is_400(broker: BrokerProcess, http: httpx.Client, method: str) -> None:
    body = json.dumps([{"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": ["long-polling"]}])
    response = http.request(method, broker.url, content=body.encode(), headers={"Content-Type": "application/json"})
    assert_http_error(response, 400)
    assert_handshake_works(broker.url)


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", "text/plain", None])
def test_non_utf8_form_body_is_400(broker: BrokerProcess, http: httpx.Client, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    body = b'message=[{"channel":"/a","data":"\xff\xfe"}]'
    response = http.post(broker.url, content=body, headers=headers)
    assert_http_error(response, 400)
    assert_handshake_works(broker.url)


@pytest.mark.parametrize(
    "body",
    [
        b'[{"channel":"/a","data":"\xff"}]',
        b'[{"channel":"/a\xc3","data":1}]',
        b'{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"],"id":"\xed\xa0\x80"}',
        b"\xef\xbb\xbf\xff[]",
    ],
    ids=["in-data", "truncated-sequence", "surrogate", "after-bom"],
)
def test_invalid_utf8_in_json_body_is_400(broker: BrokerProcess, http: httpx.Client, body: bytes) -> None:
    response = http.post(broker.url, content=body, headers={"Content-Type": "application/json"})
    assert_http_error(response, 400)
    assert_handshake_works(broker.url)


def test_burst_of_bad_requests_then_round_trip(broker: BrokerProcess, http: httpx.Client) -> None:
    """A mixed burst of bad requests on one keep-alive connection, then a full round trip."""
    for _ in range(20):
        assert_http_error(http.post(broker.url, content=b"{", headers={"Content-Type": "application/json"}), 400)
        assert_http_error(http.post(broker.url, content=b"foo=bar"), 400)
        assert_http_error(http.get(broker.url, params={"message": "[]", "jsonp": "1x"}), 400)
        assert_http_error(http.put(broker.url, content=b"[]"), 400)
        assert_http_error(http.post(broker.url, content=b"\xff", headers={"Content-Type": "application/json"}), 400)
    assert_round_trip(broker.url)


# -- wrong types in fields: Bayeux error replies (HTTP 200), never a 500 --------------------

CID = "<client id>"
"""Replaced by the id of a fresh, real client."""


def _fill(value: Any, client_id: str) -> Any:
    if value == CID:
        return client_id
    if isinstance(value, dict):
        return {k: _fill(v, client_id) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, client_id) for v in value]
    return value


CONNECT_TYPES_ERROR = re.compile(r"301:.*:Connection types not supported")

WRONG_TYPES: list[tuple[str, Message, str | re.Pattern[str] | None]] = [
    # channel: anything that is not a valid name is a publish to an invalid channel (§1.3, §1.4)
    ("channel-number", {"channel": 123, "data": 1}, "405:123:Invalid channel"),
    ("channel-float", {"channel": 1.5, "data": 1}, "405:1.5:Invalid channel"),
    ("channel-object", {"channel": {"a": 1}, "data": 1}, "405:[object Object]:Invalid channel"),
    ("channel-list", {"channel": ["/a", "/b"], "data": 1}, "405:/a,/b:Invalid channel"),
    ("channel-null", {"channel": None, "data": 1}, "405::Invalid channel"),
    ("channel-true", {"channel": True, "data": 1}, "405:true:Invalid channel"),
    ("channel-missing-no-data", {}, "402:data:Missing required parameter"),
    ("channel-pattern-publish", {"channel": "/a/*", "data": 1}, "405:/a/*:Invalid channel"),
    # clientId
    ("connect-clientId-number", {"channel": "/meta/connect", "clientId": 123, "connectionType": "long-polling"},
     "401:123:Unknown client"),
    ("connect-clientId-object", {"channel": "/meta/connect", "clientId": {"id": "x"}, "connectionType": "long-polling"},
     "401:[object Object]:Unknown client"),
    ("connect-clientId-list", {"channel": "/meta/connect", "clientId": ["a", "b"], "connectionType": "long-polling"},
     "401:a,b:Unknown client"),
    ("subscribe-clientId-number", {"channel": "/meta/subscribe", "clientId": 123, "subscription": "/a"},
     "401:123:Unknown client"),
    ("unsubscribe-clientId-object", {"channel": "/meta/unsubscribe", "clientId": {"a": 1}, "subscription": "/a"},
     "401:[object Object]:Unknown client"),
    ("disconnect-clientId-list", {"channel": "/meta/disconnect", "clientId": ["a", "b"]}, "401:a,b:Unknown client"),
    ("publish-clientId-object", {"channel": "/wrong/types", "clientId": {"a": 1}, "data": 1}, None),
    ("publish-clientId-number", {"channel": "/wrong/types", "clientId": 5, "data": 1}, None),
    # subscription
    ("subscription-object", {"channel": "/meta/subscribe", "clientId": CID, "subscription": {"a": 1}},
     "405:[object Object]:Invalid channel"),
    ("subscription-number", {"channel": "/meta/subscribe", "clientId": CID, "subscription": 5},
     "405:5:Invalid channel"),
    ("subscription-true", {"channel": "/meta/subscribe", "clientId": CID, "subscription": True},
     "405:true:Invalid channel"),
    ("subscription-list-number", {"channel": "/meta/subscribe", "clientId": CID, "subscription": ["/ok", 5]},
     "405:5:Invalid channel"),
    ("subscription-list-null", {"channel": "/meta/subscribe", "clientId": CID, "subscription": [None]},
     "405::Invalid channel"),
    ("subscription-list-object", {"channel": "/meta/subscribe", "clientId": CID, "subscription": [{"a": 1}]},
     "405:[object Object]:Invalid channel"),
    ("subscription-list-list", {"channel": "/meta/subscribe", "clientId": CID, "subscription": [["/a", "/b"]]},
     "405:/a,/b:Invalid channel"),
    ("unsubscribe-subscription-number", {"channel": "/meta/unsubscribe", "clientId": CID, "subscription": 5},
     "405:5:Invalid channel"),
    ("subscription-empty-string", {"channel": "/meta/subscribe", "clientId": CID, "subscription": ""},
     "402:subscription:Missing required parameter"),
    # version
    ("version-object", {"channel": "/meta/handshake", "version": {"major": 1},
                        "supportedConnectionTypes": ["long-polling"]}, None),
    ("version-list", {"channel": "/meta/handshake", "version": ["1.0"], "supportedConnectionTypes": ["long-polling"]},
     None),
    ("version-number", {"channel": "/meta/handshake", "version": 1, "supportedConnectionTypes": ["long-polling"]},
     None),
    ("version-zero", {"channel": "/meta/handshake", "version": 0, "supportedConnectionTypes": ["long-polling"]},
     "402:version:Missing required parameter"),
    # supportedConnectionTypes
    ("types-string", {"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": "long-polling"},
     "301:long-polling:Connection types not supported"),
    ("types-object", {"channel": "/meta/handshake", "version": "1.0",
                      "supportedConnectionTypes": {"0": "long-polling"}}, CONNECT_TYPES_ERROR),
    ("types-number", {"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": 7},
     CONNECT_TYPES_ERROR),
    ("types-list-non-strings", {"channel": "/meta/handshake", "version": "1.0",
                                "supportedConnectionTypes": [1, {"a": 1}, None]},
     "301:1,[object Object],:Connection types not supported"),
    ("types-null", {"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": None},
     "402:supportedConnectionTypes:Missing required parameter"),
    # connectionType
    ("connectionType-number", {"channel": "/meta/connect", "clientId": CID, "connectionType": 5},
     "301:5:Connection types not supported"),
    ("connectionType-object", {"channel": "/meta/connect", "clientId": CID, "connectionType": {"a": 1}},
     "301:[object Object]:Connection types not supported"),
    ("connectionType-list", {"channel": "/meta/connect", "clientId": CID, "connectionType": ["long-polling"]},
     CONNECT_TYPES_ERROR),
    ("connectionType-null", {"channel": "/meta/connect", "clientId": CID, "connectionType": None},
     "402:connectionType:Missing required parameter"),
    # id and ext
    ("id-object", {"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": ["long-polling"],
                   "id": {"a": [1, 2]}}, None),
    ("id-list", {"channel": "/wrong/types", "data": 1, "id": [1, "2"]}, None),
    ("ext-string", {"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": ["long-polling"],
                    "ext": "token"}, None),
    ("ext-list-on-subscribe", {"channel": "/meta/subscribe", "clientId": CID, "subscription": "/wrong/ext",
                               "ext": [1, 2]}, None),
    ("ext-number-on-publish", {"channel": "/wrong/types", "data": 1, "ext": 5}, None),
    ("data-nested-object", {"channel": "/wrong/types", "data": {"a": [{"b": [None, True, 1.5, "x"]}]}}, None),
    # unknown meta channels (docs/protocol.md §1.3, §2.7)
    ("meta-foo", {"channel": "/meta/foo", "clientId": CID, "id": "m1"}, "403:/meta/foo:Forbidden channel"),
    ("meta-subscribe-suffix", {"channel": "/meta/subscribe/x", "clientId": CID, "subscription": "/a"},
     "403:/meta/subscribe/x:Forbidden channel"),
    ("meta-bare", {"channel": "/meta"}, "403:/meta:Forbidden channel"),
    ("meta-wildcard", {"channel": "/meta/*"}, "403:/meta/*:Forbidden channel"),
    ("meta-globstar", {"channel": "/meta/**"}, "403:/meta/**:Forbidden channel"),
    ("meta-case", {"channel": "/meta/Handshake", "version": "1.0", "supportedConnectionTypes": ["long-polling"]},
     "403:/meta/Handshake:Forbidden channel"),
    ("meta-trailing-slash", {"channel": "/meta/", "data": 1}, "405:/meta/:Invalid channel"),
    ("meta-handshake-trailing-slash", {"channel": "/meta/handshake/", "version": "1.0", "data": 1,
                                       "supportedConnectionTypes": ["long-polling"]},
     "405:/meta/handshake/:Invalid channel"),
]


@pytest.mark.parametrize(("message", "expected"), [case[1:] for case in WRONG_TYPES], ids=[c[0] for c in WRONG_TYPES])
def test_wrong_types_get_a_bayeux_reply(
    broker: BrokerProcess, http: httpx.Client, message: Message, expected: str | re.Pattern[str] | None
) -> None:
    client_id = handshake(http, broker.url)
    sent = _fill(message, client_id)
    replies = bayeux(http, broker.url, [sent])
    assert len(replies) == 1, replies
    reply = replies[0]
    assert isinstance(reply, dict), reply
    if expected is None:
        assert reply["successful"] is True, reply
        assert "error" not in reply, reply
    else:
        assert reply["successful"] is False, reply
        assert isinstance(reply["error"], str), reply
        assert FAYE_ERROR.fullmatch(reply["error"]), reply
        if isinstance(expected, str):
            assert reply["error"] == expected, reply
        else:
            assert expected.fullmatch(reply["error"]), reply
    if "id" in sent:
        assert reply["id"] == sent["id"], reply
    channel = sent.get("channel")
    if isinstance(channel, str) and channel.startswith("/meta/") and channel not in (
        "/meta/handshake", "/meta/connect"
    ):
        assert "advice" not in reply, reply
    assert_handshake_works(broker.url)


def test_failed_connect_reply_has_no_client_id_and_handshake_advice(broker: BrokerProcess, http: httpx.Client) -> None:
    client_id = handshake(http, broker.url)
    replies = bayeux(http, broker.url, [{"channel": "/meta/connect", "clientId": client_id, "connectionType": 5,
                                         "id": "c1"}])
    assert replies == [{"id": "c1", "channel": "/meta/connect", "successful": False,
                        "error": "301:5:Connection types not supported", "advice": {"reconnect": "handshake"}}]


def test_subscription_list_with_a_bad_entry_keeps_the_earlier_ones(broker: BrokerProcess, http: httpx.Client) -> None:
    """docs/protocol.md §2.4: the walk stops at the first error; earlier channels stay subscribed."""
    client_id = handshake(http, broker.url)
    good = unique("/partial")
    reply = subscribe(http, broker.url, client_id, [good, 5, unique("/never")])
    assert reply["successful"] is False, reply
    assert reply["error"] == "405:5:Invalid channel", reply
    assert reply["subscription"] == [good, 5, reply["subscription"][2]], reply
    assert bayeux(http, broker.url, [{"channel": good, "data": "still here"}])[0]["successful"] is True
    assert [m["data"] for m in connect_now(http, broker.url, client_id)] == ["still here"]


def test_non_object_batch_entries_get_publish_errors(broker: BrokerProcess, http: httpx.Client) -> None:
    """A non-object entry is a message without channel or data: ``402:data`` (docs/protocol.md §1.4)."""
    replies = bayeux(http, broker.url, [1, "x", [], True])
    assert replies == [{"successful": False, "error": "402:data:Missing required parameter"}] * 4
    assert_handshake_works(broker.url)


def test_publish_with_odd_types_is_forwarded_verbatim(broker: BrokerProcess, http: httpx.Client) -> None:
    """``ext`` as a string and ``data`` of any JSON type are delivered unchanged; ``clientId`` is not."""
    client_id = handshake(http, broker.url)
    channel = unique("/verbatim")
    assert subscribe(http, broker.url, client_id, channel)["successful"] is True
    payloads: list[Any] = [None, 0, False, "", [1, [2, [3]]], {"k": {"v": None}}]
    batch = [{"channel": channel, "data": data, "ext": "plain string", "clientId": {"not": "an id"}}
             for data in payloads]
    replies = bayeux(http, broker.url, batch)
    assert [r["successful"] for r in replies] == [True] * len(payloads), replies
    delivered = connect_now(http, broker.url, client_id)
    assert [m["data"] for m in delivered] == payloads
    assert all(m["ext"] == "plain string" for m in delivered), delivered
    assert all("clientId" not in m for m in delivered), delivered


@pytest.mark.parametrize(
    "advice",
    ["later", 5, [1, 2], None, {"timeout": "5"}, {"timeout": -1}, {"timeout": None}, {"timeout": [1]},
     {"timeout": {"ms": 1}}, {"timeout": True}, {"timeout": -1e300}, {"interval": "x"}],
    ids=["string", "number", "list", "null", "timeout-string", "timeout-negative", "timeout-null", "timeout-list",
         "timeout-object", "timeout-bool", "timeout-huge-negative", "interval-string"],
)
def test_connect_with_bad_advice_is_processed(broker: BrokerProcess, http: httpx.Client, advice: object) -> None:
    """faye ignores an ``advice`` it cannot use; a queued message makes the connect return at once."""
    client_id = handshake(http, broker.url)
    channel = unique("/advice")
    assert subscribe(http, broker.url, client_id, channel)["successful"] is True
    assert bayeux(http, broker.url, [{"channel": channel, "data": "queued"}])[0]["successful"] is True
    replies = bayeux(http, broker.url, [{"channel": "/meta/connect", "clientId": client_id,
                                         "connectionType": "long-polling", "advice": advice}])
    assert replies[0]["channel"] == "/meta/connect", replies
    assert replies[0]["successful"] is True, replies
    assert replies[0]["advice"]["reconnect"] == "retry", replies
    assert [m["data"] for m in replies[1:]] == ["queued"], replies
    assert_handshake_works(broker.url)


@pytest.mark.parametrize(
    ("field", "value"),
    [("id", {}), ("id", []), ("version", {}), ("version", [])],
    ids=["id-empty-object", "id-empty-list", "version-empty-object", "version-empty-list"],
)
def test_empty_object_or_list_is_truthy_as_in_faye(
    broker: BrokerProcess, http: httpx.Client, field: str, value: object
) -> None:
    """faye tests ``if (message.id)`` / ``!message.version`` in JavaScript, where ``{}`` and ``[]`` are truthy:
    the id is echoed and the version is accepted (docs/protocol.md §1.4)."""
    message = {"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": ["long-polling"],
               "id": "h", field: value}
    replies = bayeux(http, broker.url, [message])
    assert replies[0]["successful"] is True, replies
    if field == "id":
        assert replies[0].get("id", "<missing>") == value, replies
    assert_handshake_works(broker.url)


# -- deeply nested and huge values ----------------------------------------------------------


def _post_raw(http: httpx.Client, url: str, body: str) -> httpx.Response:
    return http.post(url, content=body.encode(), headers={"Content-Type": "application/json"})


def _assert_answered(response: httpx.Response) -> list[Message] | None:
    """200 with Bayeux replies in faye's error format, or a 400/413 JSON error; never a 500."""
    assert response.status_code in (200, 400, 413), (response.status_code, response.text[:500])
    assert media_type(response) == "application/json", (response.headers, response.text[:500])
    if response.status_code != 200:
        assert_http_error(response, response.status_code, bad_request=response.status_code == 400)
        return None
    replies = response.json()
    assert isinstance(replies, list), replies
    assert replies, "no reply at all"
    assert isinstance(replies[0].get("successful"), bool), replies
    for reply in replies:
        if reply.get("successful") is False:
            assert FAYE_ERROR.fullmatch(reply["error"]), reply
    return replies


@pytest.mark.parametrize("depth", [100, 300, 1100, 20_000])
def test_deeply_nested_data_is_answered(broker: BrokerProcess, http: httpx.Client, depth: int) -> None:
    """A publish whose data is a deeply nested array: rejected cleanly, or delivered intact."""
    client_id = handshake(http, broker.url)
    channel = unique("/deep")
    assert subscribe(http, broker.url, client_id, channel)["successful"] is True
    body = f'[{{"channel":"{channel}","id":"deep","data":{nested(depth)}}}]'
    replies = _assert_answered(_post_raw(http, broker.url, body))
    bayeux(http, broker.url, [{"channel": channel, "data": "marker"}])
    delivered = connect_now(http, broker.url, client_id)
    if replies is not None and replies[0]["successful"]:
        assert [m["data"] for m in delivered] == [json.loads(nested(depth)), "marker"]
    else:
        assert [m["data"] for m in delivered] == ["marker"], "a rejected publish was delivered"
    assert_handshake_works(broker.url)


@pytest.mark.parametrize(
    "template",
    [
        '{{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"],"id":{v}}}',
        '{{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":["long-polling"],"ext":{v}}}',
        '{{"channel":"/meta/handshake","version":{v},"supportedConnectionTypes":["long-polling"]}}',
        '{{"channel":"/meta/handshake","version":"1.0","supportedConnectionTypes":{v}}}',
        '{{"channel":{v},"data":1}}',
        '{{"channel":"/meta/subscribe","clientId":"{cid}","subscription":{v}}}',
        '{{"channel":"/meta/connect","clientId":{v},"connectionType":"long-polling"}}',
        '{{"channel":"/meta/connect","clientId":"{cid}","connectionType":{v}}}',
        '{{"channel":"/meta/connect","clientId":"{cid}","connectionType":"long-polling","advice":{v},'
        '"id":"queued-first"}}',
        '{{"channel":"/deep/ext","data":1,"ext":{v}}}',
    ],
    ids=["id", "ext", "version", "types", "channel", "subscription", "connect-clientId", "connectionType", "advice",
         "publish-ext"],
)
def test_deeply_nested_fields_are_answered(broker: BrokerProcess, http: httpx.Client, template: str) -> None:
    client_id = handshake(http, broker.url)
    if "advice" in template:
        # make the connect return at once, whatever it makes of the advice
        subscribe(http, broker.url, client_id, "/deep/advice")
        bayeux(http, broker.url, [{"channel": "/deep/advice", "data": 1}])
    for depth in (300, 2000):
        body = template.format(v=nested(depth, '"x"'), cid=client_id)
        _assert_answered(_post_raw(http, broker.url, body))
        assert_handshake_works(broker.url)


def test_wide_data_is_delivered(broker: BrokerProcess, http: httpx.Client) -> None:
    """A large flat array within the default limits goes through intact."""
    client_id = handshake(http, broker.url)
    channel = unique("/wide")
    subscribe(http, broker.url, client_id, channel)
    data = list(range(20_000))
    assert bayeux(http, broker.url, [{"channel": channel, "data": data}])[0]["successful"] is True
    assert [m["data"] for m in connect_now(http, broker.url, client_id)] == [data]


# -- the same over a WebSocket ----------------------------------------------------------------


@pytest.mark.anyio
async def test_websocket_bad_frames_keep_the_socket_open(broker: BrokerProcess) -> None:
    """Malformed frames are ignored (docs/protocol.md §4.5); wrong types get Bayeux errors; the socket stays up."""
    hs = {"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": ["websocket"], "id": "w"}
    with anyio.fail_after(20):
        async with connect(ws_url(broker.url), ping_interval=None, close_timeout=2) as ws:
            for frame in ["{", "1", '"abc"', "[{]", "\u00ff", "true"]:
                await ws.send(frame)
            replies = await ws_exchange(ws, [hs])
            assert [r["id"] for r in replies] == ["w"], replies
            assert replies[0]["successful"] is True, replies
            replies = await ws_exchange(ws, [{"channel": 123, "data": 1, "id": "x"}])
            assert replies == [{"id": "x", "channel": 123, "successful": False, "error": "405:123:Invalid channel"}]
            replies = await ws_exchange(ws, [{"channel": "/meta/foo", "id": "y"}])
            assert replies == [{"id": "y", "channel": "/meta/foo", "successful": False,
                                "error": "403:/meta/foo:Forbidden channel"}]
            replies = await ws_exchange(ws, [{"channel": {"a": 1}, "data": 1, "id": "o"}])
            assert replies == [{"id": "o", "channel": {"a": 1}, "successful": False,
                                "error": "405:[object Object]:Invalid channel"}]
            for depth in (300, 2000):
                await ws.send(f'[{{"channel":"/ws/deep","id":"d","data":{nested(depth)}}}]')
                await ws.send(f'[{{"channel":"/meta/handshake","version":"1.0","id":{nested(depth)},'
                              '"supportedConnectionTypes":["websocket"]}]')
            # whatever came of the deep frames, the socket must still answer
            await ws.send(json.dumps([{**hs, "id": "after"}]))
            seen: list[Message] = []
            while not any(m.get("id") == "after" for m in seen):
                with anyio.fail_after(5):
                    seen.extend(json.loads(await ws.recv()))
            after = next(m for m in seen if m.get("id") == "after")
            assert after["successful"] is True, after
    assert_round_trip(broker.url)


# -- last: the server is still healthy after everything above -------------------------------


def test_zz_round_trip_after_all_bad_input(broker: BrokerProcess) -> None:
    assert broker.process.poll() is None, "the broker process died"
    assert_round_trip(broker.url)
