"""Client ids as faye makes them (``src/util/random.js``): 160 CSPRNG bits, base 36, 31 chars."""

from __future__ import annotations

import secrets

__all__ = ["ID_LENGTH", "generate_client_id"]

ID_LENGTH = 31
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def generate_client_id() -> str:
    value = secrets.randbits(160)
    chars = []
    while value:
        value, digit = divmod(value, 36)
        chars.append(_DIGITS[digit])
    return "".join(reversed(chars)).rjust(ID_LENGTH, "0")
