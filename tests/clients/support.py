"""Helpers for the Python client's tests: real servers on loopback, bounded waits."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from broker import create_app
from broker.extensions import Context, Extension
from clients import Client, Message, Subscription
from tests.interop.nodejs import INTEROP, require_node_packages
from tests.support.servers import serve_app

TRANSPORTS = {"websocket": ("websocket", "long-polling"), "long-polling": ("long-polling",)}
"""The ``transports`` option that makes a client end up on each connection type."""

TOKEN = "secret"


class RequireToken(Extension):
    """Server side: subscribes and publishes on ``/private/**`` need ``ext.token`` (faye's auth pattern)."""

    def incoming(self, message: dict[str, Any], context: Context) -> dict[str, Any]:
        target = message.get("subscription") if message.get("channel") == "/meta/subscribe" else message.get("channel")
        if isinstance(target, str) and target.startswith("/private/"):
            ext = message.get("ext")
            if not isinstance(ext, dict) or ext.get("token") != TOKEN:
                message["error"] = "403::Authentication required"
        return message


class AddToken:
    """Client side: an outgoing extension that puts the token in every message's ``ext``."""

    def __init__(self) -> None:
        self.seen = 0

    def outgoing(self, message: dict[str, Any]) -> dict[str, Any]:
        self.seen += 1
        message.setdefault("ext", {})["token"] = TOKEN
        return message


def no_websocket(app: ASGIApp) -> ASGIApp:
    """Wrap ``app`` so that every WebSocket upgrade is refused (HTTP 403): the client must fall back."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        await app(scope, receive, send)

    return wrapped


@contextlib.asynccontextmanager
async def broker_url(*, websocket: bool = True, **options: Any) -> AsyncIterator[str]:
    """Our broker under uvicorn in this loop (``timeout`` 2 s unless given); yield its Bayeux URL."""
    options.setdefault("timeout", 2)
    app = create_app(resources=False, **options)
    async with serve_app(app if websocket else no_websocket(app)) as base:
        yield base + "/faye"


async def next_message(subscription: Subscription, within: float = 5.0) -> Message:
    return await asyncio.wait_for(anext(subscription), within)


async def no_message(subscription: Subscription, wait: float = 0.3) -> bool:
    """True when nothing arrives within ``wait`` seconds."""
    try:
        await asyncio.wait_for(anext(subscription), wait)
    except TimeoutError:
        return True
    return False


async def wait_until(predicate: Any, within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def connected_client(url: str, transport: str, **options: Any) -> Client:
    return Client(url, transports=TRANSPORTS[transport], timeout=2, **options)


_LISTENING = re.compile(r"listening on (http://\S+)")


@contextlib.contextmanager
def faye_server(startup_timeout: float = 15.0) -> Iterator[str]:
    """Start ``tests/interop/js/faye_python_peer.js`` (faye 1.4.3, Node); yield its endpoint URL."""
    require_node_packages("faye")
    node = shutil.which("node") or "node"
    process = subprocess.Popen([node, str(INTEROP / "js" / "faye_python_peer.js"), "0"], cwd=INTEROP,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + startup_timeout
        line = ""
        while time.monotonic() < deadline and not (match := _LISTENING.search(line)):
            line = process.stdout.readline()
            assert line, "the faye server exited before listening"
        assert match, "the faye server did not start in time"
        yield match.group(1)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        if process.stdout is not None:
            process.stdout.close()
