"""The OpenAPI 3.1 document of the REST API, served at ``/api/openapi.json``."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import orjson

from broker.resources.http import (
    CONDITIONAL_HEADER,
    DEFAULT_LIMIT,
    MAX_FILTERS,
    MAX_LIMIT,
    MAX_OFFSET,
    MAX_SORT_KEYS,
    RESERVED_PARAMETERS,
)
from broker.resources.problems import MEDIA_TYPE as PROBLEM
from broker.resources.problems import PROBLEM_TYPES
from broker.resources.validation import COLLECTION_NAME, OBJECT_ID
from broker.store.query import FIELD_NAME

__all__ = ["openapi_bytes", "openapi_document"]

_REF = "#/components"
_JSON = "application/json"


def _problem(description: str) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM: {"schema": {"$ref": f"{_REF}/schemas/Problem"}}}}


def _object_response(description: str, *, location: bool = False) -> dict[str, Any]:
    headers: dict[str, Any] = {"ETag": {"$ref": f"{_REF}/headers/ETag"}}
    if location:
        headers["Location"] = {"description": "The object's URL.", "schema": {"type": "string"}}
    return {"description": description, "headers": headers,
            "content": {_JSON: {"schema": {"$ref": f"{_REF}/schemas/Object"}}}}


def _errors(*statuses: int) -> dict[str, Any]:
    descriptions = {
        400: "Malformed JSON, an invalid object, name, id, query parameter or header.",
        401: "The access hook wants authentication.",
        403: "The access hook refuses.",
        404: "No such object.",
        405: "Method not allowed (see Allow).",
        409: "An object with this id exists (for an import: see index).",
        412: "If-Match or If-None-Match does not hold.",
        413: "The body or the object is too large.",
        415: "Wrong Content-Type.",
        503: "The store cannot be reached.",
    }
    return {str(status): _problem(descriptions[status]) for status in statuses}


def _sort_pattern() -> str:
    """What ``?sort=`` accepts (:func:`broker.resources.http.parse_list_query`), as a pattern."""
    key = f"(-|[+ ]*){FIELD_NAME.pattern}"
    return f"^{key}(,{key}){{0,{MAX_SORT_KEYS - 1}}}$"


def _header_parameter(name: str, description: str) -> dict[str, Any]:
    """An ``If-Match``-like header: ``*`` or a list of entity tags (RFC 9110 §13.1.1)."""
    pattern = f"^{CONDITIONAL_HEADER.pattern}$"
    return {"name": name, "in": "header", "required": False, "description": description,
            "schema": {"type": "string", "pattern": pattern}}


def _body(media_types: tuple[str, ...], schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {media_type: {"schema": schema} for media_type in media_types}}


@lru_cache(maxsize=8)
def openapi_document(*, prefix: str = "/api") -> dict[str, Any]:
    """The document for an API mounted at ``prefix`` (treat it as read-only: it is cached)."""
    collection = {"name": "collection", "in": "path", "required": True,
                  "schema": {"type": "string", "pattern": f"^{COLLECTION_NAME.pattern}$"}}
    object_id = {"name": "id", "in": "path", "required": True,
                 "schema": {"type": "string", "pattern": f"^{OBJECT_ID.pattern}$"}}
    if_match = _header_parameter("If-Match", "Write only if the object's ETag is one of these (or '*': exists).")
    if_none_match = _header_parameter("If-None-Match", "GET: 304 if the ETag matches. Write: '*' creates only.")
    object_ref = {"$ref": f"{_REF}/schemas/Object"}
    errors_common = (400, 401, 403, 405, 503)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "bayeux-broker REST resources",
            "version": "1",
            "description": "Collections of JSON objects; every committed change is published on the Bayeux "
                           "channels /resources/<collection> and /resources/<collection>/<id>.",
        },
        "paths": {
            f"{prefix}/{{collection}}": {
                "parameters": [collection],
                "get": {
                    "operationId": "listObjects",
                    "summary": "List objects, filtered by field equality (?field=value), sorted, paginated.",
                    "parameters": [
                        {"name": "limit", "in": "query", "required": False,
                         "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}},
                        {"name": "offset", "in": "query", "required": False,
                         "schema": {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0}},
                        {"name": "sort", "in": "query", "required": False,
                         "description": f"Up to {MAX_SORT_KEYS} comma-separated field names; '-' before a name "
                                        "sorts descending ('+', or a space, ascending).",
                         "schema": {"type": "string", "pattern": _sort_pattern()}},
                        {"name": "filters", "in": "query", "required": False, "style": "form", "explode": True,
                         "description": "Any other parameter filters: ?status=open keeps objects whose status "
                                        "is \"open\" (or whose value is the JSON scalar written).",
                         "schema": {"type": "object", "maxProperties": MAX_FILTERS,
                                    "propertyNames": {"pattern": f"^{FIELD_NAME.pattern}$",
                                                      "not": {"enum": sorted(RESERVED_PARAMETERS)}},
                                    "additionalProperties": {"type": "string"}}},
                    ],
                    "responses": {
                        "200": {
                            "description": "A page of objects.",
                            "headers": {
                                "X-Total-Count": {"description": "Objects matching the filters, over all pages.",
                                                  "schema": {"type": "integer"}},
                                "Link": {"description": "rel=\"next\": the next page.", "schema": {"type": "string"}},
                            },
                            "content": {_JSON: {"schema": {"$ref": f"{_REF}/schemas/Page"}}},
                        },
                        **_errors(*errors_common),
                    },
                },
                "post": {
                    "operationId": "createObjects",
                    "summary": "Create one object, or import an array of objects all or nothing.",
                    "requestBody": _body((_JSON,), {"oneOf": [object_ref, {"type": "array", "items": object_ref}]}),
                    "responses": {
                        "201": {
                            "description": "Created: the object (with Location and ETag), or the imported objects.",
                            "headers": {
                                "ETag": {"$ref": f"{_REF}/headers/ETag"},
                                "Location": {"description": "The object's URL (one object).",
                                             "schema": {"type": "string"}},
                            },
                            "content": {_JSON: {"schema": {"oneOf": [object_ref,
                                                                     {"type": "array", "items": object_ref}]}}},
                        },
                        **_errors(*errors_common, 409, 413, 415),
                    },
                },
            },
            f"{prefix}/{{collection}}/{{id}}": {
                "parameters": [collection, object_id],
                "get": {
                    "operationId": "getObject",
                    "parameters": [if_match, if_none_match],
                    "responses": {
                        "200": _object_response("The object."),
                        "304": {"description": "Not modified (If-None-Match).",
                                "headers": {"ETag": {"$ref": f"{_REF}/headers/ETag"}}},
                        **_errors(*errors_common, 404, 412),
                    },
                },
                "put": {
                    "operationId": "putObject",
                    "summary": "Create (201) or replace (200) the object.",
                    "description": "The body's id, when it has one, must be the URL's id (else 400).",
                    "parameters": [if_match, if_none_match],
                    "requestBody": _body((_JSON,), object_ref),
                    "responses": {
                        "200": _object_response("Replaced."),
                        "201": _object_response("Created.", location=True),
                        **_errors(*errors_common, 412, 413, 415),
                    },
                },
                "patch": {
                    "operationId": "patchObject",
                    "summary": "Apply a JSON merge patch (RFC 7396).",
                    "parameters": [if_match, if_none_match],
                    "requestBody": _body(("application/merge-patch+json", _JSON), {"type": "object"}),
                    "responses": {
                        "200": _object_response("Patched."),
                        **_errors(*errors_common, 404, 412, 413, 415),
                    },
                },
                "delete": {
                    "operationId": "deleteObject",
                    "parameters": [if_match, if_none_match],
                    "responses": {
                        "204": {"description": "Deleted."},
                        **_errors(*errors_common, 404, 412),
                    },
                },
            },
            f"{prefix}/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "responses": {"200": {"description": "This document.", "content": {_JSON: {"schema": {}}}}},
                },
            },
        },
        "components": {
            "headers": {
                "ETag": {"description": "The object's version in quotes, e.g. \"42\".", "schema": {"type": "string"}},
            },
            "schemas": {
                "Object": {
                    "type": "object",
                    "properties": {"id": {"type": "string", "pattern": f"^{OBJECT_ID.pattern}$"}},
                    "additionalProperties": True,
                },
                "Page": {
                    "type": "object",
                    "required": ["items", "total", "limit", "offset", "next"],
                    "properties": {
                        "items": {"type": "array", "items": object_ref},
                        "total": {"type": "integer", "minimum": 0},
                        "limit": {"type": "integer"},
                        "offset": {"type": "integer"},
                        "next": {"type": ["string", "null"]},
                    },
                },
                "Problem": {
                    "type": "object",
                    "required": ["type", "title", "status", "detail"],
                    "properties": {
                        "type": {"type": "string", "enum": [f"urn:bayeux-broker:problem:{slug}"
                                                            for slug in PROBLEM_TYPES]},
                        "title": {"type": "string"},
                        "status": {"type": "integer"},
                        "detail": {"type": "string"},
                        "instance": {"type": "string"},
                        "index": {"type": "integer", "description": "The offending item of an import."},
                    },
                },
            },
        },
    }


@lru_cache(maxsize=8)
def openapi_bytes(*, prefix: str = "/api") -> bytes:
    return orjson.dumps(openapi_document(prefix=prefix))
