"""Files the broker serves itself: the browser client at ``<mount>/client.js`` and the demo page.

faye's static server (``src/adapters/static_server.js``, docs/protocol.md §8) answers every
``.js``/``.map`` path under the mount by basename, with ``<mount>/client.js`` and
``/<mount-basename>.js`` as aliases of its browser bundle, a sha1 ``ETag``, ``Last-Modified``
and 304 on a match. We serve our own client (``clients/browser/client.js``) under those names
and under faye's bundle names, so a page's script tag works unchanged. The client is not
minified, so its source map (``<name>.js.map``, which browsers' developer tools ask for when
a page used faye's bundle) is the identity map: the client file is its own source. Other
``.map`` and ``.js`` names are 404. Unlike faye the ETag is quoted (RFC 9110) and ``Cache-Control:
no-cache`` makes browsers revalidate, so an upgraded broker never runs with a stale client.
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable

import orjson
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import Response

__all__ = [
    "CLIENT_NAMES",
    "StaticFile",
    "browser_client",
    "browser_client_map",
    "demo_asset",
    "demo_page",
    "serve_mount_file",
]

CLIENT_NAMES = frozenset({"client.js", "faye-browser-min.js", "faye-browser.js"})
"""Basenames under the mount that serve the browser client (faye's alias and its bundle names)."""
_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".map": "application/json; charset=utf-8",
}


@dataclass(frozen=True)
class StaticFile:
    """One file held in memory with its validators."""

    body: bytes
    content_type: str
    etag: str
    """sha1 hex of the body (faye's ETag), without quotes."""
    modified: datetime

    @classmethod
    def from_bytes(cls, body: bytes, content_type: str, modified: datetime) -> StaticFile:
        return cls(body, content_type, hashlib.sha1(body).hexdigest(), modified.replace(microsecond=0))

    @classmethod
    def load(cls, file: Traversable, suffix: str) -> StaticFile:
        modified = datetime.now(UTC)
        stat = getattr(file, "stat", None)  # a plain file on disk, the usual case
        if stat is not None:
            modified = datetime.fromtimestamp(stat().st_mtime, UTC)
        return cls.from_bytes(file.read_bytes(), _TYPES[suffix], modified)

    def not_modified(self, headers: Headers) -> bool:
        """faye: 304 when If-None-Match equals the ETag, or If-Modified-Since is not older than the file."""
        match = headers.get("if-none-match")
        if match is not None:
            tags = {tag.strip().removeprefix("W/").strip('"') for tag in match.split(",")}
            return self.etag in tags or "*" in tags
        since = headers.get("if-modified-since")
        if since:
            try:
                return parsedate_to_datetime(since) >= self.modified
            except (TypeError, ValueError):
                return False
        return False

    def response(self, headers: Headers) -> Response:
        validators = {
            "ETag": f'"{self.etag}"',
            "Last-Modified": format_datetime(self.modified, usegmt=True),
            "Cache-Control": "no-cache",
        }
        if self.not_modified(headers):
            return Response(status_code=304, headers=validators)
        return Response(self.body, headers={"Content-Type": self.content_type, **validators})


@cache
def browser_client() -> StaticFile:
    """``clients/browser/client.js``, shipped as package data of ``clients``."""
    return StaticFile.load(resources.files("clients").joinpath("browser", "client.js"), ".js")


@cache
def browser_client_map() -> StaticFile:
    """Source map v3 of the client: one source, the file itself, with no mappings to apply."""
    client = browser_client()
    body = orjson.dumps({"version": 3, "file": "client.js", "sources": ["client.js"], "names": [], "mappings": ""})
    return StaticFile.from_bytes(body, _TYPES[".map"], client.modified)


def serve_mount_file(request: Request, mount: str) -> Response:
    """A ``.js``/``.map`` path under the mount, or ``/<mount-basename>.js``: the client, its map, or 404."""
    name = request.url.path.rsplit("/", 1)[-1]
    if name in CLIENT_NAMES or (mount and request.url.path == f"{mount}.js"):
        return browser_client().response(request.headers)
    if name.endswith(".map") and name[: -len(".map")] in CLIENT_NAMES:
        return browser_client_map().response(request.headers)
    return Response(b"", status_code=404)


@cache
def _demo_file(name: str) -> StaticFile | None:
    file = resources.files("broker.static").joinpath("demo", name)
    suffix = "." + name.rsplit(".", 1)[-1]
    if suffix not in _TYPES or not file.is_file():
        return None
    return StaticFile.load(file, suffix)


def demo_asset(request: Request) -> Response:
    """``/demo/<name>``: the demo page's stylesheet and script."""
    file = _demo_file(str(request.path_params["name"]))
    if file is None or file.content_type.startswith("text/html"):
        return Response(b"", status_code=404)
    return file.response(request.headers)


@cache
def _demo_page(mount: str) -> StaticFile:
    page = _demo_file("index.html")
    assert page is not None
    # the page learns the mount from a data attribute, so it works with any --mount
    body = page.body.replace(b"{{MOUNT}}", html.escape(mount).encode())
    return StaticFile.from_bytes(body, page.content_type, page.modified)


def demo_page(mount: str) -> StaticFile:
    """The demo page at ``/`` for the broker mounted at ``mount``."""
    return _demo_page(mount)
