"""HTTP transports on the mount (faye ``node_adapter.js``, docs/protocol.md §4.1-§4.4, §4.6).

Dispatch order inside the mount, as faye does it: ``.js``/``.map`` paths are static files;
``OPTIONS`` or a request carrying ``Access-Control-Request-Method`` is a CORS preflight;
``GET`` accepting ``text/event-stream`` is an EventSource; other ``GET`` is callback-polling
(JSONP); ``POST`` is long-polling (JSON body, or form/text body with ``message=``); any other
method is a 400.
"""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from broker.errors import BodyTooLarge
from broker.extensions import Context
from broker.http_io import on_disconnect, read_body
from broker.request_state import RequestState
from broker.server import Broker, Outgoing
from broker.static import serve_mount_file
from broker.transports.eventsource import serve_eventsource
from broker.transports.responses import BayeuxReply, error_response, preflight_response
from protocol import channels
from protocol.connection_types import ConnectionType
from protocol.messages import JSONP_CALLBACK, DecodeError, decode_batch, encode_jsonp, is_valid_jsonp_callback

__all__ = ["BayeuxHTTP"]

_JSONP_HEADERS = ((b"content-disposition", b"attachment; filename=f.txt"),)
_LONG_POLLING = ConnectionType.LONG_POLLING  # read per request: a module constant is cheaper than the enum lookup


class BayeuxHTTP:
    """ASGI app for every HTTP request under the mount."""

    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.settings = broker.settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        response = await self._dispatch(request, scope, receive, send)
        if response is not None:
            await response(scope, receive, send)

    async def _dispatch(
        self, request: Request, scope: Scope, receive: Receive, send: Send
    ) -> Response | BayeuxReply | None:
        path: str = scope["path"]
        method: str = scope["method"]
        headers = request.headers
        if path.endswith(".js") or path.endswith(".map"):
            return await self.static(request)
        if method == "OPTIONS" or "access-control-request-method" in headers:
            return preflight_response(headers)
        if method == "GET" and "text/event-stream" in headers.get("accept", ""):
            await serve_eventsource(self.broker, request, scope, receive, send)
            return None
        if method == "GET":
            return await self.callback_polling(request, receive)
        if method == "POST":
            return await self.long_polling(request, receive)
        return error_response(400, "Bad request: unsupported method")

    async def static(self, request: Request) -> Response:
        """``.js``/``.map`` under the mount (faye ``static_server.js``): our browser client, else 404."""
        return serve_mount_file(request, self.settings.mount_path)

    def _context(self, request: Request, transport: ConnectionType) -> Context:
        client = request.scope.get("client")
        return Context(
            transport=transport,
            headers=request.headers,
            url=str(request.url),
            client_host=client[0] if client else None,
        )

    async def long_polling(self, request: Request, receive: Receive) -> Response | BayeuxReply:
        """``long-polling`` and ``cross-origin-long-polling``: POST, JSON or ``message=`` body."""
        try:
            body = await read_body(receive, request.headers, limit=self.settings.max_body_bytes)
        except BodyTooLarge as exc:
            return error_response(413, str(exc))
        media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media_type == "application/json":
            raw: bytes | str = body
        else:
            try:
                form = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
            except UnicodeDecodeError:
                return error_response(400, "Bad request: body is not UTF-8")
            values = [value for key, value in form if key == "message"]
            if not values:
                return error_response(400, "Bad request: no message parameter")
            raw = values[0]
        context = self._context(request, _LONG_POLLING)
        replies = await self._process(raw, context, receive)
        if isinstance(replies, Response):
            return replies
        payload = await self.broker.encode(replies, context)
        return BayeuxReply(payload, request.headers, b"application/json; charset=utf-8")

    async def callback_polling(self, request: Request, receive: Receive) -> Response | BayeuxReply:
        """``callback-polling`` (JSONP): ``GET ?message=...&jsonp=cb``, body ``/**/cb([...]);``."""
        callback = request.query_params.get("jsonp") or JSONP_CALLBACK
        if not is_valid_jsonp_callback(callback):
            return error_response(400, "Bad request: invalid jsonp callback name")
        raw = request.query_params.get("message")
        if raw is None:
            return error_response(400, "Bad request: no message parameter")
        if len(raw) > self.settings.max_body_bytes:
            return error_response(413, f"Message larger than {self.settings.max_body_bytes} bytes")
        context = self._context(request, ConnectionType.CALLBACK_POLLING)
        replies = await self._process(raw, context, receive)
        if isinstance(replies, Response):
            return replies
        payload = await self.broker.encode(replies, context)
        return BayeuxReply(encode_jsonp(callback, payload), request.headers, b"text/javascript; charset=utf-8",
                           _JSONP_HEADERS)

    async def _process(self, raw: bytes | str, context: Context, receive: Receive) -> list[Outgoing] | Response:
        try:
            messages = decode_batch(raw, max_messages=self.settings.max_batch_messages)
        except DecodeError as exc:
            return error_response(400, exc.reason)
        request = RequestState(context)
        if not any(message.get("channel") == channels.CONNECT for message in messages):
            return await self.broker.process(messages, request)
        # If the HTTP client goes away mid-poll, this request's holds are released with
        # nothing taken from the queue, so no message goes into a response nobody reads
        # (faye would lose those messages).
        watcher = asyncio.ensure_future(on_disconnect(receive, request.release_holds_peer_gone))
        try:
            return await self.broker.process(messages, request)
        finally:
            watcher.cancel()

