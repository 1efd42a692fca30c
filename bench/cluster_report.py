"""Tables of the ``redis-fanout`` scenario: our two-broker cluster beside faye-redis, and one broker alone."""

from __future__ import annotations

from typing import Any

from bench.cluster import SCENARIO, command_lines, result_name
from bench.report import (
    STEP_COLUMNS,
    Column,
    _find,
    _num,
    _pct,
    _ratio,
    _step_at,
    _table,
    best_rate,
    limit_reached,
    step_table,
)
from bench.report import _problems as problems
from bench.scenarios import P99_LIMIT_MS

__all__ = ["CLUSTER_COLUMNS", "cluster_tables"]

Result = dict[str, Any]

CLUSTER_COLUMNS: list[Column] = [
    *STEP_COLUMNS[:2],
    *STEP_COLUMNS[3:6],
    ("Redis cmds/msg", lambda s: s.get("redis_calls_per_msg"), lambda v: _num(v, 1), True),
    ("Redis CPU ms/1k deliveries", lambda s: s.get("redis_cpu_ms_per_1k"), lambda v: _num(v, 1), True),
    ("server CPU", lambda s: s["server_cpu_share"], _pct, False),
    STEP_COLUMNS[-1],
]
"""As in ``ws-fanout`` (server CPU summed over the nodes), plus Redis commands and CPU; no msgs/frame."""


def _rate_cell(result: Result | None) -> str:
    best = best_rate(result)
    if best is None:
        return "-"
    return ("" if limit_reached(result) else ">=") + _num(best, 0)


def _at(result: Result | None, rate: float | None, key: str) -> float | None:
    step = _step_at(result, rate)
    return None if step is None else step.get(key)


def _latency(result: Result | None, rate: float | None) -> str:
    p50, p99 = _at(result, rate, "p50_ms"), _at(result, rate, "p99_ms")
    return "-" if p50 is None or p99 is None else f"{_num(p50, 1)} / {_num(p99, 1)}"


def summary_table(two: Result | None, faye: Result | None, one: Result | None) -> str:
    """Headline figures: ours (two nodes), faye-redis (two nodes), their ratio; ours on one node, two/one."""
    bests = [best_rate(r) for r in (two, faye)]
    known = [b for b in bests if b]
    common = min(known) if known else None
    lowest = min((s["rate"] for r in (two, faye, one) if r for s in r["steps"]), default=None)
    points = [lowest] if not common or common == lowest else [lowest, common]
    rows: list[list[str]] = []

    def add(label: str, values: list[float | None], digits: int = 1, cells: list[str] | None = None) -> None:
        shown = cells or [_num(v, digits) for v in values]
        rows.append([label, shown[0], shown[1], _ratio(values[0], values[1]), shown[2], _ratio(values[0], values[2])])

    results = (two, faye, one)
    add(f"highest rate, all delivered, p99 < {P99_LIMIT_MS:g} ms (msg/s)", [best_rate(r) for r in results],
        cells=[_rate_cell(r) for r in results])
    add("peak deliveries/s seen", [max((s["deliveries_per_s"] for s in r["steps"]), default=None) if r else None
                                   for r in results], digits=0)
    for rate in points:
        at = f"at {_num(rate, 0)} msg/s"
        rows.append([f"p50 / p99 latency {at} (ms)", *(_latency(r, rate) for r in results[:2]), "",
                     _latency(one, rate), ""])
        add(f"server CPU per 1,000 deliveries, all nodes, {at} (ms)", [_at(r, rate, "cpu_ms_per_1k") for r in results])
        add(f"Redis commands per published message {at}", [_at(r, rate, "redis_calls_per_msg") for r in results])
        add(f"redis-server CPU per 1,000 deliveries {at} (ms)",
            [_at(r, rate, "redis_cpu_ms_per_1k") for r in results])
    return _table(["metric", "ours, 2 nodes", "faye-redis, 2 nodes", "ours/faye", "ours, 1 node", "2 nodes/1 node"],
                  rows, right=[False, True, True, True, True, True])


def _setup(result: Result | None) -> str:
    if not result:
        return ""
    s = result["setup"]
    return (f"{result['server']}: {s.get('subscribers', 0)}/{s.get('wanted', 0)} subscribers over "
            f"{s.get('nodes', '?')} node(s) set up in {s.get('seconds', 0)} s")


def _commands(result: Result | None, rate: float | None) -> str:
    step = _step_at(result, rate)
    if not step or not step.get("redis_commands") or not step.get("published"):
        return ""
    top = list(step["redis_commands"].items())[:6]
    per = ", ".join(f"{name} {n / step['published']:.1f}" for name, n in top)
    return f"- {result['server'] if result else ''} at {_num(rate, 0)} msg/s, per published message: {per}."


def cluster_tables(results: list[Result]) -> str:
    """The ``redis-fanout`` section of the report ('' when the scenario did not run)."""
    two, faye, one = (_find(results, SCENARIO, result_name(name, nodes))
                      for name, nodes in (("ours", 2), ("faye", 2), ("ours", 1)))
    if not (two or faye or one):
        return ""
    lowest = min((s["rate"] for r in (two, faye, one) if r for s in r["steps"]), default=None)
    commands = command_lines()
    parts = [
        "", "### Redis cluster fan-out", "",
        f"Each run has a fresh redis-server of its own (`{commands['redis']}`). ours: two nodes (and one) of "
        f"`{commands['ours']}`; faye-redis: two nodes of `{commands['faye']}` (faye 1.4.3, faye-redis 0.2.0, "
        "redis 3.1.2 for Node). WebSocket subscribers are split over the nodes; the publisher is on the first node.",
        "", "; ".join(b for b in (_setup(two), _setup(faye), _setup(one)) if b) + ".", "",
        summary_table(two, faye, one), "",
        "#### ours (2 nodes) beside faye-redis (2 nodes)", "",
        step_table_pair(two, faye, ("ours", "faye")), "",
        "#### ours: one node beside two", "",
        step_table_pair(one, two, ("1 node", "2 nodes")), "",
        "`*` marks a step that fell behind; the run stops after it. Server CPU is summed over the nodes (one core = "
        "100%); Redis commands are every call in `INFO commandstats` during the step, those run inside Lua scripts "
        "included, divided by the messages published.", "",
        *(line for line in (_commands(r, lowest) for r in (two, faye, one)) if line), "",
        *problems(two, faye, one),
    ]
    return "\n".join(parts).rstrip() + "\n"


def step_table_pair(first: Result | None, second: Result | None, labels: tuple[str, str]) -> str:
    return step_table(first, second, columns=CLUSTER_COLUMNS, labels=labels)
