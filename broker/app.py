"""``create_app``: the ASGI application (Starlette) that serves one broker on its mount."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import Any

from starlette.applications import Starlette
from starlette.routing import BaseRoute, Route, WebSocketRoute

from broker.config import Settings
from broker.engines import Engine, engine_from_url
from broker.extensions import Extension
from broker.server import Broker
from broker.transports import BayeuxHTTP, BayeuxWebSocket

__all__ = ["create_app"]


def create_app(
    *,
    settings: Settings | None = None,
    engine: Engine | str | None = None,
    extensions: Sequence[Extension] = (),
    broker: Broker | None = None,
    **options: Any,
) -> Starlette:
    """Build the ASGI app. ``options`` are :class:`Settings` fields (``mount="/faye"``, ...).

    ``engine`` is an :class:`Engine` or a URL: ``"memory"`` (the default) or ``"redis://HOST:PORT/DB"``.

    The broker is ``app.state.broker``. It starts on the lifespan startup or lazily on the
    first request (so the app also works mounted inside another Starlette/FastAPI app),
    and on shutdown answers every pending connect.
    """
    if broker is None:
        settings = settings or Settings(**options)
        if isinstance(engine, str):
            engine = engine_from_url(engine)
        broker = Broker(settings=settings, engine=engine, extensions=extensions)
    elif settings or engine or extensions or options:
        raise TypeError("pass either a broker or the options to build one, not both")
    mount = broker.settings.mount_path
    http = BayeuxHTTP(broker)
    ws = BayeuxWebSocket(broker)
    routes: list[BaseRoute] = [
        Route(mount or "/", http),
        Route(f"{mount}/{{rest:path}}", http),
        WebSocketRoute(mount or "/", ws),
        WebSocketRoute(f"{mount}/{{rest:path}}", ws),
    ]
    if mount:
        routes.append(Route(f"{mount}.js", http))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await broker.start()
        try:
            yield
        finally:
            await broker.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.broker = broker
    return app
