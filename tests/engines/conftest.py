"""The engines that ship, as makers for the engine contract (``broker.testing.engines``).

To add an engine, add a maker to ``ENGINE_MAKERS``: the contract then runs on it unchanged.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from broker.engines.memory import MemoryEngine
from broker.engines.redis import RedisEngine
from broker.testing.engines import EngineMaker


def _memory(_request: pytest.FixtureRequest) -> EngineMaker:
    return MemoryEngine


def _redis(request: pytest.FixtureRequest) -> EngineMaker:
    url = request.getfixturevalue("redis_server").url
    return lambda: RedisEngine(url, namespace=f"test-{uuid.uuid4().hex[:12]}")


ENGINE_MAKERS: dict[str, Callable[[pytest.FixtureRequest], EngineMaker]] = {"memory": _memory, "redis": _redis}


@pytest.fixture(params=list(ENGINE_MAKERS.values()), ids=list(ENGINE_MAKERS))
def engine_maker(request: pytest.FixtureRequest) -> EngineMaker:
    maker: Callable[[pytest.FixtureRequest], EngineMaker] = request.param
    return maker(request)
