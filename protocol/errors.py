"""faye's Bayeux error strings (``src/protocol/error.js``): ``<code>:<args>:<message>``.

Arguments are rendered as JavaScript's ``String()`` would, joined by commas, so that
``405::Invalid channel`` and ``301:iframe,flash:Connection types not supported`` match faye.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "ErrorCode",
    "bad_request",
    "channel_forbidden",
    "channel_invalid",
    "client_unknown",
    "conntype_mismatch",
    "format_error",
    "js_string",
    "message_too_large",
    "parameter_missing",
    "parse_error",
    "subscription_limit",
]


class ErrorCode(IntEnum):
    """Codes from faye's table (the old CometD BayeuxCodes list)."""

    VERSION_MISMATCH = 300
    CONNTYPE_MISMATCH = 301
    EXT_MISMATCH = 302
    BAD_REQUEST = 400
    CLIENT_UNKNOWN = 401
    PARAMETER_MISSING = 402
    CHANNEL_FORBIDDEN = 403
    CHANNEL_UNKNOWN = 404
    CHANNEL_INVALID = 405
    EXT_UNKNOWN = 406
    PUBLISH_FAILED = 407
    MESSAGE_TOO_LARGE = 413
    SERVER_ERROR = 500


def js_string(value: object) -> str:
    """Render a JSON value the way JavaScript's ``Array.prototype.join`` does."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ",".join(js_string(item) for item in value)
    if isinstance(value, dict):
        return "[object Object]"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def format_error(code: ErrorCode, args: list[object], message: str) -> str:
    """``<code>:<args joined by ",">:<message>``."""
    return f"{int(code)}:{','.join(js_string(a) for a in args)}:{message}"


def conntype_mismatch(types: object) -> str:
    return format_error(ErrorCode.CONNTYPE_MISMATCH, [types], "Connection types not supported")


def bad_request(reason: str = "Bad request") -> str:
    return format_error(ErrorCode.BAD_REQUEST, [], reason)


def client_unknown(client_id: object) -> str:
    return format_error(ErrorCode.CLIENT_UNKNOWN, [client_id], "Unknown client")


def parameter_missing(name: str) -> str:
    return format_error(ErrorCode.PARAMETER_MISSING, [name], "Missing required parameter")


def channel_forbidden(channel: object) -> str:
    return format_error(ErrorCode.CHANNEL_FORBIDDEN, [channel], "Forbidden channel")


def channel_invalid(channel: object) -> str:
    return format_error(ErrorCode.CHANNEL_INVALID, [channel], "Invalid channel")


def subscription_limit(channel: object) -> str:
    """Our limit on subscriptions per client (faye has none)."""
    return format_error(ErrorCode.CHANNEL_FORBIDDEN, [channel], "Too many subscriptions")


def message_too_large(channel: object) -> str:
    """Our limit on the size of a published message (faye has none)."""
    return format_error(ErrorCode.MESSAGE_TOO_LARGE, [channel], "Message too large")


def parse_error(error: object) -> tuple[int | None, list[str], str]:
    """Split an error string into (code, args, message); a non-conforming string has code None."""
    if isinstance(error, str):
        parts = error.split(":", 2)
        if len(parts) == 3 and len(parts[0]) == 3 and parts[0].isdigit():
            args = parts[1].split(",") if parts[1] else []
            return int(parts[0]), args, parts[2]
    return None, [], js_string(error)
