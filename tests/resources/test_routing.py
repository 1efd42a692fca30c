"""Every request under ``/api`` reaches the API, whatever its path holds, also inside a mount."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.types import Receive, Scope, Send

from broker.app import create_app
from broker.routing import PrefixRoute
from broker.store import MemoryStore
from tests.resources.conftest import Api, assert_problem
from tests.support.servers import serve_app

pytestmark = pytest.mark.anyio


@pytest.fixture
async def mounted() -> AsyncIterator[httpx.AsyncClient]:
    """The broker's app mounted at ``/sub`` of another Starlette app, served on loopback."""
    inner = create_app(store=MemoryStore())

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with inner.router.lifespan_context(inner):
            yield

    outer = Starlette(routes=[Mount("/sub", app=inner)], lifespan=lifespan)
    async with serve_app(outer) as base, httpx.AsyncClient(base_url=base, timeout=10) as http:
        yield http


async def test_a_mounted_api_links_under_its_mount(mounted: httpx.AsyncClient) -> None:
    created = await mounted.put("/sub/api/todos/x", json={"n": 1})
    assert created.status_code == 201
    assert created.headers["location"] == "/sub/api/todos/x"
    await mounted.put("/sub/api/todos/y", json={"n": 2})
    page = await mounted.get("/sub/api/todos", params={"limit": 1})
    assert page.json()["next"] == "/sub/api/todos?limit=1&offset=1"
    document = (await mounted.get("/sub/api/openapi.json")).json()
    assert "/sub/api/{collection}/{id}" in document["paths"]


async def test_problems_name_the_path_as_the_client_sent_it(mounted: httpx.AsyncClient) -> None:
    body = assert_problem(await mounted.get("/sub/api/caf%C3%A9"), 400, "invalid-name")
    assert body["instance"] == "/sub/api/caf%C3%A9"
    assert_problem(await mounted.get("/sub/api/todos/a%20b"), 400, "invalid-name")
    assert_problem(await mounted.get("/sub/api/a/b/c"), 404, "not-found")
    assert_problem(await mounted.get("/sub/api"), 404, "not-found")


async def test_a_newline_in_the_path_is_a_problem_not_the_routers_404(api: Api) -> None:
    # Starlette's {rest:path} stops at a newline; the API's own route does not
    body = assert_problem(await api.http.get("/api/to%0Ados"), 400, "invalid-name")
    assert body["instance"] == "/api/to%0Ados"
    assert_problem(await api.http.delete("/api/todos/a%0A"), 400, "invalid-name")
    assert_problem(await api.http.get("/api/a%0A/b/c"), 404, "not-found")


async def test_paths_beside_the_prefix_are_not_the_apis(mounted: httpx.AsyncClient) -> None:
    response = await mounted.get("/sub/apix/todos")
    assert response.status_code == 404
    assert response.headers["content-type"] != "application/problem+json"


async def _nothing(scope: Scope, receive: Receive, send: Send) -> None:
    raise AssertionError("never called")


def test_the_prefix_is_a_path_without_a_trailing_slash() -> None:
    for prefix in ("api", "/api/", ""):
        with pytest.raises(ValueError, match="prefix"):
            PrefixRoute(prefix, _nothing)
