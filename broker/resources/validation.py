"""What a collection name, an id and an object may be, and JSON merge patch (RFC 7396).

- A collection name is 1-64 of ``A-Z a-z 0-9 _ -``, starting with a letter or digit.
- An id is 1-128 characters of a Bayeux channel segment (``A-Z a-z 0-9 - _ ! ~ ( ) $ @``),
  so that every object has a valid change channel ``/resources/<collection>/<id>``.
- An object is a JSON object whose ``id``, when present, is a valid id; it nests at most
  :data:`MAX_DEPTH` levels, and its JSON is at most ``max_object_bytes`` long (so that its
  change event fits in one Bayeux message).
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from broker.resources.problems import Problem

__all__ = [
    "COLLECTION_NAME",
    "MAX_DEPTH",
    "OBJECT_ID",
    "check_collection",
    "check_id",
    "check_object",
    "merge_patch",
    "parse_json",
]

COLLECTION_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
OBJECT_ID = re.compile(r"[A-Za-z0-9\-_!~()$@]{1,128}")
MAX_DEPTH = 64
"""Most levels of nesting in an object (the object itself is level 1)."""


def check_collection(name: str) -> str:
    if COLLECTION_NAME.fullmatch(name) is None:
        raise Problem("invalid-name", f"invalid collection name {_shown(name)}: use 1-64 letters, digits, '_' or '-', "
                                      "starting with a letter or digit")
    return name


def check_id(object_id: object, *, where: str = "id") -> str:
    if not isinstance(object_id, str):
        raise Problem("invalid-object", f"{where} must be a string, not {_json_type(object_id)}")
    if OBJECT_ID.fullmatch(object_id) is None:
        raise Problem("invalid-name", f"invalid {where} {_shown(object_id)}: use 1-128 letters, digits or "
                                      "- _ ! ~ ( ) $ @")
    return object_id


def parse_json(body: bytes) -> Any:
    """The body as JSON; malformed JSON (or not UTF-8) is a 400 ``invalid-json`` problem."""
    if not body.strip():
        raise Problem("invalid-json", "the request body is empty; send a JSON document")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Problem("invalid-json", f"the request body is not valid JSON: {exc}") from None


def depth(value: Any) -> int:
    """Levels of nesting of a JSON value (a scalar is 0, ``{}`` is 1), without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return deepest


def check_object(value: Any, *, max_bytes: int, where: str = "the body") -> dict[str, Any]:
    """``value`` if it is an acceptable object (rules in the module docstring), else a problem."""
    if not isinstance(value, dict):
        raise Problem("invalid-object", f"{where} must be a JSON object, not {_json_type(value)}")
    if "id" in value:
        check_id(value["id"], where=f"{where}'s id" if where != "the body" else "id")
    if depth(value) > MAX_DEPTH:
        raise Problem("invalid-object", f"{where} nests deeper than {MAX_DEPTH} levels")
    size = len(orjson.dumps(value))
    if size > max_bytes:
        raise Problem("too-large", f"{where} is {size} bytes of JSON; an object may be at most {max_bytes}")
    return value


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 §2: apply a JSON merge patch (``null`` removes a member; objects merge recursively)."""
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            result.pop(name, None)
        else:
            result[name] = merge_patch(result.get(name), value)
    return result


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _shown(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")
