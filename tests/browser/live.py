"""A broker under uvicorn in a background thread, restartable on its port, for browser tests.

The browser (Playwright's sync API) owns the test's main thread, so the broker runs its own
event loop in a thread. Each :meth:`LiveBroker.start` builds a fresh app, as a restarted
process would have: no clients, no subscriptions. A :class:`TransportLog` extension survives
restarts and records, for every ``/meta/connect``, the ``connectionType`` the client asked for
and the transport it really arrived on, so a test can prove which transport a page used.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from broker.app import create_app
from broker.extensions import Context, Extension
from broker.server import Broker
from tests.support.servers import free_port

__all__ = ["PAGES_PREFIX", "ConnectSeen", "LiveBroker", "PageServer", "TransportLog", "page_files"]

PAGES_PREFIX = "/__pages__/"
PAGES = Path(__file__).resolve().parent / "pages"
FAYE_BUNDLE = Path(__file__).resolve().parents[1] / "interop/node_modules/faye/client/faye-browser-min.js"
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8"}


@dataclass(frozen=True)
class ConnectSeen:
    client_id: str
    connection_type: str
    transport: str
    """``Context.transport``: how the connect arrived (``websocket``, ``long-polling``, ...)."""
    origin: str | None
    """The ``Origin`` header, else the ``Referer``."""


class TransportLog(Extension):
    """Records each incoming message (``/meta/connect`` apart) and each applied unsubscribe."""

    def __init__(self) -> None:
        self.connects: list[ConnectSeen] = []
        self.unsubscribed: set[tuple[str, str]] = set()
        self.messages: list[tuple[dict[str, Any], dict[str, str]]] = []
        """Every incoming message with the request headers it came with."""
        self._lock = threading.Lock()

    def incoming(self, message: dict[str, Any], context: Context) -> dict[str, Any]:
        with self._lock:
            self.messages.append((dict(message), dict(context.headers)))
        if message.get("channel") == "/meta/connect":
            seen = ConnectSeen(str(message.get("clientId")), str(message.get("connectionType")),
                               context.transport,
                               context.headers.get("origin") or context.headers.get("referer"))
            with self._lock:
                self.connects.append(seen)
        return message

    def on_unsubscribe(self, client_id: str, channel: str) -> None:
        with self._lock:
            self.unsubscribed.add((client_id, channel))

    def connects_of(self, client_id: str) -> list[ConnectSeen]:
        with self._lock:
            return [seen for seen in self.connects if seen.client_id == client_id]


def page_files() -> dict[str, Path]:
    """The files served under ``/__pages__/``: the harness pages and faye's browser bundle."""
    files = {path.name: path for path in PAGES.iterdir() if path.suffix in _TYPES}
    files["faye-browser-min.js"] = FAYE_BUNDLE
    return files


def with_pages(app: ASGIApp | None) -> ASGIApp:
    """Serve the test pages under ``/__pages__/``; hand everything else (lifespan too) to ``app``."""
    files = page_files()

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and path.startswith(PAGES_PREFIX):
            file = files.get(path[len(PAGES_PREFIX):])
            if file is None:
                response = Response(b"", status_code=404)
            else:
                response = Response(file.read_bytes(), headers={"Content-Type": _TYPES[file.suffix],
                                                                "Cache-Control": "no-store"})
            await response(scope, receive, send)
        elif app is not None:
            await app(scope, receive, send)
        elif scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
        else:
            await Response(b"", status_code=404)(scope, receive, send)

    return wrapped


class _Server(uvicorn.Server):
    """Answers held connects first, as ``bayeux-broker serve`` does on SIGTERM."""

    broker: Broker | None = None

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.broker is not None:
            await self.broker.close()
        await super().shutdown(sockets)


class _ThreadServer:
    """uvicorn with the CLI's WebSocket protocol, in a daemon thread with its own loop."""

    def __init__(self, app: ASGIApp, port: int, broker: Broker | None = None) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
            ws="broker.transports.uvicorn_ws:FastWebSocketProtocol", ws_per_message_deflate=False,
            ws_ping_interval=None, timeout_graceful_shutdown=1,
        )
        self.server = _Server(config)
        self.server.broker = broker
        self.loop: asyncio.AbstractEventLoop | None = None
        self._failure: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=f"uvicorn-{port}", daemon=True)
        self.thread.start()
        for _ in range(1000):
            if self.server.started or not self.thread.is_alive():
                break
            threading.Event().wait(0.01)
        if not self.server.started:
            self.stop()
            raise RuntimeError(f"uvicorn did not start on port {port}: {self._failure!r}")

    def _run(self) -> None:
        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            await self.server.serve()

        try:
            asyncio.run(main())
        except BaseException as exc:  # reported by the constructor
            self._failure = exc

    def call(self, factory: Callable[[], Any], timeout: float = 10.0) -> Any:
        """Run a coroutine (made by ``factory``) in the server's loop and wait for its result."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(factory(), self.loop).result(timeout)

    def stop(self) -> None:
        if self.loop is not None and self.thread.is_alive():
            self.loop.call_soon_threadsafe(setattr, self.server, "should_exit", True)
        self.thread.join(15)
        if self.thread.is_alive():
            raise RuntimeError("uvicorn did not stop within 15 s")


class LiveBroker:
    """``create_app`` plus the test pages, on one loopback port that survives :meth:`restart`."""

    def __init__(self, *, timeout: float = 3.0, app_options: Mapping[str, Any] | None = None) -> None:
        self.port = free_port()
        self.timeout = timeout
        self.app_options = dict(app_options or {})
        self.log = TransportLog()
        self._server: _ThreadServer | None = None
        self.broker: Broker | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def endpoint(self) -> str:
        return f"{self.origin}/faye"

    def start(self) -> None:
        app = create_app(mount="/faye", timeout=self.timeout, extensions=[self.log], **self.app_options)
        self.broker = app.state.broker
        self.broker.on("unsubscribe", self.log.on_unsubscribe)
        self._server = _ThreadServer(with_pages(app), self.port, self.broker)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def restart(self) -> None:
        """Stop (answering held connects, closing sockets) and start a fresh broker on the same port."""
        self.stop()
        self.start()

    def publish(self, channel: str, data: object) -> None:
        """A server-side publish (faye ``bayeux.getClient().publish``)."""
        assert self._server is not None
        assert self.broker is not None
        broker = self.broker
        reply = self._server.call(lambda: broker.publish(channel, data))
        assert reply.get("successful") is True, reply


class PageServer:
    """Another loopback origin serving only the test pages (for the cross-origin transports)."""

    def __init__(self) -> None:
        self.port = free_port()
        self._server = _ThreadServer(with_pages(None), self.port)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._server.stop()
