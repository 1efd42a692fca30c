"""The REST API: collections of JSON objects under ``/api/<collection>`` (docs/resources.md).

Dispatch for every request: route (404) → method (405, with ``Allow``) → access hook
(401/403) → name checks (400) → media type (415) → body size (413) → JSON (400) → store.
Every error is an RFC 9457 problem; an unexpected exception is logged and answered with a
500 problem, and the server goes on serving everyone else.

Writes run as a task of their own (shielded), holding the object from the write until its
change is published, so a client that goes away mid-request can neither lose the change
event of a stored write nor reorder it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from broker.once import Once
from broker.resources.access import AccessHook, AccessRequest, check_access
from broker.resources.changes import ChangeFeed
from broker.resources.http import (
    Preconditions,
    check_media_type,
    etag,
    parse_list_query,
    preconditions,
    read_body,
)
from broker.resources.openapi import openapi_bytes
from broker.resources.problems import Problem, instance_of
from broker.resources.validation import (
    MAX_DEPTH,
    check_collection,
    check_id,
    check_object,
    depth,
    merge_patch,
    parse_json,
)
from broker.store import (
    AlreadyExists,
    Change,
    Condition,
    NotFound,
    PreconditionFailed,
    Record,
    Store,
    StoreUnavailable,
)
from broker.store.base import StoreStatistics, new_id

if TYPE_CHECKING:
    from broker.server import Broker

__all__ = ["ResourceAPI", "ResourceStatistics"]

log = logging.getLogger(__name__)

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"
EVENT_OVERHEAD = 1024
"""Bytes kept free in a Bayeux message for the change event around an object (channel, ids...)."""

_COLLECTION_METHODS = ("GET", "HEAD", "POST", "OPTIONS")
_OBJECT_METHODS = ("GET", "HEAD", "PUT", "PATCH", "DELETE", "OPTIONS")
_DOCUMENT_METHODS = ("GET", "HEAD", "OPTIONS")
_PATCH_ATTEMPTS = 8


@dataclass(frozen=True)
class _Target:
    kind: str  # "document", "collection" or "object"
    collection: str = ""
    id: str | None = None

    @property
    def methods(self) -> tuple[str, ...]:
        return {"document": _DOCUMENT_METHODS, "collection": _COLLECTION_METHODS}.get(self.kind, _OBJECT_METHODS)


def _json(body: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type=JSON, headers=headers)


def _consume(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so a failure after the caller left is not reported twice


@dataclass(frozen=True, slots=True, kw_only=True)
class ResourceStatistics:
    """The REST resources of this process: their store's statistics and the change events."""

    store: StoreStatistics
    changes_published: int
    """Change events published (two per committed change)."""
    changes_failed: int
    """Change events not published (refused or engine unavailable); their writes stay committed."""


class ResourceAPI:
    """ASGI app for ``<prefix>`` and everything under it (``create_app`` mounts it at ``/api``)."""

    def __init__(
        self,
        broker: Broker,
        store: Store,
        *,
        access: AccessHook | None = None,
        prefix: str = "/api",
        max_import_items: int = 1000,
    ) -> None:
        self.broker = broker
        self.store = store
        self.access = access
        self.prefix = prefix.rstrip("/")
        self.max_import_items = max_import_items
        self.max_body_bytes = broker.settings.max_body_bytes
        self.max_object_bytes = max(1, broker.settings.max_message_bytes - EVENT_OVERHEAD)
        self.changes = ChangeFeed(broker)
        self._start = Once(self.store.start)

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Start the store; safe to call more than once (a mounted app starts lazily)."""
        await self._start()

    async def close(self) -> None:
        if self._start.done:
            self._start.reset()
            await self.store.close()

    def statistics(self) -> ResourceStatistics:
        return ResourceStatistics(store=self.store.statistics(), changes_published=self.changes.published,
                                  changes_failed=self.changes.failed)

    # -- dispatch ----------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        instance = instance_of(scope["path"])
        try:
            response = await self._dispatch(request)
        except Problem as problem:
            response = problem.response(instance)
        except StoreUnavailable as exc:
            log.warning("store unavailable for %s %s: %s", request.method, instance, exc)
            response = Problem("unavailable", "the store cannot be reached; try again shortly",
                               headers={"Retry-After": "1"}).response(instance)
        except Exception:
            log.exception("REST API failed on %s %s", request.method, instance)
            response = Problem("internal", "the server failed to handle this request").response(instance)
        await response(scope, receive, send)

    def _route(self, request: Request) -> _Target:
        root = request.scope.get("root_path", "")
        path: str = request.scope["path"]
        if root and path.startswith(root):
            path = path[len(root):]
        rest = path[len(self.prefix):] if path.startswith(self.prefix + "/") else ""
        parts = rest.split("/")[1:]
        if parts == ["openapi.json"]:
            return _Target("document")
        if len(parts) == 1 and parts[0]:
            return _Target("collection", parts[0])
        if len(parts) == 2 and parts[0] and parts[1]:
            return _Target("object", parts[0], parts[1])
        raise Problem("not-found", f"nothing here: resources are at {self.prefix}/<collection>[/<id>]")

    async def _dispatch(self, request: Request) -> Response:
        target = self._route(request)
        method = request.method
        allowed = target.methods
        if method not in allowed:
            raise Problem("method-not-allowed", f"{method[:20]} is not allowed here; use {', '.join(allowed)}",
                          headers={"Allow": ", ".join(allowed)})
        if method == "OPTIONS":
            return Response(status_code=204, headers={"Allow": ", ".join(allowed)})
        if target.kind == "document":
            return Response(openapi_bytes(prefix=self._base(request)), media_type=JSON)
        client = request.client
        await check_access(self.access, AccessRequest(method=method, collection=target.collection, id=target.id,
                                                      headers=request.headers, client=client.host if client else None))
        collection = check_collection(target.collection)
        await self.start()
        if target.id is None:
            if method == "POST":
                return await self.create(request, collection)
            return await self.list_objects(request, collection)
        object_id = check_id(target.id)
        handler: Callable[[Request, str, str], Awaitable[Response]] = {
            "GET": self.read, "HEAD": self.read, "PUT": self.replace, "PATCH": self.patch, "DELETE": self.delete,
        }[method]
        return await handler(request, collection, object_id)

    # -- reads -------------------------------------------------------------------------

    async def list_objects(self, request: Request, collection: str) -> Response:
        """``GET /api/<collection>``: a page of objects, with ``total`` and a ``next`` link."""
        query = parse_list_query(request.query_params)
        page = await self.store.find(collection, query)
        following = query.offset + len(page.items)
        next_link = None
        if page.items and following < page.total:
            params = {key: value for key, value in request.query_params.items() if key != "offset"}
            next_link = f"{self._base(request)}/{collection}?" + urlencode(
                {**params, "offset": following})
        headers = {"X-Total-Count": str(page.total), "Cache-Control": "no-cache"}
        if next_link:
            headers["Link"] = f'<{next_link}>; rel="next"'
        body = {"items": [record.data for record in page.items], "total": page.total,
                "limit": query.limit, "offset": query.offset, "next": next_link}
        return _json(body, headers=headers)

    async def read(self, request: Request, collection: str, object_id: str) -> Response:
        """``GET /api/<collection>/<id>``: the object and its ``ETag``; 304 or 412 on preconditions."""
        conditions = preconditions(request.headers)
        record = await self.store.get(collection, object_id)
        version = None if record is None else record.version
        if not conditions.if_match.holds(version):
            raise Problem("precondition-failed", "If-Match does not match the current version")
        if record is None:
            raise self._not_found(collection, object_id)
        headers = {"ETag": etag(record.version), "Cache-Control": "no-cache"}
        if not conditions.if_none_match.holds(version):
            return Response(status_code=304, headers=headers)
        return _json(record.data, headers=headers)

    # -- writes ------------------------------------------------------------------------

    async def create(self, request: Request, collection: str) -> Response:
        """``POST``: one object (201 + ``Location``), or an array of them imported all or nothing."""
        value = await self._json_body(request, (JSON,))
        if isinstance(value, list):
            return await self._import(collection, value)
        data = check_object(value, max_bytes=self.max_object_bytes)
        data.setdefault("id", new_id())
        data = {"id": data.pop("id"), **data}
        try:
            [change] = await self._commit(collection, [data["id"]], lambda: self.store.create(collection, [data]))
        except AlreadyExists as exc:
            raise Problem("already-exists", f"{collection}/{exc.id} exists; PUT replaces it") from None
        return self._written(request, change, status=201)

    async def _import(self, collection: str, items: list[Any]) -> Response:
        if len(items) > self.max_import_items:
            raise Problem("too-large", f"an import takes at most {self.max_import_items} objects; got {len(items)}")
        objects: list[dict[str, Any]] = []
        for index, item in enumerate(items):
            try:
                data = check_object(item, max_bytes=self.max_object_bytes, where=f"item {index}")
            except Problem as problem:
                raise Problem(problem.slug, problem.detail, index=index) from None
            data.setdefault("id", new_id())
            objects.append({"id": data.pop("id"), **data})
        try:
            changes = await self._commit(collection, [item["id"] for item in objects],
                                         lambda: self.store.create(collection, objects))
        except AlreadyExists as exc:
            raise Problem("already-exists", f"item {exc.index}: {collection}/{exc.id} exists or repeats; "
                                            "nothing was imported", index=exc.index) from None
        return _json([change.record.data for change in changes], status=201,
                     headers={"X-Total-Count": str(len(changes))})

    async def replace(self, request: Request, collection: str, object_id: str) -> Response:
        """``PUT``: create (201) or replace (200) the object, if the preconditions hold (else 412)."""
        conditions = preconditions(request.headers)
        value = await self._json_body(request, (JSON,))
        data = check_object(value, max_bytes=self.max_object_bytes)
        if data.get("id", object_id) != object_id:
            raise Problem("invalid-object", f"the body's id {data['id']!r} is not the URL's id {object_id!r}")
        data = {"id": object_id, **{key: item for key, item in data.items() if key != "id"}}

        async def write() -> list[Change]:
            return [await self.store.put(collection, object_id, data, condition=conditions.write)]

        try:
            [change] = await self._commit(collection, [object_id], write)
        except PreconditionFailed as exc:
            raise self._stale(exc) from None
        return self._written(request, change, status=201 if change.action == "created" else 200)

    async def patch(self, request: Request, collection: str, object_id: str) -> Response:
        """``PATCH``: apply a JSON merge patch (RFC 7396) to the object, if the preconditions hold."""
        conditions = preconditions(request.headers)
        patch = await self._json_body(request, (MERGE_PATCH, JSON))
        if not isinstance(patch, dict):
            raise Problem("invalid-object", "a merge patch for an object must be a JSON object")
        if depth(patch) > MAX_DEPTH:
            raise Problem("invalid-object", f"the patch nests deeper than {MAX_DEPTH} levels")
        if "id" in patch and patch["id"] != object_id:
            raise Problem("invalid-object", "a patch cannot change or remove the id")

        async def write() -> list[Change]:
            for _ in range(_PATCH_ATTEMPTS):
                current = await self._patch_target(collection, object_id, conditions)
                data = check_object(merge_patch(current.data, patch), max_bytes=self.max_object_bytes,
                                    where="the patched object")
                try:
                    return [await self.store.put(collection, object_id, data,
                                                 condition=Condition(match=frozenset({current.version})))]
                except PreconditionFailed:
                    if conditions.given:
                        raise
                    # another broker wrote in between: merge into its version instead
            raise StoreUnavailable("the object kept changing during the patch")

        try:
            [change] = await self._commit(collection, [object_id], write)
        except PreconditionFailed as exc:
            raise self._stale(exc) from None
        return self._written(request, change, status=200)

    async def _patch_target(self, collection: str, object_id: str, conditions: Preconditions) -> Record:
        current = await self.store.get(collection, object_id)
        version = None if current is None else current.version
        if conditions.given and not conditions.write.holds(version):
            raise PreconditionFailed(version)
        if current is None:
            raise self._not_found(collection, object_id)
        return current

    async def delete(self, request: Request, collection: str, object_id: str) -> Response:
        """``DELETE``: 204, or 404 when absent, or 412 when the preconditions fail."""
        conditions = preconditions(request.headers)

        async def write() -> list[Change]:
            return [await self.store.delete(collection, object_id, condition=conditions.write)]

        try:
            await self._commit(collection, [object_id], write)
        except PreconditionFailed as exc:
            raise self._stale(exc) from None
        except NotFound:
            raise self._not_found(collection, object_id) from None
        return Response(status_code=204)

    # -- helpers -----------------------------------------------------------------------

    async def _commit(self, collection: str, object_ids: list[str],
                      write: Callable[[], Awaitable[list[Change]]]) -> list[Change]:
        """Write and publish, in a task that finishes even if the request is cancelled."""

        async def run() -> list[Change]:
            async with self.store.ordered(collection, object_ids):
                changes = await write()
                for change in changes:
                    await self.changes.publish(change)
                return changes

        task = asyncio.ensure_future(run())
        task.add_done_callback(_consume)
        return await asyncio.shield(task)

    async def _json_body(self, request: Request, media_types: tuple[str, ...]) -> Any:
        check_media_type(request.headers, media_types)
        return parse_json(await read_body(request, limit=self.max_body_bytes))

    def _base(self, request: Request) -> str:
        """The API's path as the client sees it (with the root path of an enclosing mount)."""
        return str(request.scope.get("root_path", "")) + self.prefix

    def _written(self, request: Request, change: Change, *, status: int) -> Response:
        record = change.record
        headers = {"ETag": etag(record.version)}
        if status == 201:
            headers["Location"] = f"{self._base(request)}/{record.collection}/{record.id}"
        return _json(record.data, status=status, headers=headers)

    @staticmethod
    def _not_found(collection: str, object_id: str) -> Problem:
        return Problem("not-found", f"{collection}/{object_id} does not exist")

    @staticmethod
    def _stale(exc: PreconditionFailed) -> Problem:
        if exc.current is None:
            return Problem("precondition-failed", "the object does not exist, so the precondition fails")
        return Problem("precondition-failed", "the object has changed: its version no longer matches; "
                                              "GET it again and retry with the new ETag")
