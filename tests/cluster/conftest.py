"""Several real broker processes (the CLI, different loopback ports) on one real redis-server.

The suite starts its own ``redis-server`` on a free port (never 6379). Each cluster gets a
namespace of its own (``?namespace=`` in the engine URL), so tests sharing the server do
not see each other's keys.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest

from tests.support.redis import RedisServer
from tests.support.servers import BrokerProcess, start_broker


@dataclass
class Cluster:
    """Broker processes sharing one Redis namespace."""

    redis_url: str
    namespace: str
    nodes: list[BrokerProcess] = field(default_factory=list)
    args: tuple[str, ...] = ()

    @property
    def engine_url(self) -> str:
        return f"{self.redis_url}?namespace={self.namespace}"

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def add_node(self) -> BrokerProcess:
        node = start_broker("--engine", self.engine_url, *self.args)
        self.nodes.append(node)
        return node

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def make_cluster(redis_url: str, size: int, *args: str) -> Cluster:
    cluster = Cluster(redis_url, f"cluster-{uuid.uuid4().hex[:10]}", args=args)
    try:
        for _ in range(size):
            cluster.add_node()
    except BaseException:
        cluster.stop()
        raise
    return cluster


@pytest.fixture(scope="module")
def cluster3(redis_server: RedisServer) -> Iterator[Cluster]:
    """Three brokers (``--timeout 2``) on the session's Redis, shared by a module's tests."""
    cluster = make_cluster(redis_server.url, 3, "--timeout", "2")
    yield cluster
    cluster.stop()


@pytest.fixture
def new_cluster(redis_server: RedisServer) -> Iterator[Callable[..., Cluster]]:
    """A factory for clusters of this test only: ``new_cluster(size, *cli_args)``; all stopped after."""
    made: list[Cluster] = []

    def factory(size: int, *args: str) -> Cluster:
        cluster = make_cluster(redis_server.url, size, *args)
        made.append(cluster)
        return cluster

    yield factory
    for cluster in made:
        cluster.stop()
