"""The route that hands every request under a prefix to one app: the Bayeux mount, the REST API.

Starlette's ``{rest:path}`` converter is the regular expression ``.*``, which stops at a
newline: a request for ``/api/a%0Ab`` or ``/faye/a%0Ab`` would fall through to the router's
plain-text 404 instead of the API's problem details or Bayeux. This route matches by prefix,
whatever the path holds, and leaves the parsing of the rest to the app.
"""

from __future__ import annotations

from typing import Any

from starlette.datastructures import URLPath
from starlette.routing import BaseRoute, Match, NoMatchFound
from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["PrefixRoute"]


class PrefixRoute(BaseRoute):
    """HTTP requests for ``prefix`` or any path below it (relative to the ``root_path`` of a mount)."""

    def __init__(self, prefix: str, app: ASGIApp) -> None:
        if not prefix.startswith("/") or prefix.endswith("/"):
            raise ValueError("the prefix starts with '/' and does not end with one, e.g. '/api'")
        self.prefix = prefix
        self.app = app

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http":
            return Match.NONE, {}
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        if root and path.startswith(root + "/"):
            path = path[len(root):]
        if path == self.prefix or path.startswith(self.prefix + "/"):
            return Match.FULL, {}
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)
