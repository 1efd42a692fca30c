"""faye's Bayeux error strings (``src/protocol/error.js``): ``<code>:<args>:<message>``.

Arguments are rendered as JavaScript's ``String()`` would, joined by commas, so that
``405::Invalid channel`` and ``301:iframe,flash:Connection types not supported`` match faye.
"""

from __future__ import annotations

import re
from enum import IntEnum
from typing import Any

__all__ = [
    "BayeuxError",
    "ErrorCode",
    "bad_request",
    "channel_forbidden",
    "channel_invalid",
    "client_unknown",
    "conntype_mismatch",
    "denied",
    "format_error",
    "js_string",
    "message_too_large",
    "parameter_missing",
    "parse_error",
    "server_error",
    "subscription_limit",
]


_ERROR_CHAR = r"[A-Za-z0-9\-_!~()$@ /*.]"
_ERROR = re.compile(rf"[0-9]{{3}}:(?:{_ERROR_CHAR}|,)*:{_ERROR_CHAR}*")
"""faye ``Grammar.ERROR``: segment characters plus space, ``/``, ``*`` and ``.``; args split by commas."""


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


def denied(channel: object, reason: str) -> str:
    """An authorizer refused: ``403:<channel>:<reason>`` (a handshake has no channel: ``403::<reason>``)."""
    return format_error(ErrorCode.CHANNEL_FORBIDDEN, [channel], reason)


def subscription_limit(channel: object) -> str:
    """Our limit on subscriptions per client (faye has none)."""
    return format_error(ErrorCode.CHANNEL_FORBIDDEN, [channel], "Too many subscriptions")


def message_too_large(channel: object) -> str:
    """Our limit on the size of a published message (faye has none)."""
    return format_error(ErrorCode.MESSAGE_TOO_LARGE, [channel], "Message too large")


def server_error(reason: str = "Internal server error") -> str:
    """Our error for a broker that cannot act now (its engine is unreachable); faye has none."""
    return format_error(ErrorCode.SERVER_ERROR, [], reason)


def parse_error(error: object) -> tuple[int | None, list[str], str]:
    """Split an error string into (code, args, message) like the faye client's ``Error.parse``.

    A string that does not match faye's ``Grammar.ERROR`` (for instance one whose args hold a
    ``:`` or non-ASCII characters) has code None, no args, and the whole string as message.
    """
    if isinstance(error, str) and _ERROR.fullmatch(error):
        code, args, message = error.split(":")
        return int(code), args.split(",") if args else [], message
    return None, [], js_string(error)


class BayeuxError(Exception):
    """A request was refused: the reply said ``successful: false``.

    The one Bayeux error class: the client package's exceptions for refused requests derive
    from it (``clients.errors``), and so do those the server-side client raises. ``error`` is the
    whole error string; ``code`` (e.g. 403, or None when the string does not follow faye's
    grammar), ``params`` and ``reason`` are its parts, as faye's ``Error.parse`` splits them;
    ``reply`` is the whole reply.
    """

    def __init__(self, reply: dict[str, Any]) -> None:
        self.reply = reply
        self.error = str(reply.get("error", ""))
        self.code, self.params, self.reason = parse_error(self.error)
        super().__init__(self.error or "refused by the server")
