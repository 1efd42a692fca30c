"""faye's error strings ``<code>:<args>:<message>`` (docs/protocol.md §3)."""

from __future__ import annotations

import pytest

from protocol import errors
from protocol.errors import ErrorCode


@pytest.mark.parametrize(
    ("member", "code"),
    [
        ("VERSION_MISMATCH", 300),
        ("CONNTYPE_MISMATCH", 301),
        ("EXT_MISMATCH", 302),
        ("BAD_REQUEST", 400),
        ("CLIENT_UNKNOWN", 401),
        ("PARAMETER_MISSING", 402),
        ("CHANNEL_FORBIDDEN", 403),
        ("CHANNEL_UNKNOWN", 404),
        ("CHANNEL_INVALID", 405),
        ("EXT_UNKNOWN", 406),
        ("PUBLISH_FAILED", 407),
        ("MESSAGE_TOO_LARGE", 413),
        ("SERVER_ERROR", 500),
    ],
)
def test_s3_error_code_table(member: str, code: int) -> None:
    assert ErrorCode[member] == code


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        pytest.param(
            errors.conntype_mismatch(["iframe", "flash"]),
            "301:iframe,flash:Connection types not supported",
            id="c7-301-list-joined",
        ),
        pytest.param(errors.conntype_mismatch([]), "301::Connection types not supported", id="c7-301-empty-list"),
        pytest.param(
            errors.conntype_mismatch("long-polling"),
            "301:long-polling:Connection types not supported",
            id="s1_4-301-string",
        ),
        pytest.param(errors.conntype_mismatch(None), "301::Connection types not supported", id="301-undefined"),
        pytest.param(
            errors.client_unknown("u38mqgjpv9xlp25dk8iipzovt224rdq"),
            "401:u38mqgjpv9xlp25dk8iipzovt224rdq:Unknown client",
            id="401-wire-example",
        ),
        pytest.param(errors.client_unknown(None), "401::Unknown client", id="401-undefined"),
        pytest.param(
            errors.parameter_missing("clientId"), "402:clientId:Missing required parameter", id="402-wire-example"
        ),
        pytest.param(errors.channel_forbidden("/service/x"), "403:/service/x:Forbidden channel", id="403-wire-example"),
        pytest.param(errors.channel_invalid("/foo/*"), "405:/foo/*:Invalid channel", id="405-wire-example"),
        pytest.param(errors.channel_invalid(None), "405::Invalid channel", id="405-undefined"),
        pytest.param(errors.channel_invalid(""), "405::Invalid channel", id="405-empty"),
        pytest.param(errors.channel_invalid(123), "405:123:Invalid channel", id="405-number"),
        pytest.param(errors.channel_invalid({"a": 1}), "405:[object Object]:Invalid channel", id="s2_4-405-object"),
        pytest.param(errors.bad_request(), "400::Bad request", id="400-default"),
        pytest.param(errors.bad_request("Bad request: too big"), "400::Bad request: too big", id="400-reason"),
        pytest.param(errors.subscription_limit("/x"), "403:/x:Too many subscriptions", id="limit-subscriptions"),
        pytest.param(errors.message_too_large("/x"), "413:/x:Message too large", id="limit-message-size"),
        pytest.param(errors.denied("/x/*", "Forbidden channel"), "403:/x/*:Forbidden channel", id="denied-subscribe"),
        pytest.param(errors.denied("", "Authentication required"), "403::Authentication required",
                     id="denied-handshake"),
        pytest.param(
            errors.format_error(ErrorCode.SERVER_ERROR, [], "Internal server error"),
            "500::Internal server error",
            id="format-no-args",
        ),
        pytest.param(
            errors.format_error(ErrorCode.PUBLISH_FAILED, ["/a", None, 2], "Failed to publish"),
            "407:/a,,2:Failed to publish",
            id="format-several-args",
        ),
    ],
)
def test_s3_error_strings_match_faye(error: str, expected: str) -> None:
    assert error == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, "", id="null-is-empty"),
        pytest.param(True, "true", id="true"),
        pytest.param(False, "false", id="false"),
        pytest.param("s", "s", id="string"),
        pytest.param("", "", id="empty-string"),
        pytest.param([], "", id="empty-array"),
        pytest.param(["iframe", "flash"], "iframe,flash", id="array"),
        pytest.param([1, [2, None], "a", True], "1,2,,a,true", id="nested-array"),
        pytest.param({}, "[object Object]", id="object"),
        pytest.param(7, "7", id="int"),
        pytest.param(-3, "-3", id="negative-int"),
        pytest.param(1.0, "1", id="integral-float"),
        pytest.param(-0.0, "0", id="negative-zero"),
        pytest.param(1.5, "1.5", id="float"),
    ],
)
def test_s3_args_are_rendered_like_javascript_string(value: object, expected: str) -> None:
    assert errors.js_string(value) == expected


@pytest.mark.parametrize(
    ("error", "parsed"),
    [
        pytest.param("401:abc:Unknown client", (401, ["abc"], "Unknown client"), id="401"),
        pytest.param(
            "301:iframe,flash:Connection types not supported",
            (301, ["iframe", "flash"], "Connection types not supported"),
            id="args-split-on-commas",
        ),
        pytest.param("402:a,:x", (402, ["a", ""], "x"), id="empty-trailing-arg"),
        pytest.param("405::Invalid channel", (405, [], "Invalid channel"), id="no-args"),
        pytest.param("403::Authentication required", (403, [], "Authentication required"), id="extension-error"),
        pytest.param("403:/foo/*:Forbidden channel", (403, ["/foo/*"], "Forbidden channel"), id="pattern-arg"),
        pytest.param("403:/a-_!~()$@ .:x", (403, ["/a-_!~()$@ ."], "x"), id="every-allowed-char"),
        pytest.param("401:a:b:c", (None, [], "401:a:b:c"), id="extra-colon"),
        pytest.param("405:/café:Invalid channel", (None, [], "405:/café:Invalid channel"), id="non-ascii"),
        pytest.param(
            "405:[object Object]:Invalid channel",
            (None, [], "405:[object Object]:Invalid channel"),
            id="brackets",
        ),
        pytest.param("40:x:y", (None, [], "40:x:y"), id="two-digit-code"),
        pytest.param("4011:x:y", (None, [], "4011:x:y"), id="four-digit-code"),
        pytest.param("\u0664\u0660\u0661:x:y", (None, [], "\u0664\u0660\u0661:x:y"), id="non-ascii-digits"),
        pytest.param("abc:x:y", (None, [], "abc:x:y"), id="letters-for-code"),
        pytest.param("401:x", (None, [], "401:x"), id="one-colon"),
        pytest.param("401:x:y\n", (None, [], "401:x:y\n"), id="trailing-newline"),
        pytest.param("Authentication required", (None, [], "Authentication required"), id="free-text"),
        pytest.param("", (None, [], ""), id="empty"),
        pytest.param(None, (None, [], ""), id="null"),
        pytest.param(42, (None, [], "42"), id="number"),
    ],
)
def test_s3_parse_error_follows_faye_error_grammar(error: object, parsed: tuple[object, ...]) -> None:
    assert errors.parse_error(error) == parsed


@pytest.mark.parametrize(
    "error",
    [
        errors.conntype_mismatch(["iframe", "flash"]),
        errors.client_unknown("u38mqgjpv9xlp25dk8iipzovt224rdq"),
        errors.parameter_missing("data"),
        errors.channel_forbidden("/meta/*"),
        errors.channel_invalid("/foo/**"),
        errors.bad_request(),
        errors.subscription_limit("/x"),
        errors.message_too_large("/x"),
        errors.denied("/x", "Token expired"),
    ],
)
def test_s3_server_errors_round_trip_through_parse(error: str) -> None:
    code, args, message = errors.parse_error(error)
    assert code is not None
    assert errors.format_error(ErrorCode(code), list(args), message) == error


@pytest.mark.parametrize(
    ("reply", "code", "params", "reason"),
    [
        ({"successful": False, "error": "403:/x,/y:Forbidden channel"}, 403, ["/x", "/y"], "Forbidden channel"),
        ({"successful": False, "error": "not faye's grammar: ü"}, None, [], "not faye's grammar: ü"),
        ({"successful": False}, None, [], ""),
    ],
)
def test_s3_bayeux_error_carries_the_parsed_error_and_the_reply(
        reply: dict[str, object], code: int | None, params: list[str], reason: str) -> None:
    error = errors.BayeuxError(reply)
    assert (error.code, error.params, error.reason, error.reply) == (code, params, reason, reply)
    assert error.error == str(reply.get("error", ""))
    assert str(error) == (error.error or "refused by the server")
