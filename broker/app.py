"""``create_app``: the ASGI application (Starlette) that serves one broker on its mount."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route, WebSocketRoute
from starlette.types import Receive, Scope, Send

from broker.config import Settings
from broker.engines import Engine, engine_from_url
from broker.extensions import Extension
from broker.resources import CHANNEL_ROOT, AccessHook, ResourceAPI, ResourceChannelGuard
from broker.routing import PrefixRoute
from broker.server import Broker
from broker.static import demo_asset, demo_page
from broker.store import Store, store_from_url
from broker.transports import BayeuxHTTP, BayeuxWebSocket

__all__ = ["BrokerApp", "create_app", "default_store"]


API_PREFIX = "/api"
"""Where the REST resources are served."""


def create_app(
    *,
    settings: Settings | None = None,
    engine: Engine | str | None = None,
    extensions: Sequence[Extension] = (),
    broker: Broker | None = None,
    store: Store | str | None = None,
    access: AccessHook | None = None,
    data_dir: str | Path = "data",
    resources: bool = True,
    demo: bool = False,
    **options: Any,
) -> Starlette:
    """Build the ASGI app. ``options`` are :class:`Settings` fields (``mount="/faye"``, ...).

    ``engine`` is an :class:`Engine` or a URL: ``"memory"`` (the default) or ``"redis://HOST:PORT/DB"``.

    The REST resources (docs/resources.md) are served at ``/api`` unless ``resources=False``.
    ``store`` is a :class:`Store` or a URL for :func:`broker.store.store_from_url` (``"memory"``,
    ``"sqlite"`` in ``data_dir``, ``"sqlite:PATH"``, ``"redis://..."``); by default the memory
    store, or with the Redis engine the Redis store on the same Redis. ``access`` is the access
    hook (:class:`broker.resources.AccessRequest` in, allow or deny out). The app's state holds
    the API as ``app.state.resources``.

    With ``demo=True`` (``bayeux-broker serve`` turns it on; ``--no-demo`` off) the demo page,
    a chat room and a live table of a REST collection, is served at ``/`` (assets under ``/demo/``).

    The broker is ``app.state.broker``. It starts on the lifespan startup or lazily on the
    first request (so the app also works mounted inside another Starlette/FastAPI app),
    and on shutdown answers every pending connect.
    """
    broker = _build_broker(broker, settings=settings, engine=engine, extensions=extensions, options=options)
    mount = broker.settings.mount_path
    api = _resource_api(broker, resources=resources, store=store, access=access, data_dir=data_dir)
    routes: list[BaseRoute] = [PrefixRoute(API_PREFIX, api)] if api is not None else []
    bayeux, bayeux_routes = _bayeux_routes(broker)
    routes += bayeux_routes
    if demo and mount:  # a Bayeux endpoint at / leaves no room for the page
        routes += [Route("/", _demo_page(mount)), Route("/demo/{name}", demo_asset)]
    app = BrokerApp(routes=routes, lifespan=_lifespan(broker, api), bayeux=bayeux)
    app.state.broker = broker
    app.state.resources = api
    return app


def _build_broker(broker: Broker | None, *, settings: Settings | None, engine: Engine | str | None,
                  extensions: Sequence[Extension], options: dict[str, Any]) -> Broker:
    """The given broker, or one built from the options (not both)."""
    if broker is not None:
        if settings or engine or extensions or options:
            raise TypeError("pass either a broker or the options to build one, not both")
        return broker
    if isinstance(engine, str):
        engine = engine_from_url(engine)
    return Broker(settings=settings or Settings(**options), engine=engine, extensions=extensions)


def _resource_api(broker: Broker, *, resources: bool, store: Store | str | None, access: AccessHook | None,
                  data_dir: str | Path) -> ResourceAPI | None:
    """The REST resources at ``/api`` on ``store`` (by default :func:`default_store`), or None."""
    if not resources:
        if store is not None or access is not None:
            raise TypeError("store and access configure the REST resources; they need resources=True")
        return None
    mount = broker.settings.mount_path
    if mount == API_PREFIX or mount.startswith(API_PREFIX + "/"):
        raise ValueError(f"the Bayeux mount cannot be under {API_PREFIX}, where the REST resources are")
    if isinstance(store, str):
        store = store_from_url(store, data_dir=data_dir)
    api = ResourceAPI(broker, store or default_store(broker.engine), access=access, prefix=API_PREFIX)
    broker.add_authorizer(ResourceChannelGuard(), CHANNEL_ROOT, CHANNEL_ROOT + "/**")
    return api


def _bayeux_routes(broker: Broker) -> tuple[PrefixRoute | None, list[BaseRoute]]:
    """The mount's routes; the first, the HTTP prefix route, is also dispatched directly (``BrokerApp``)."""
    mount = broker.settings.mount_path
    http = BayeuxHTTP(broker)
    ws = BayeuxWebSocket(broker)
    # every path below the mount is Bayeux (docs/protocol.md §13 item 86), a newline included,
    # which Starlette's {rest:path} does not match
    mount_route = PrefixRoute(mount, http) if mount else None
    routes: list[BaseRoute] = [mount_route] if mount_route else [Route("/", http), Route("/{rest:path}", http)]
    routes += [WebSocketRoute(mount or "/", ws), WebSocketRoute(f"{mount}/{{rest:path}}", ws)]
    if mount:
        routes.append(Route(f"{mount}.js", http))
    return mount_route, routes


def _lifespan(broker: Broker, api: ResourceAPI | None) -> Callable[[Starlette], AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await broker.start()
        if api is not None:
            await api.start()
        try:
            yield
        finally:
            await broker.close()
            if api is not None:
                await api.close()

    return lifespan


class BrokerApp(Starlette):
    """Starlette, with HTTP requests under the Bayeux mount handed straight to the transport.

    Every long-poll is a request, and Starlette's middleware stack and router cost about a
    sixth of one; nothing under the mount uses them (the transport answers its own errors).
    The same :class:`PrefixRoute` decides, so routing is unchanged, ``root_path`` included.
    """

    def __init__(self, *, bayeux: PrefixRoute | None, **options: Any) -> None:
        super().__init__(**options)
        self._bayeux = bayeux

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        bayeux = self._bayeux
        if bayeux is not None and scope["type"] == "http" and bayeux.matches(scope)[0] is Match.FULL:
            scope["app"] = self
            await bayeux.handle(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def _demo_page(mount: str) -> Callable[[Request], Response]:
    def page(request: Request) -> Response:
        return demo_page(mount).response(request.headers)

    return page


def default_store(engine: Engine, *, fallback: str = "memory", data_dir: str | Path = "data") -> Store:
    """The one default-store rule: the store every process of the engine shares (Redis: the same
    Redis, so every node serves the same data), else ``fallback`` (``create_app``: memory; the
    CLI: SQLite in ``--data-dir``)."""
    return store_from_url(engine.shared_store_url() or fallback, data_dir=data_dir)
