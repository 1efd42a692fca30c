"""``python -m bench``: run the scenarios against our broker and faye 1.4.3, one server at a time.

    .venv/bin/python -m bench                      # full run (~9 min, under 15), writes docs/benchmarks.md
    .venv/bin/python -m bench --quick              # smoke run (under 1 min), results in bench/results/
    .venv/bin/python -m bench --only ours --scenario ws-fanout
    BENCH_PROFILE=1 .venv/bin/python -m bench --only ours --scenario ws-fanout   # + cProfile of ours
    .venv/bin/python -m bench --scenario redis-fanout   # two brokers on one Redis vs two faye-redis nodes
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.metadata
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

from bench.cluster import CLUSTER_SCENARIOS, run_cluster
from bench.cluster_report import cluster_tables
from bench.loadgen import BayeuxError
from bench.report import markdown_tables
from bench.scenarios import SCENARIOS, Plan, run_scenario
from bench.servers import RESULTS_DIR, ROOT, SERVERS, ServerError, command_line, ensure_faye, start_server
from bench.system import event_loop_name, git_state, raise_nofile_limit, run_event_loop, stop_on_signals

DOCS = ROOT / "docs" / "benchmarks.md"
BEGIN = "<!-- bench:results:begin -->"
END = "<!-- bench:results:end -->"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a short smoke run with small numbers")
    parser.add_argument("--only", choices=SERVERS, help="run against one server only")
    parser.add_argument("--scenario", action="append", choices=SCENARIOS,
                        help="run this scenario (repeatable; default: all)")
    parser.add_argument("--rates", help="comma-separated publish rates in msg/s for the fan-out steps")
    parser.add_argument("--step-seconds", type=float, help="seconds of publishing per fan-out step")
    parser.add_argument("--lp-client", choices=("raw", "httpx"), default="raw",
                        help="HTTP client of the long-polling subscribers (default raw: httpx costs ~1 ms CPU a "
                             "request, more than the servers, and becomes the bottleneck)")
    parser.add_argument("--docs", choices=("auto", "yes", "no"), default="auto",
                        help="write docs/benchmarks.md (auto: only for a full run of everything)")
    return parser.parse_args(argv)


def make_plan(args: argparse.Namespace) -> Plan:
    plan = Plan.quick() if args.quick else Plan()
    if args.rates:
        plan.rates = plan.cluster_rates = tuple(float(r) for r in args.rates.split(",") if r.strip())
    if args.step_seconds:
        plan.step_seconds = args.step_seconds
    plan.lp_client = args.lp_client
    return plan


def load_average() -> str:
    with contextlib.suppress(OSError), open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])
    return "?"


def library_versions() -> str:
    found = []
    for name in ("uvicorn", "starlette", "websockets", "orjson", "httptools", "uvloop"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found.append(f"{name} {importlib.metadata.version(name)}")
    return ", ".join(found)


def native_note(results: list[dict[str, Any]]) -> str:
    native = next((r["setup"]["native"] for r in results if r["setup"].get("native")), None)
    if not native:
        return ""
    used = [name for name, loaded in native.items() if loaded]
    return f"; our server process loaded {', '.join(used) if used else 'neither uvloop nor httptools'}"


async def run_all(scenarios: Sequence[str], servers: Sequence[str], plan: Plan) -> list[dict[str, Any]]:
    results = []
    for scenario in scenarios:
        if scenario in CLUSTER_SCENARIOS:  # several processes on one Redis: bench/cluster.py
            results += await run_cluster(servers, plan)
            continue
        for name in servers:
            print(f"bench: --- {scenario} against {name} ---", flush=True)
            server = start_server(name, scenario)
            try:
                results.append(await run_scenario(scenario, server, plan))
            except (RuntimeError, OSError, TimeoutError, BayeuxError) as exc:
                print(f"bench: {scenario} against {name} failed: {exc!r}", file=sys.stderr, flush=True)
                results.append({"scenario": scenario, "server": name, "setup": {}, "steps": [], "memory": {},
                                "notes": [f"the run failed: {exc!r}; server log tail:\n{server.log_tail()}"]})
            finally:
                server.stop()
            await asyncio.sleep(1.0)
    return results


def write_docs(tables: str, meta: dict[str, Any]) -> None:
    block = "\n".join([BEGIN, results_section(tables, meta), END])
    if DOCS.exists():
        text = DOCS.read_text()
        if BEGIN in text and END in text:
            head, rest = text.split(BEGIN, 1)
            DOCS.write_text(head + block + rest.split(END, 1)[1])
            return
    DOCS.parent.mkdir(exist_ok=True)
    DOCS.write_text(DOCS_TEMPLATE.format(results=block))


def results_section(tables: str, meta: dict[str, Any]) -> str:
    return "\n".join([
        f"## Results of {meta['date']}",
        "",
        f"- Command: `{meta['command']}`{' (what `make bench` runs)' if meta.get('full') else ''}, "
        f"{meta['duration_min']:.1f} min.",
        f"- Machine: {meta['cpus']} cores, Linux {meta['kernel']}, Python {meta['python']}, Node {meta['node']}; "
        f"load average at start {meta['load_start']}, at end {meta['load_end']}; load generator on {meta['loop']}.",
        *([f"- ours: `{command_line('ours')}` at {meta['git']} ({meta['libraries']}{meta.get('native', '')})."]
          if "ours" in meta["servers"] else []),
        *([f"- faye {meta['faye']}: `{command_line('faye')}` (plain NodeAdapter, mount /faye, timeout 60)."]
          if "faye" in meta["servers"] else []),
        "",
        tables,
    ])


DOCS_TEMPLATE = """# Benchmarks: bayeux-broker against faye 1.4.3

`make bench` (that is, `.venv/bin/python -m bench`) runs the same scenarios against our broker and
against the faye 1.4.3 Node server (`bench/faye_server.js`, installed by the bench from
`bench/package-lock.json` with `npm ci`), one server at a time, each freshly started on a free
loopback port, and prints the tables below. A full run of everything rewrites the results
section of this page (between the `bench:results` markers); the rest of the page is kept.

    make bench                                               # full run, about 4 minutes, under 10
    .venv/bin/python -m bench --quick                        # smoke run, under 1 minute
    .venv/bin/python -m bench --only ours --scenario ws-fanout
    .venv/bin/python -m bench --scenario lp-fanout --rates 10,50,200 --step-seconds 4
    BENCH_PROFILE=1 .venv/bin/python -m bench --only ours --scenario ws-fanout

`BENCH_PROFILE=1` runs our broker under cProfile and leaves `bench/results/ours-<scenario>.prof`
and a text summary (`.txt`) beside it; cProfile slows the broker several times, so use it to
see where time goes, not for figures. Raw figures of every run are kept in
`bench/results/run-*.json` (`last.json` and `last.md` are the latest run; bench/results/ is not
committed).

## What is measured

The load generator (`bench/loadgen.py`) speaks raw Bayeux: a handshake over HTTP POST (httpx),
then either a WebSocket (`/meta/connect` with `connectionType: websocket`, re-sent whenever its
reply arrives, and `/meta/subscribe`; faye framing, every frame a JSON array) or long-polling
(`/meta/connect` in a loop over HTTP POST, one keep-alive connection per subscriber). One
publisher publishes over a WebSocket; each message's data carries a step number, a sequence
number and its send time (`time.monotonic_ns()`, one clock for every process on the machine).
Subscribers run in a separate process from the publisher.

- **WebSocket fan-out**: 1,000 subscribers on one channel; the publish rate steps up
  (10, 20, 50, 100, 200, 400, 800 msg/s, 6 s each, then up to 3 s to drain) and stops after the
  first step that falls behind. A step is *clean* when every message reached every subscriber
  and p99 latency is under 250 ms. Per step: deliveries/s (arrivals during the publishing
  window), share delivered, messages per frame (or per long-poll response), p50/p99 latency
  (publish to receipt), server CPU time per 1,000 deliveries (`/proc/<pid>/stat`, all
  threads), server CPU share (one core = 100%) and the subscriber process's own CPU share.
- **Long-polling fan-out**: the same with 200 long-polling subscribers.
- **Idle connections**: 2,000 WebSocket clients handshaken, connected and subscribed; server
  RSS (`VmRSS` in `/proc/<pid>/status`) after minus before, divided by 2,000 (10 warm-up
  clients are opened before the "before" reading).

How to read it:

- faye writes every delivery in its own WebSocket frame; our broker puts the messages that
  reach a connection in the same loop turn into one frame. So under load our frames carry
  several messages ("msgs/frame"), and CPU per delivery falls as the rate rises. Compare CPU
  per delivery at the same rate, at rates both servers handle.
- Long-polling is self-limiting: when the server is busy, each poll simply returns more
  messages, so both servers "keep up" far beyond their request rate, and latency is the
  figure that shows the load.
- The long-polling subscribers use a minimal HTTP/1.1 client of the bench's own: httpx costs
  about 1 ms of CPU per request here, more than either server spends on it, and would measure
  itself (`--lp-client httpx` runs it anyway).
- Figures vary with machine load, and the load generator shares the 2 cores with the server:
  read "loadgen CPU" beside each step; near 100% the load generator, not the server, is the
  limit.

{results}
"""


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    stop_on_signals()
    raise_nofile_limit()
    plan = make_plan(args)
    scenarios = args.scenario or list(SCENARIOS)
    servers = [args.only] if args.only else list(SERVERS)
    full = not (args.quick or args.only or args.scenario or args.rates or args.step_seconds
                or args.lp_client != "raw")
    faye = "-"
    try:
        if "faye" in servers:
            faye = ensure_faye()
    except (ServerError, OSError) as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    given = sys.argv[1:] if argv is None else list(argv)
    command = ".venv/bin/python -m bench " + shlex.join(given)
    if full:
        command = ".venv/bin/python -m bench"
    meta: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "command": command.strip(),
        "cpus": os.cpu_count(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loop": event_loop_name(),
        "node": _node_version() if "faye" in servers else "-",
        "faye": faye,
        "load_start": load_average(),
        "git": git_state(ROOT),
        "servers": servers,
        "full": full,
        "libraries": library_versions(),
    }
    started = time.monotonic()
    try:
        results = run_event_loop(run_all(scenarios, servers, plan))
    except ServerError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    meta["duration_min"] = (time.monotonic() - started) / 60
    meta["load_end"] = load_average()
    meta["native"] = native_note(results)
    tables = markdown_tables(results) + cluster_tables(results)
    RESULTS_DIR.mkdir(exist_ok=True)
    raw = json.dumps({"meta": meta, "results": results}, indent=1)
    (RESULTS_DIR / "last.json").write_text(raw)
    (RESULTS_DIR / time.strftime("run-%Y%m%d-%H%M%S.json")).write_text(raw)
    (RESULTS_DIR / "last.md").write_text(results_section(tables, meta) + "\n")
    print()
    print(results_section(tables, meta))
    if args.docs == "yes" or (args.docs == "auto" and full):
        write_docs(tables, meta)
        print(f"bench: wrote {DOCS.relative_to(ROOT)}")
    else:
        print(f"bench: results in {(RESULTS_DIR / 'last.md').relative_to(ROOT)} (docs/benchmarks.md untouched)")
    return 0


def _node_version() -> str:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        return subprocess.run(["node", "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    return "?"


if __name__ == "__main__":
    sys.exit(main())
