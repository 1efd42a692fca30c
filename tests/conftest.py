"""Shared fixtures: brokers on free loopback ports, started the way users start them."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.support.redis import RedisServer, redis_available, start_redis
from tests.support.servers import BrokerProcess, start_broker, start_plain_uvicorn

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session", params=["cli", "plain-uvicorn"])
def broker(request: pytest.FixtureRequest) -> Iterator[BrokerProcess]:
    """One broker per server for the session, ``--timeout 2`` (T = 2 s): the CLI (uvicorn with the
    WebSocket fast path), and the app embedded under plain uvicorn (plain ASGI), so the wire suite
    checks both write paths."""
    process = start_broker("--timeout", "2") if request.param == "cli" else start_plain_uvicorn()
    yield process
    process.stop()


def require(condition: bool, reason: str) -> None:
    """Skip when a tool is missing on a developer machine, fail in CI (CI=true)."""
    if not condition:
        if IN_CI:
            pytest.fail(f"required in CI: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """The suite's own redis-server on a free loopback port (never the shared one on 6379)."""
    require(redis_available(), "redis-server is not installed")
    server = start_redis()
    yield server
    server.cleanup()
