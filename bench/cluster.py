"""The ``redis-fanout`` scenario: WebSocket fan-out through a cluster of servers on one Redis.

Each run gets a fresh redis-server of its own (:mod:`bench.redis_server`) and server
processes on it:

- ``ours``: two brokers with ``--engine redis://127.0.0.1:PORT/0``;
- ``ours-1node``: one broker on the same kind of Redis, to tell whether two hold more than one;
- ``faye``: two faye 1.4.3 processes with faye-redis 0.2.0 (``bench/faye_redis_server.js``).

The subscribers are split round-robin over the nodes (each handshakes and opens its WebSocket
on its node); the publisher is on the first node, so every message crosses Redis to reach
the other node's half. The rate steps up as in ``ws-fanout`` (:func:`bench.scenarios._step`
measures each step), with two more figures per step: the Redis commands per published message
(``INFO commandstats`` before and after the step: all calls, those run inside Lua scripts
included, divided by the messages published) and redis-server's CPU time. Server CPU is the
sum over the nodes.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import httpx
from redis.exceptions import RedisError

from bench import worker as worker_module
from bench.loadgen import BayeuxError, Publisher, open_subscriber
from bench.redis_server import RedisServer, start_redis
from bench.scenarios import Plan, Result, _ms, _step, log
from bench.servers import Server, ServerError, start_server
from bench.system import raise_nofile_limit, run_event_loop
from bench.worker import SETUP_CONCURRENCY, SETUP_TIMEOUT, Subscribers, Worker

__all__ = ["CLUSTER_SCENARIOS", "Cluster", "command_lines", "run_cluster"]

SCENARIO = "redis-fanout"
CLUSTER_SCENARIOS = (SCENARIO,)
RUNS = (("ours", 2), ("faye", 2), ("ours", 1))
"""(server, nodes) in the order they run; ``--only`` keeps the runs of one server."""


def result_name(server: str, nodes: int) -> str:
    return server if nodes > 1 else f"{server}-1node"


def command_lines() -> dict[str, str]:
    """The command of one node, with PORT and REDIS_PORT, for the report."""
    return {
        "ours": ".venv/bin/python -m broker serve --host 127.0.0.1 --port PORT --timeout 60 --log-level warning "
                "--engine redis://127.0.0.1:REDIS_PORT/0",
        "faye": "node bench/faye_redis_server.js PORT REDIS_PORT",
        "redis": "redis-server --port REDIS_PORT --bind 127.0.0.1 --save '' --appendonly no",
    }


@dataclass(eq=False)
class Cluster:
    """The nodes of one run and their Redis, read as one server by :func:`bench.scenarios._step`."""

    name: str
    nodes: list[Server]
    redis: RedisServer

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def alive(self) -> bool:
        return self.redis.alive() and all(node.alive() for node in self.nodes)

    def cpu_split(self) -> tuple[float, float]:
        """User and kernel CPU seconds summed over the nodes (Redis is counted apart)."""
        splits = [node.cpu_split() for node in self.nodes if node.alive()]
        return sum(user for user, _ in splits), sum(kernel for _, kernel in splits)

    def log_tail(self) -> str:
        return "\n".join(f"[{node.log_path.name}]\n{node.log_tail(10)}" for node in self.nodes)

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        self.redis.stop()


class SplitSubscribers(Subscribers):
    """WebSocket subscribers spread round-robin over ``spec["urls"]``, one node each."""

    async def open(self, count: int) -> int:
        urls: list[str] = self.spec["urls"]
        gate = asyncio.Semaphore(SETUP_CONCURRENCY)

        async def one(n: int) -> bool:
            async with gate:
                try:
                    client = await asyncio.wait_for(
                        open_subscriber(self.http, urls[n % len(urls)], self.recorder), SETUP_TIMEOUT)
                except (OSError, BayeuxError, httpx.HTTPError, TimeoutError) as exc:
                    self._failed(exc)
                    return False
                self.sockets.append(client)
                return True

        return sum(await asyncio.gather(*(one(n) for n in range(count))))


def _main(conn: Connection, spec: dict[str, Any]) -> None:
    """The subscriber process: :mod:`bench.worker`'s command loop, holding :class:`SplitSubscribers`."""
    raise_nofile_limit()
    # the loop in bench.worker builds its subscribers from this module-level name; in this
    # (spawned) process only, it builds the split ones
    worker_module.Subscribers = SplitSubscribers  # type: ignore[misc]
    run_event_loop(worker_module._serve(conn, spec))


class SplitWorker(Worker):
    """A :class:`bench.worker.Worker` whose subscribers are split over the nodes of a cluster."""

    def __init__(self, spec: dict[str, Any]) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_main, args=(child, spec), name="bench-cluster", daemon=True)
        self.process.start()
        child.close()


async def run_cluster(servers: Sequence[str], plan: Plan) -> list[dict[str, Any]]:
    """Every run of ``redis-fanout`` for the chosen servers, one cluster at a time."""
    results = []
    for name, nodes in RUNS:
        if name not in servers:
            continue
        label = result_name(name, nodes)
        print(f"bench: --- {SCENARIO} against {label} ({nodes} node{'s' if nodes > 1 else ''} on one Redis) ---",
              flush=True)
        result = Result(SCENARIO, label)
        result.setup["nodes"] = nodes
        cluster: Cluster | None = None
        try:
            redis = start_redis(label)
            cluster = Cluster(label, [], redis)
            for n in range(nodes):
                cluster.nodes.append(start_server(name, SCENARIO, redis_port=redis.port,
                                                  label=f"{nodes}n-node{n + 1}"))
            if name == "ours":
                result.setup["native"] = cluster.nodes[0].loaded("uvloop", "httptools")
            await _fanout(cluster, plan, result)
            if not cluster.alive():
                result.notes.append(f"a node or Redis exited during the run; log tails:\n{cluster.log_tail()}")
        except (RuntimeError, OSError, TimeoutError, BayeuxError) as exc:
            print(f"bench: {SCENARIO} against {label} failed: {exc!r}", flush=True)
            tail = cluster.log_tail() if cluster else ""
            result.notes.append(f"the run failed: {exc!r}; log tails:\n{tail}")
            if isinstance(exc, ServerError) and "not installed" in str(exc):
                raise
        finally:
            if cluster is not None:
                cluster.stop()
        results.append(result.as_dict())
        await asyncio.sleep(1.0)
    return results


async def _fanout(cluster: Cluster, plan: Plan, result: Result) -> None:
    count = plan.cluster_subscribers
    worker = SplitWorker({"kind": "ws", "url": cluster.urls[0], "urls": cluster.urls, "count": count})
    try:
        _, ready, seconds, failures = await worker.receive(plan.setup_timeout)
        result.setup.update(subscribers=ready, wanted=count, seconds=round(seconds, 1), failures=failures)
        log(f"{cluster.name} {SCENARIO}: {ready}/{count} subscribers ready in {seconds:.1f} s "
            f"over {len(cluster.nodes)} node(s), Redis keys {cluster.redis.keys()}")
        if ready == 0:
            result.notes.append("no subscriber could be set up")
            return
        async with httpx.AsyncClient(timeout=30.0) as http:
            publisher = await Publisher.open(http, cluster.urls[0])
        await asyncio.sleep(0.5)
        try:
            for step, rate in enumerate(plan.cluster_rates):
                calls_before = cluster.redis.command_calls()
                redis_cpu_before = cluster.redis.cpu_seconds()
                row = await _step(cluster, worker, publisher, plan, step, rate, ready)
                _add_redis_figures(row, cluster.redis, calls_before, redis_cpu_before)
                result.steps.append(row)
                log(f"{cluster.name} {SCENARIO} {rate:g} msg/s: {row['deliveries_per_s']:.0f} deliveries/s, "
                    f"ratio {row['ratio']:.4f}, p50 {_ms(row['p50_ms'])}, p99 {_ms(row['p99_ms'])}, "
                    f"CPU {_ms(row['cpu_ms_per_1k'])}/1k over {len(cluster.nodes)} node(s), "
                    f"Redis {_num(row['redis_calls_per_msg'])} commands/msg and {_ms(row['redis_cpu_ms_per_1k'])}/1k, "
                    f"loadgen CPU {row['loadgen_cpu']:.0%}")
                if not row["clean"] or not cluster.alive():
                    break
        finally:
            publisher.close()
    finally:
        await worker.stop()


def _add_redis_figures(row: dict[str, Any], redis: RedisServer, calls_before: dict[str, int],
                       cpu_before: float) -> None:
    """Redis commands per published message and per delivery, redis-server CPU per 1,000 deliveries."""
    row.update(redis_calls=None, redis_calls_per_msg=None, redis_calls_per_delivery=None, redis_commands={},
               redis_cpu_s=None, redis_cpu_ms_per_1k=None)
    with contextlib.suppress(OSError, RedisError):
        calls_after = redis.command_calls()
        calls = {name: n - calls_before.get(name, 0) for name, n in calls_after.items()}
        calls = {name: n for name, n in calls.items() if n > 0}
        total = sum(calls.values())
        published = row["published"] or 1
        row["redis_calls"] = total
        row["redis_calls_per_msg"] = total / published
        row["redis_calls_per_delivery"] = total / row["delivered"] if row["delivered"] else None
        row["redis_commands"] = dict(sorted(calls.items(), key=lambda item: -item[1]))
        cpu = redis.cpu_seconds() - cpu_before
        row["redis_cpu_s"] = cpu
        row["redis_cpu_ms_per_1k"] = cpu * 1e6 / row["delivered"] if row["delivered"] else None


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
