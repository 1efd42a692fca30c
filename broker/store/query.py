"""Filtering and sorting rules shared by every store (the SQLite store implements them in SQL).

**Equality filter** ``field=value`` (the value as written in the URL) matches an object when
the field is present and

- is a string equal to ``value``; or
- is a number, ``true``, ``false`` or ``null`` equal to ``value`` read as JSON
  (``?done=false`` matches ``false``; ``?n=3`` matches ``3`` and ``3.0``; ``?n=3`` never
  matches the string ``"3"`` and the other way round only ``?n=3`` with ``"3"`` stored matches).

Arrays and objects never match; a missing field never matches.

**Sort order** of one field's values: missing < ``null`` < ``false`` < ``true`` < numbers
(by value) < strings (by Unicode code point) < arrays < objects; arrays among themselves and
objects among themselves are equal. Descending reverses the whole order. Objects equal on
every sort key keep their creation order (oldest first), whatever the direction.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import orjson

from broker.store.base import Page, Query, Record, SortKey

__all__ = ["FIELD_NAME", "json_scalar", "matches", "select", "sort_records", "sort_value"]

T = TypeVar("T")

FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
"""Field names usable in filters and sorts (top-level fields only)."""

_NOT_SCALAR = object()
_RANK_MISSING, _RANK_NULL, _RANK_FALSE, _RANK_TRUE, _RANK_NUMBER, _RANK_STRING, _RANK_ARRAY, _RANK_OBJECT = range(8)


def json_scalar(value: str) -> object:
    """``value`` read as a JSON number, boolean or null; a private sentinel for anything else."""
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        return _NOT_SCALAR
    if parsed is None or isinstance(parsed, bool | int | float):
        return parsed
    return _NOT_SCALAR


def is_scalar(parsed: object) -> bool:
    return parsed is not _NOT_SCALAR


def matches(data: dict[str, Any], filters: Iterable[tuple[str, str]]) -> bool:
    """True when ``data`` passes every equality filter (rules in the module docstring)."""
    for name, raw in filters:
        if name not in data:
            return False
        value = data[name]
        if isinstance(value, str):
            if value != raw:
                return False
            continue
        parsed = json_scalar(raw)
        if value is None or isinstance(value, bool):
            if parsed is not value:
                return False
        elif isinstance(value, int | float):
            if isinstance(parsed, bool) or not isinstance(parsed, int | float) or parsed != value:
                return False
        else:
            return False
    return True


def sort_value(data: dict[str, Any], name: str) -> tuple[int, Any]:
    """The sort key of one field: ``(rank, comparable value)``; values compare only within a rank."""
    if name not in data:
        return (_RANK_MISSING, 0)
    value = data[name]
    if value is None:
        return (_RANK_NULL, 0)
    if value is True:
        return (_RANK_TRUE, 0)
    if value is False:
        return (_RANK_FALSE, 0)
    if isinstance(value, int | float):
        return (_RANK_NUMBER, value)
    if isinstance(value, str):
        return (_RANK_STRING, value)
    if isinstance(value, list):
        return (_RANK_ARRAY, 0)
    return (_RANK_OBJECT, 0)


def sort_records(items: Sequence[T], sort: Sequence[SortKey], data_of: Callable[[T], dict[str, Any]]) -> list[T]:
    """``items`` (in creation order) sorted by ``sort``; ties keep creation order."""
    ordered = list(items)
    # Python's sort is stable (also with reverse=True), so sorting by the last key first
    # leaves each earlier key deciding, and creation order breaking the remaining ties.
    for key in reversed(sort):
        ordered.sort(key=lambda item: sort_value(data_of(item), key.field), reverse=key.descending)
    return ordered


def select(records: Iterable[Record], query: Query) -> Page:
    """Apply ``query`` to records given in creation order (the in-memory and Redis stores)."""
    found = [record for record in records if matches(record.data, query.filters)] if query.filters else list(records)
    if query.sort:
        found = sort_records(found, query.sort, lambda record: record.data)
    return Page(items=found[query.offset : query.offset + query.limit], total=len(found))
