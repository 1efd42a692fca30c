"""Batch decoding and encoding, JSONP framing (docs/protocol.md §2.1, §4.2, §4.4; checklist 74-78, 87-92)."""

from __future__ import annotations

import orjson
import pytest

from protocol import messages
from protocol.commands import Message
from protocol.messages import DecodeError, decode_batch, encode_batch, encode_jsonp, join_encoded

MALFORMED = "Bad request: malformed JSON"
NOT_A_BATCH = "Bad request: expected a JSON object or array"


@pytest.mark.parametrize(
    ("body", "batch"),
    [
        pytest.param(b'{"channel":"/foo"}', [{"channel": "/foo"}], id="c78-object-becomes-batch"),
        pytest.param('{"a":1}', [{"a": 1}], id="str-body"),
        pytest.param(b"[]", [], id="c77-empty-array"),
        pytest.param(b"null", [], id="s4_2-top-level-null"),
        pytest.param(b'[{"a":1},{"b":2}]', [{"a": 1}, {"b": 2}], id="array-in-order"),
        pytest.param(b'[{"a":1},null,{"b":2}]', [{"a": 1}, {"b": 2}], id="s4_2-null-entry-skipped"),
        pytest.param(b'[false,0,0.0,"",null]', [], id="falsy-entries-skipped"),
        pytest.param(b'[1,"abc",true,[],{}]', [{}, {}, {}, {}, {}], id="non-object-entries-become-empty"),
        pytest.param(b'[{"id":1},2]', [{"id": 1}, {}], id="mixed"),
        pytest.param(b' \n{"a":1}\n ', [{"a": 1}], id="whitespace"),
    ],
)
def test_s4_2_decode_batch(body: bytes | str, batch: list[Message]) -> None:
    assert decode_batch(body, max_messages=10) == batch


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(b"1", NOT_A_BATCH, id="c76-number"),
        pytest.param(b'"abc"', NOT_A_BATCH, id="c76-string"),
        pytest.param(b"true", NOT_A_BATCH, id="true"),
        pytest.param(b"false", NOT_A_BATCH, id="false"),
        pytest.param(b"1.5", NOT_A_BATCH, id="float"),
        pytest.param(b"{", MALFORMED, id="c75-truncated"),
        pytest.param(b"", MALFORMED, id="empty-body"),
        pytest.param(b"not json", MALFORMED, id="text"),
        pytest.param(b"[1,]", MALFORMED, id="trailing-comma"),
        pytest.param(b"NaN", MALFORMED, id="nan"),
        pytest.param(b'{"a":1}{"b":2}', MALFORMED, id="two-documents"),
        pytest.param(b"\xff", MALFORMED, id="invalid-utf8"),
        pytest.param("\ud800", MALFORMED, id="lone-surrogate"),
    ],
)
def test_s4_2_decode_batch_rejects(body: bytes | str, reason: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode_batch(body, max_messages=10)
    assert info.value.reason == reason
    assert str(info.value) == reason
    assert isinstance(info.value, ValueError)


def test_s4_2_malformed_json_error_is_chained() -> None:
    with pytest.raises(DecodeError) as info:
        decode_batch(b"{", max_messages=10)
    assert isinstance(info.value.__cause__, orjson.JSONDecodeError)


@pytest.mark.parametrize(
    ("body", "ok"),
    [
        pytest.param(b"[{},{}]", True, id="at-limit"),
        pytest.param(b"[{},{},{}]", False, id="over-limit"),
        pytest.param(b"[{},null,{}]", False, id="null-entries-count"),
        pytest.param(b"{}", True, id="single-object"),
    ],
)
def test_design_s4_batch_length_is_bounded(body: bytes, ok: bool) -> None:
    if ok:
        assert len(decode_batch(body, max_messages=2)) <= 2
    else:
        with pytest.raises(DecodeError, match=r"^Bad request: more than 2 messages in one batch$"):
            decode_batch(body, max_messages=2)


@pytest.mark.parametrize(
    ("replies", "encoded"),
    [
        pytest.param([], b"[]", id="c77-empty"),
        pytest.param([{"channel": "/foo", "successful": True}], b'[{"channel":"/foo","successful":true}]', id="one"),
        pytest.param(iter([{"a": 1}, {"b": None}]), b'[{"a":1},{"b":null}]', id="iterable"),
    ],
)
def test_s4_2_replies_are_always_one_json_array(replies: list[Message], encoded: bytes) -> None:
    assert encode_batch(replies) == encoded


@pytest.mark.parametrize(
    "replies",
    [[], [{"a": 1}], [{"a": 1}, {"data": "\u2028", "n": [1, 2]}, {}]],
)
def test_design_s3_join_encoded_equals_encode_batch(replies: list[Message]) -> None:
    assert join_encoded(orjson.dumps(reply) for reply in replies) == encode_batch(replies)


def test_s0_2_default_jsonp_callback() -> None:
    assert messages.JSONP_CALLBACK == "jsonpcallback"


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        pytest.param("cb", True, id="c87-cb"),
        pytest.param("jsonpcallback", True, id="c88-default"),
        pytest.param("__jsonp1__", True, id="browser-transport-name"),
        pytest.param("ns.cb", True, id="c90-dotted"),
        pytest.param("a.b.c", True, id="several-dots"),
        pytest.param("$", True, id="dollar"),
        pytest.param("_", True, id="underscore"),
        pytest.param("A1$_", True, id="letters-digits-dollar-underscore"),
        pytest.param("CB.Fn", True, id="case-insensitive"),
        pytest.param("alert(1)", False, id="c90-parentheses"),
        pytest.param("42", False, id="c90-number"),
        pytest.param("1cb", False, id="leading-digit"),
        pytest.param("ns.1x", False, id="part-with-leading-digit"),
        pytest.param("", False, id="empty"),
        pytest.param("ns.", False, id="trailing-dot"),
        pytest.param(".cb", False, id="leading-dot"),
        pytest.param("a..b", False, id="double-dot"),
        pytest.param("a-b", False, id="hyphen"),
        pytest.param("a b", False, id="space"),
        pytest.param("cb;", False, id="semicolon"),
        pytest.param("cb\n", False, id="trailing-newline"),
        pytest.param("caf\u00e9", False, id="non-ascii-letter"),
        pytest.param("\u212a", False, id="kelvin-sign-is-not-k"),
        pytest.param("x\u0661", False, id="non-ascii-digit"),
    ],
)
def test_s4_4_jsonp_callback_validation(name: str, valid: bool) -> None:
    assert messages.is_valid_jsonp_callback(name) is valid


@pytest.mark.parametrize(
    ("callback", "body"),
    [
        pytest.param(
            "callback",
            b'/**/callback([{"channel":"/meta/handshake"}]);',
            id="s10-faye-spec-46-bytes",
        ),
        pytest.param(
            "jsonpcallback",
            b'/**/jsonpcallback([{"channel":"/meta/handshake"}]);',
            id="s10-faye-spec-51-bytes",
        ),
    ],
)
def test_c87_jsonp_body_format(callback: str, body: bytes) -> None:
    encoded = encode_jsonp(callback, encode_batch([{"channel": "/meta/handshake"}]))
    assert encoded == body
    assert len(encoded) == len(callback) + 38


@pytest.mark.parametrize(
    "data",
    [
        pytest.param("a\u2028b", id="line-separator"),
        pytest.param("a\u2029b", id="paragraph-separator"),
        pytest.param("\u2028\u2029\u2028", id="several"),
        pytest.param({"k\u2028": ["\u2029"]}, id="in-keys-and-nested"),
    ],
)
def test_c92_jsonp_escapes_u2028_and_u2029(data: object) -> None:
    payload = encode_batch([{"channel": "/foo", "data": data}])
    body = encode_jsonp("cb", payload)
    assert "\u2028".encode() not in body
    assert "\u2029".encode() not in body
    assert body.startswith(b"/**/cb(")
    assert body.endswith(b");")
    assert orjson.loads(body[len(b"/**/cb(") : -len(b");")]) == [{"channel": "/foo", "data": data}]


def test_c92_jsonp_leaves_other_text_alone() -> None:
    payload = encode_batch([{"data": "caf\u00e9 \u2027 \u202a \\u2028"}])
    assert encode_jsonp("cb", payload) == b"/**/cb(" + payload + b");"


@pytest.mark.parametrize("as_text", [False, True], ids=["bytes", "text"])
@pytest.mark.parametrize(("depth", "accepted"), [(10, True), (253, True), (254, False), (1000, False)])
def test_s4_2_nesting_deeper_than_encodable_is_a_bad_request(depth: int, accepted: bool, as_text: bool) -> None:
    """orjson reads 1024 levels but writes 254: a body that could never be answered is refused up front."""
    body = '{"channel":"/a","data":' + "[" * depth + "]" * depth + "}"
    raw: bytes | str = body if as_text else body.encode()
    if accepted:
        assert decode_batch(raw, max_messages=5)[0]["channel"] == "/a"
    else:
        with pytest.raises(DecodeError, match="nested too deeply"):
            decode_batch(raw, max_messages=5)


def test_s4_2_many_brackets_that_are_not_deep_are_fine() -> None:
    body = '[{"channel":"/a","data":[' + "[]," * 300 + "[]]}]"
    assert len(decode_batch(body, max_messages=5)[0]["data"]) == 301
