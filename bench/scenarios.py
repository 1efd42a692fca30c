"""The scenarios, each run against one freshly started server.

- ``ws-fanout``: N WebSocket subscribers on one channel; one publisher steps up the rate
  until a step falls behind (not everything delivered, or p99 >= 250 ms).
- ``lp-fanout``: the same with long-polling subscribers.
- ``idle``: N idle WebSocket clients (handshaken, connected, subscribed); server RSS delta
  per connection.
- ``redis-fanout``: ``ws-fanout`` against clusters on one Redis (:mod:`bench.cluster`).

The publisher runs in this process; the subscribers run in a separate process
(:mod:`bench.worker`) so that reading deliveries and publishing do not share one core.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from bench.loadgen import Publisher
from bench.servers import Server
from bench.system import cpu_seconds
from bench.worker import Worker

__all__ = ["P99_LIMIT_MS", "SCENARIOS", "Measured", "Plan", "run_scenario"]

SCENARIOS = ("ws-fanout", "lp-fanout", "idle", "redis-fanout")
P99_LIMIT_MS = 250.0


@dataclass
class Plan:
    """Sizes and times for one run (``--quick`` shrinks them)."""

    ws_subscribers: int = 1000
    lp_subscribers: int = 200
    idle_connections: int = 2000
    rates: tuple[float, ...] = (10, 20, 50, 100, 200, 400, 800)
    step_seconds: float = 6.0
    drain_seconds: float = 3.0
    settle_seconds: float = 3.0
    setup_timeout: float = 180.0
    lp_client: str = "raw"
    """How long-polling subscribers send HTTP: ``raw`` (bench.loadgen.LongPollConnection) or ``httpx``."""
    cluster_subscribers: int = 1000
    """WebSocket subscribers of ``redis-fanout``, split evenly over the nodes."""
    cluster_rates: tuple[float, ...] = (5, 10, 20, 50, 100, 200, 400, 800)
    """``redis-fanout`` starts lower than ``ws-fanout``: faye-redis falls behind near 5 msg/s."""

    @classmethod
    def quick(cls) -> Plan:
        return cls(ws_subscribers=100, lp_subscribers=20, idle_connections=200, rates=(10, 50),
                   step_seconds=2.0, drain_seconds=1.5, settle_seconds=1.0, setup_timeout=60.0,
                   cluster_subscribers=100, cluster_rates=(5, 50))


class Measured(Protocol):
    """What a step reads from the server under test: one :class:`Server`, or a cluster of them."""

    name: str

    def alive(self) -> bool: ...

    def cpu_split(self) -> tuple[float, float]: ...


@dataclass
class Result:
    scenario: str
    server: str
    setup: dict[str, Any] = field(default_factory=dict)
    steps: list[dict[str, Any]] = field(default_factory=list)
    memory: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "server": self.server, "setup": self.setup, "steps": self.steps,
                "memory": self.memory, "notes": self.notes}


def log(message: str) -> None:
    print(f"bench: {message}", flush=True)


async def run_scenario(scenario: str, server: Server, plan: Plan) -> dict[str, Any]:
    result = Result(scenario, server.name)
    if server.name == "ours":
        result.setup["native"] = server.loaded("uvloop", "httptools")
    if scenario == "idle":
        await _idle(server, plan, result)
    else:
        await _fanout(scenario, server, plan, result)
    if not server.alive():
        result.notes.append(f"the server exited during the run; log tail:\n{server.log_tail()}")
    return result.as_dict()


async def _fanout(scenario: str, server: Server, plan: Plan, result: Result) -> None:
    kind = "ws" if scenario == "ws-fanout" else "lp"
    count = plan.ws_subscribers if kind == "ws" else plan.lp_subscribers
    worker = Worker({"kind": kind, "url": server.url, "count": count, "lp_client": plan.lp_client})
    try:
        _, ready, seconds, failures = await worker.receive(plan.setup_timeout)
        result.setup.update(subscribers=ready, wanted=count, seconds=round(seconds, 1), failures=failures)
        log(f"{server.name} {scenario}: {ready}/{count} subscribers ready in {seconds:.1f} s")
        if ready == 0:
            result.notes.append("no subscriber could be set up")
            return
        async with httpx.AsyncClient(timeout=30.0) as http:
            publisher = await Publisher.open(http, server.url)
        await asyncio.sleep(0.5)
        try:
            for step, rate in enumerate(plan.rates):
                row = await _step(server, worker, publisher, plan, step, rate, ready)
                result.steps.append(row)
                log(f"{server.name} {scenario} {rate:g} msg/s: {row['deliveries_per_s']:.0f} deliveries/s, "
                    f"ratio {row['ratio']:.4f}, p50 {_ms(row['p50_ms'])}, p99 {_ms(row['p99_ms'])}, "
                    f"CPU {_ms(row['cpu_ms_per_1k'])}/1k (user {_ms(row['user_ms_per_1k'])}, "
                    f"kernel {_ms(row['kernel_ms_per_1k'])}), loadgen CPU {row['loadgen_cpu']:.0%}")
                if not row["clean"] or not server.alive():
                    break
        finally:
            publisher.close()
    finally:
        await worker.stop()


async def _step(server: Measured, worker: Worker, publisher: Publisher, plan: Plan, step: int, rate: float,
                subscribers: int) -> dict[str, Any]:
    before = await worker.ask("health")
    user_before, kernel_before = server.cpu_split()
    cpu_before = user_before + kernel_before
    own_cpu_before = cpu_seconds(os.getpid())
    start_ns = time.monotonic_ns()
    started = time.monotonic()
    sent = await publisher.run(step, rate, plan.step_seconds)
    published = time.monotonic()
    end_ns = time.monotonic_ns()
    expected = sent * subscribers
    deadline = published + plan.drain_seconds
    count = 0
    while time.monotonic() < deadline:
        count = await worker.ask("count", step)
        if count >= expected or not server.alive():
            break
        await asyncio.sleep(0.1)
    finished = time.monotonic()
    user_after, kernel_after = server.cpu_split() if server.alive() else (user_before, kernel_before)
    cpu_after = user_after + kernel_after
    stats = await worker.ask("stats", step, start_ns, end_ns)
    count = stats["count"]
    ratio = count / expected if expected else 0.0
    window = (end_ns - start_ns) / 1e9
    server_cpu = cpu_after - cpu_before
    loadgen_cpu = (stats["cpu_seconds"] - before["cpu_seconds"]) / (finished - started)
    clean = count >= expected and stats["p99_ms"] is not None and stats["p99_ms"] < P99_LIMIT_MS
    return {
        "rate": rate,
        "published": sent,
        "acked": publisher.acked,
        "expected": expected,
        "delivered": count,
        "ratio": ratio,
        "deliveries_per_s": stats["arrived_in_window"] / window,
        "per_frame": stats["arrived_in_window"] / stats["frames_in_window"] if stats["frames_in_window"] else None,
        "p50_ms": stats["p50_ms"],
        "p99_ms": stats["p99_ms"],
        "max_ms": stats["max_ms"],
        "server_cpu_s": server_cpu,
        "server_cpu_share": server_cpu / (finished - started),
        "cpu_ms_per_1k": server_cpu * 1e6 / count if count else None,
        # user-space versus kernel share: the kernel part is mostly the socket writes, which every server pays
        "user_ms_per_1k": (user_after - user_before) * 1e6 / count if count else None,
        "kernel_ms_per_1k": (kernel_after - kernel_before) * 1e6 / count if count else None,
        "loadgen_cpu": loadgen_cpu,
        "publisher_cpu": (cpu_seconds(os.getpid()) - own_cpu_before) / (finished - started),
        "drain_s": finished - published,
        "open_sockets": stats["open_sockets"],
        "long_polls": stats["long_polls"],
        "errors": stats["errors"],
        "out_of_order": stats["out_of_order"],
        "clean": clean,
    }


async def _idle(server: Server, plan: Plan, result: Result) -> None:
    count = plan.idle_connections
    warmup = 10
    worker = Worker({"kind": "idle", "url": server.url, "count": count, "warmup": warmup})
    try:
        _, warm = await worker.receive(plan.setup_timeout)
        await asyncio.sleep(plan.settle_seconds)
        rss_before = server.rss_kb()
        _, ready, seconds, failures = await worker.ask("go", within=plan.setup_timeout)
        log(f"{server.name} idle: {ready}/{count} connections ready in {seconds:.1f} s")
        await asyncio.sleep(plan.settle_seconds)
        health = await worker.ask("health")
        rss_after = server.rss_kb()
        result.setup.update(connections=ready, wanted=count, warmup=warm, seconds=round(seconds, 1), failures=failures)
        result.memory = {
            "rss_before_kb": rss_before,
            "rss_after_kb": rss_after,
            "connections": ready,
            "open_sockets": health["open_sockets"],
            "kb_per_connection": (rss_after - rss_before) / ready if ready else None,
        }
        log(f"{server.name} idle: RSS {rss_before} -> {rss_after} KiB, "
            f"{result.memory['kb_per_connection'] or 0:.1f} KiB per connection")
    finally:
        await worker.stop()


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f} ms"
