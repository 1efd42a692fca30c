"""A broker with the REST resources served by uvicorn on loopback, and what it published.

``api`` runs once per store kind (memory, SQLite file); ``make_api(**options)`` builds one
with other options (``create_app`` keywords: ``access=...``, ``max_body_bytes=...``).
Every change the broker publishes on ``/resources/**`` is recorded by a server-side
subscriber, so tests can assert on the exact change events.

Each test gets a fresh app (broker, store, lifespan), served by a uvicorn that the session
keeps running: starting and stopping uvicorn takes longer than most of these tests, so a
:class:`Switch` in front of the app hands each connection to the test's current app.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send

from broker.app import create_app
from broker.store import MemoryStore, Store
from broker.store.sqlite import SQLiteStore
from clients.subscription import Message as Delivered
from tests.support.servers import serve_app

Event = tuple[str, dict[str, Any]]
URI_PATH = re.compile(r"/[A-Za-z0-9/!$&'()*+,;=:@._~%-]*")


@dataclass
class Api:
    """A running broker: ``http`` is a client on its base URL, ``events`` what it published."""

    base: str
    http: httpx.AsyncClient
    app: Starlette
    events: list[Event] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def record(self, message: Delivered) -> None:
        self.events.append((message.channel, message.data))
        self.arrived.set()

    async def settle(self, count: int, *, patience: float = 5.0) -> list[Event]:
        """Wait until at least ``count`` change events were delivered; return them all."""
        async with asyncio.timeout(patience):
            while len(self.events) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.events

    async def quiet(self, delay: float = 0.05) -> list[Event]:
        """Let in-flight deliveries arrive, then return every event so far."""
        await asyncio.sleep(delay)
        return self.events


MakeApi = Callable[..., contextlib.AbstractAsyncContextManager[Api]]


def make_store(kind: str, tmp_path: Path) -> Store:
    if kind == "memory":
        return MemoryStore()
    if kind == "sqlite":
        return SQLiteStore(tmp_path / "data" / "resources.sqlite3")
    raise ValueError(kind)


class Switch:
    """An ASGI app that passes every request to ``app``, the current test's app."""

    def __init__(self) -> None:
        self.app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # each test's app runs its own lifespan, see running_api()
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        assert self.app is not None, "a request arrived between tests"
        await self.app(scope, receive, send)


class Servers:
    """uvicorn servers kept for the session, each with a Switch; a test borrows one per app."""

    def __init__(self, stack: contextlib.AsyncExitStack) -> None:
        self._stack = stack
        self._idle: list[tuple[Switch, str]] = []

    @contextlib.asynccontextmanager
    async def borrow(self, app: ASGIApp) -> AsyncIterator[str]:
        if self._idle:
            switch, base = self._idle.pop()
        else:
            switch = Switch()
            base = await self._stack.enter_async_context(serve_app(switch))
        switch.app = app
        try:
            yield base
        finally:
            switch.app = None
            self._idle.append((switch, base))


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
async def servers() -> AsyncIterator[Servers]:
    async with contextlib.AsyncExitStack() as stack:
        yield Servers(stack)


@contextlib.asynccontextmanager
async def running_api(servers: Servers, **options: Any) -> AsyncIterator[Api]:
    """A fresh app from ``create_app(**options)``, started, served, and stopped afterwards."""
    app = create_app(**options)
    async with (
        app.router.lifespan_context(app),
        servers.borrow(app) as base,
        httpx.AsyncClient(base_url=base, timeout=10) as http,
    ):
        api = Api(base=base, http=http, app=app)
        await app.state.broker.client().subscribe("/resources/**", api.record)
        yield api


@pytest.fixture
def make_api(servers: Servers, tmp_path: Path) -> MakeApi:
    def make(*, store_kind: str = "memory", **options: Any) -> contextlib.AbstractAsyncContextManager[Api]:
        options.setdefault("store", make_store(store_kind, tmp_path))
        return running_api(servers, **options)

    return make


@pytest.fixture(params=["memory", "sqlite"])
async def api(request: pytest.FixtureRequest, make_api: MakeApi) -> AsyncIterator[Api]:
    async with make_api(store_kind=request.param) as running:
        yield running


def change(collection: str, action: str, data: dict[str, Any], version: int) -> list[Event]:
    """The two events one change publishes, in order: on the collection, then on the object."""
    event = {"action": action, "id": data["id"], "data": data, "version": version}
    return [(f"/resources/{collection}", event), (f"/resources/{collection}/{data['id']}", event)]


def version_of(response: httpx.Response) -> int:
    tag = response.headers["etag"]
    assert tag.startswith('"'), tag
    assert tag.endswith('"'), tag
    return int(tag.strip('"'))


def assert_problem(response: httpx.Response, status: int, slug: str, *, mentions: str = "") -> dict[str, Any]:
    """An RFC 9457 problem with this status and type; returns its body."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/problem+json", response.headers
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:bayeux-broker:problem:{slug}", body
    assert body["status"] == status, body
    assert isinstance(body["title"], str), body
    assert body["title"], body
    assert isinstance(body["detail"], str), body
    assert body["detail"], body
    # the request's path as a URI reference: percent-encoded, decoding to the path requested
    assert URI_PATH.fullmatch(body["instance"]), body
    assert unquote(body["instance"]) == response.request.url.path, body
    if mentions:
        assert mentions.lower() in body["detail"].lower(), body
    return body
