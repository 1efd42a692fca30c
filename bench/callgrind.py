"""``python -m bench.callgrind``: instructions the broker executes per delivery, counted by callgrind.

    .venv/bin/python -m bench.callgrind                          # both scenarios, two runs each (~4 min)
    .venv/bin/python -m bench.callgrind --scenario websocket --runs 1
    .venv/bin/python -m bench.callgrind --json                   # machine-readable, on stdout
    .venv/bin/python -m bench.callgrind --keep-dumps /tmp/cg     # keep the window's dumps for callgrind_annotate

Why instructions: CPU time on a shared 2-core machine moves by 10-30% from one run to the next
(other work, frequency scaling, cache neighbours), which hides the few-percent changes a
redesign of the delivery path is about. The number of instructions the server process
executes (callgrind's ``Ir``) for a fixed piece of work does not depend on the machine's
load: with the same code, inputs, hash seed and environment it comes out within a fraction
of a percent every time. It is not time (a cache miss costs more than an add), but for the
same workload a lower count is less work.

How: the broker CLI (``<venv>/bin/bayeux-broker serve --host 127.0.0.1 --port PORT --no-demo
--store memory --timeout 3600 --log-level warning``, the same uvicorn fast WebSocket path as
``make serve``) runs under ``valgrind --tool=callgrind`` with a fixed environment
(``PYTHONHASHSEED=0``, ``LC_ALL=C.UTF-8``, nothing inherited but ``PATH``). The clients are
the bench's own load generator (:mod:`bench.loadgen`, subscribers in a :mod:`bench.worker`
process), natively. Each run starts a fresh server. Around each measured window the harness
waits until the server is idle (no CPU for a while, by ``/proc/<pid>/stat``; uvicorn's 5 s
keep-alive timeout has closed the set-up HTTP connections), then ``callgrind_control --dump``
resets the counters (that dump is thrown away; a dump rather than ``-z``, see
:meth:`CallgrindServer.zero`), the work is done, and a second ``callgrind_control --dump``
writes the window's counts; the ``summary:`` line of that dump is the server's instructions
in the window (all threads). Warm-up work of the same kind runs before every window.

Scenarios (one row each):

- ``websocket``: 200 WebSocket subscribers (handshake over HTTP, WebSocket, ``/meta/connect``,
  ``/meta/subscribe`` to one channel); one WebSocket publisher publishes 50 messages at
  10 msg/s (light load: each publish is written to the sockets while its recipients are
  walked, one message a frame); the window ends when all 200 x 50 deliveries and the 50
  publish acknowledgements have arrived. Figure: instructions per WebSocket delivery.
- ``lp-publish`` (of ``--scenario long-polling``): one long-polling client (handshaken, no
  ``/meta/connect``) sends 200 publish requests, one HTTP POST each, sequentially on one
  keep-alive connection, to a channel nobody subscribes to. Figure: instructions per request
  (HTTP parsing, routing, the Bayeux publish and its reply).
- ``lp-connect`` (of ``--scenario long-polling``): 200 long-polling subscribers, each with a
  held ``/meta/connect``; the WebSocket publisher publishes 10 messages, one at a time, and
  after each the harness waits until every subscriber has its delivery and the server is
  idle again (every subscriber's next ``/meta/connect`` is held). Figure: instructions per
  long-polling request, that is per cycle of "a held connect answered by a delivery, plus the
  next connect received and held" (the publish, 1/200 of a cycle, is included).

The window also contains what the server does on its own while it is idle: uvicorn's 0.1 s
tick and the memory engine's 2 s client sweep. Each run measures that first (zero, 4 s
idle, dump) and reports it, with the per-unit figure net of it (``net``). The headline is the
raw figure: the idle rate itself moves by up to 20% between measurements (the sweep and the
ticks drift against each other), so ``net`` is no steadier; it says how much of a figure is
the server's own idling (about 3.5% of ``websocket``, under 1% of the others).

Everything listens on 127.0.0.1; the run stops by itself (every wait is bounded), and the
server (its whole process group) and the subscriber process are stopped on every exit path,
SIGTERM and Ctrl-C included; if this process is killed outright, ``setpriv --pdeathsig KILL``
(util-linux) still takes valgrind down with it (only the temporary directory is left).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.loadgen import BayeuxError, LongPollConnection, Publisher, handshake
from bench.servers import ROOT, free_port
from bench.system import CLOCK_TICKS, cpu_seconds, git_state, raise_nofile_limit, run_event_loop, stop_on_signals
from bench.worker import Worker

__all__ = ["Measurement", "Settings", "main"]

SCENARIOS = ("websocket", "long-polling")
READY = re.compile(rb"listening on (http://\S+)")
SUMMARY = re.compile(rb"^summary:\s*(\d+)", re.MULTILINE)
TOTALS = re.compile(rb"^totals:\s*(\d+)", re.MULTILINE)
START_TIMEOUT = 180.0
"""Seconds for the server to print its banner under valgrind (about 15 s here)."""
SETUP_TIMEOUT = 300.0
"""Seconds for the subscribers to be set up (each request runs ~50x slower under callgrind)."""
WINDOW_TIMEOUT = 300.0
"""Seconds for the deliveries of a window to arrive."""
IDLE_TIMEOUT = 120.0
KEEPALIVE_SETTLE = 6.0
"""uvicorn closes idle keep-alive HTTP connections after 5 s: the set-up ones are gone after this."""
IDLE_QUIET = 1.0
"""The server is idle when it used at most IDLE_CPU_SHARE of a core over this many seconds."""
IDLE_CPU_SHARE = 0.10
BACKGROUND_SECONDS = 4.0
"""Two periods of the memory engine's 2 s client sweep, so each measurement holds the same number."""
CONTROL_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
LP_PUBLISH_CHANNEL = "/bench/lp-publish"

class HarnessError(RuntimeError):
    """The run could not measure what it set out to (the server died, deliveries went missing)."""


@dataclass
class Settings:
    python: Path
    subscribers: int = 200
    messages: int = 50
    rate: float = 10.0
    warmup_messages: int = 3
    lp_requests: int = 200
    lp_subscribers: int = 200
    lp_messages: int = 10
    timeout: float = 3600.0
    """The broker's ``--timeout``: no held connect times out (and is re-sent) during a run."""


@dataclass
class Measurement:
    scenario: str
    unit: str
    run: int
    instructions: int
    units: int
    window_s: float
    background_ir_per_s: float
    deliveries_per_frame: float | None = None
    """WebSocket only: 1.0 when every delivery had its own frame (the light-load path)."""
    per_unit: float = field(init=False)
    net_per_unit: float = field(init=False)

    def __post_init__(self) -> None:
        self.per_unit = self.instructions / self.units
        net = self.instructions - self.background_ir_per_s * self.window_s
        self.net_per_unit = net / self.units


def log(message: str) -> None:
    print(f"callgrind: {message}", file=sys.stderr, flush=True)


# -- the server under callgrind ------------------------------------------------------------


_running: set[CallgrindServer] = set()


@atexit.register
def _stop_leftovers() -> None:
    """A server still running when the harness exits (an error, a signal) is stopped too."""
    for server in list(_running):
        server.stop()


class CallgrindServer:
    """``bayeux-broker serve`` under ``valgrind --tool=callgrind``, in its own process group."""

    def __init__(self, settings: Settings, workdir: Path) -> None:
        self.workdir = workdir
        self.vgdb_prefix = str(workdir / "vgdb-pipe")
        self.out_base = workdir / "callgrind.out"
        self.log_path = workdir / "server.log"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/faye"
        script = settings.python.parent / "bayeux-broker"
        if not script.exists():
            raise HarnessError(f"{script} not found: install the project into that venv (pip install -e .)")
        valgrind = shutil.which("valgrind")
        if valgrind is None or shutil.which("callgrind_control") is None:
            raise HarnessError("valgrind and callgrind_control are required (apt-get install valgrind)")
        # setpriv (util-linux): valgrind gets SIGKILL if this process dies without cleaning up
        setpriv = shutil.which("setpriv")
        self.command = [
            *([setpriv, "--pdeathsig", "KILL"] if setpriv else []),
            valgrind, "--tool=callgrind", f"--callgrind-out-file={self.out_base}", "--vgdb=yes",
            f"--vgdb-prefix={self.vgdb_prefix}",
            # the script's own interpreter, named explicitly: the same process whether or not
            # valgrind would follow the #! line
            str(settings.python), str(script), "serve", "--host", "127.0.0.1", "--port", str(self.port),
            "--no-demo", "--store", "memory", "--timeout", f"{settings.timeout:g}", "--log-level", "warning",
        ]
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(workdir),
            "TMPDIR": str(workdir),
            "LC_ALL": "C.UTF-8",
            "PYTHONHASHSEED": "0",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        with open(self.log_path, "wb") as out:
            self.process = subprocess.Popen(self.command, cwd=workdir, env=env, stdout=out, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True)
        self.pid = self.process.pid
        _running.add(self)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if READY.search(self.log_path.read_bytes()):
                return
            if not self.alive():
                break
            time.sleep(0.2)
        raise HarnessError(f"the broker did not start under valgrind:\n{self.log_tail()}")

    def alive(self) -> bool:
        return self.process.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    def control(self, *args: str) -> str:
        if not self.alive():
            raise HarnessError(f"the broker exited (status {self.process.returncode}):\n{self.log_tail()}")
        done = subprocess.run(["callgrind_control", f"--vgdb-prefix={self.vgdb_prefix}", *args, str(self.pid)],
                              capture_output=True, text=True, timeout=CONTROL_TIMEOUT, stdin=subprocess.DEVNULL)
        if done.returncode != 0 or "OK" not in done.stdout:
            raise HarnessError(f"callgrind_control {' '.join(args)} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def zero(self) -> None:
        """Start a window: dump the counters so far and throw that dump away.

        A dump resets every counter. ``callgrind_control --zero`` would too, but it leaves
        stale costs behind in the next dump's cost lines (valgrind 3.19: their sum, the
        ``totals:`` line, came out 3-5 million instructions above the ``summary:`` line after
        a zero, and equal to it after a dump), which would mislead callgrind_annotate.
        """
        self.dump()[1].unlink()

    def dump(self) -> tuple[int, Path]:
        """Dump the counters since the last dump; returns the instruction count and the dump file."""
        before = set(self.workdir.glob("callgrind.out.*"))
        self.control("--dump")
        deadline = time.monotonic() + CONTROL_TIMEOUT
        while time.monotonic() < deadline:
            for path in sorted(set(self.workdir.glob("callgrind.out.*")) - before):
                text = path.read_bytes()
                summary, totals = SUMMARY.search(text), TOTALS.search(text)
                if summary and totals:  # totals: is the last line, so the file is complete
                    if summary.group(1) != totals.group(1):
                        log(f"warning: {path.name}: summary {int(summary.group(1)):,} but totals "
                            f"{int(totals.group(1)):,}")
                    return int(summary.group(1)), path
            time.sleep(0.1)
        raise HarnessError("callgrind wrote no complete dump")

    def stop(self) -> None:
        """SIGTERM to the whole process group, then SIGKILL; never leaves valgrind behind."""
        _running.discard(self)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(STOP_TIMEOUT)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10.0)


async def wait_idle(server: CallgrindServer, within: float = IDLE_TIMEOUT) -> None:
    """Until the server used at most IDLE_CPU_SHARE of a core over IDLE_QUIET seconds."""
    deadline = time.monotonic() + within
    samples: list[tuple[float, float]] = []
    limit = max(IDLE_CPU_SHARE * IDLE_QUIET, 1.5 / CLOCK_TICKS)
    while time.monotonic() < deadline:
        if not server.alive():
            raise HarnessError(f"the broker exited:\n{server.log_tail()}")
        now = time.monotonic()
        samples.append((now, server.cpu()))
        old = [s for s in samples if now - s[0] >= IDLE_QUIET]
        if old and samples[-1][1] - old[-1][1] <= limit:
            return
        await asyncio.sleep(0.1)
    raise HarnessError(f"the broker did not become idle within {within:.0f} s")


async def settle(server: CallgrindServer) -> None:
    await asyncio.sleep(KEEPALIVE_SETTLE)
    await wait_idle(server)


async def until(what: str, check: Callable[[], Awaitable[bool]], server: CallgrindServer,
                within: float = WINDOW_TIMEOUT) -> None:
    deadline = time.monotonic() + within
    while not await check():
        if not server.alive():
            raise HarnessError(f"the broker exited while waiting for {what}:\n{server.log_tail()}")
        if time.monotonic() > deadline:
            raise HarnessError(f"timed out after {within:.0f} s waiting for {what}")
        await asyncio.sleep(0.05)


async def background_rate(server: CallgrindServer) -> float:
    """Instructions per second the idle server spends on its own (timers)."""
    server.zero()
    started = time.monotonic()
    await asyncio.sleep(BACKGROUND_SECONDS)
    instructions, _ = server.dump()
    return instructions / (time.monotonic() - started)


class Window:
    """A measured window: created, it zeroes the counters; :meth:`close` dumps them and times it."""

    def __init__(self, server: CallgrindServer, keep: Path | None, name: str) -> None:
        self.server, self.keep, self.name = server, keep, name
        self.instructions = 0
        self.seconds = 0.0
        server.zero()
        self.started = time.monotonic()

    def close(self) -> None:
        self.instructions, path = self.server.dump()
        self.seconds = time.monotonic() - self.started
        if self.keep is not None:
            self.keep.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, self.keep / f"callgrind.out.{self.name}")


# -- scenarios -----------------------------------------------------------------------------


async def worker_count(worker: Worker, step: int) -> int:
    return int(await worker.ask("count", step))


async def check_worker(worker: Worker, wanted_sockets: int = 0, wanted_polls: int = 0) -> None:
    health = await worker.ask("health")
    problems = {k: health[k] for k in ("errors", "connect_failures", "out_of_order") if health[k]}
    if health["open_sockets"] < wanted_sockets or health["long_polls"] < wanted_polls:
        problems["open"] = (health["open_sockets"], health["long_polls"])
    if problems:
        raise HarnessError(f"the subscribers saw problems: {problems}")


async def open_worker(kind: str, server: CallgrindServer, count: int) -> Worker:
    worker = Worker({"kind": kind, "url": server.url, "count": count})
    try:
        _, ready, seconds, failures = await worker.receive(SETUP_TIMEOUT)
    except BaseException:
        await worker.stop()
        raise
    log(f"{ready}/{count} {kind} subscribers ready in {seconds:.1f} s")
    if ready != count:
        await worker.stop()
        raise HarnessError(f"only {ready} of {count} subscribers could be set up: {failures}")
    return worker


async def open_publisher(server: CallgrindServer) -> Publisher:
    async with httpx.AsyncClient(timeout=60.0) as http:
        return await Publisher.open(http, server.url)


async def publish(publisher: Publisher, step: int, count: int, rate: float, server: CallgrindServer) -> None:
    acked = publisher.acked
    sent = await publisher.run(step, rate, count / rate)

    async def all_acked() -> bool:
        return publisher.acked - acked >= sent or publisher.failed > 0

    await until("publish acknowledgements", all_acked, server)
    if publisher.failed:
        raise HarnessError(f"{publisher.failed} publishes failed")


async def run_websocket(server: CallgrindServer, settings: Settings, run: int, keep: Path | None) -> list[Measurement]:
    n, messages = settings.subscribers, settings.messages
    worker = await open_worker("ws", server, n)
    publisher: Publisher | None = None
    try:
        publisher = await open_publisher(server)
        warm_step, step = 1, 0
        if settings.warmup_messages:
            await publish(publisher, warm_step, settings.warmup_messages, settings.rate, server)
            await until("warm-up deliveries",
                        lambda: _at_least(worker, warm_step, n * settings.warmup_messages), server)
        await settle(server)
        background = await background_rate(server)
        await wait_idle(server)
        window = Window(server, keep, f"websocket.{run}")
        start_ns = time.monotonic_ns()
        await publish(publisher, step, messages, settings.rate, server)
        await until("deliveries", lambda: _at_least(worker, step, n * messages), server)
        window.close()
        stats = await worker.ask("stats", step, start_ns, time.monotonic_ns())
        delivered = stats["count"]
        if delivered != n * messages:
            raise HarnessError(f"{delivered} deliveries, expected {n * messages}")
        frames = stats["frames_in_window"]
        per_frame = stats["arrived_in_window"] / frames if frames else None
        if per_frame != 1.0:
            log(f"warning: {per_frame} deliveries per frame: the server coalesced publishes (it fell behind "
                f"under valgrind?), so this is not the light-load path; try a lower --rate")
        await check_worker(worker, wanted_sockets=n)
    finally:
        if publisher is not None:
            publisher.close()
        await worker.stop()
    return [Measurement("websocket", "WebSocket delivery", run, window.instructions, delivered, window.seconds,
                        background, per_frame)]


async def _at_least(worker: Worker, step: int, wanted: int) -> bool:
    return await worker_count(worker, step) >= wanted


async def run_long_polling(server: CallgrindServer, settings: Settings, run: int,
                           keep: Path | None) -> list[Measurement]:
    results = [await _lp_publish(server, settings, run, keep)]
    results.append(await _lp_connect(server, settings, run, keep))
    return results


async def _lp_publish(server: CallgrindServer, settings: Settings, run: int, keep: Path | None) -> Measurement:
    async with httpx.AsyncClient(timeout=60.0) as http:
        client_id = await handshake(http, server.url)
    await wait_idle(server)
    # before the connection is opened: uvicorn closes a keep-alive connection idle for 5 s
    background = await background_rate(server)
    connection = await LongPollConnection.open(server.url)
    number = 0

    async def one() -> None:
        nonlocal number
        number += 1
        body = b'[{"channel":"%s","clientId":"%s","data":{"n":%d},"id":"%d"}]' % (
            LP_PUBLISH_CHANNEL.encode(), client_id.encode(), number, number)
        status, payload, _ = await asyncio.wait_for(connection.post(body), WINDOW_TIMEOUT)
        replies = json.loads(payload) if status == 200 else []
        if not any(r.get("channel") == LP_PUBLISH_CHANNEL and r.get("successful") for r in replies):
            raise HarnessError(f"publish over HTTP failed: HTTP {status} {payload[:200]!r}")

    try:
        for _ in range(10):  # warm-up
            await one()
        # the handshake's connection is closed; this one stays open if the wait is under 5 s
        await wait_idle(server, within=4.0)
        window = Window(server, keep, f"lp-publish.{run}")
        for _ in range(settings.lp_requests):
            await one()
        window.close()
    finally:
        connection.close()
    return Measurement("lp-publish", "long-polling publish POST", run, window.instructions, settings.lp_requests,
                       window.seconds, background)


async def _lp_connect(server: CallgrindServer, settings: Settings, run: int, keep: Path | None) -> Measurement:
    n = settings.lp_subscribers
    worker = await open_worker("lp", server, n)
    publisher: Publisher | None = None
    try:
        publisher = await open_publisher(server)
        delivered = 0

        async def round_trip(step: int) -> None:
            nonlocal delivered
            assert publisher is not None
            await publish(publisher, step, 1, 1.0, server)
            delivered += n
            await until("long-polling deliveries", lambda: _at_least(worker, step, delivered), server)
            await wait_idle(server)  # every subscriber's next /meta/connect is in and held

        for _ in range(2):  # warm-up, on its own step
            await round_trip(1)
        delivered = 0
        await settle(server)
        background = await background_rate(server)
        await wait_idle(server)
        window = Window(server, keep, f"lp-connect.{run}")
        for _ in range(settings.lp_messages):
            await round_trip(0)
        window.close()
        got = await worker_count(worker, 0)
        if got != n * settings.lp_messages:
            raise HarnessError(f"{got} long-polling deliveries, expected {n * settings.lp_messages}")
        await check_worker(worker, wanted_polls=n)
    finally:
        if publisher is not None:
            publisher.close()
        await worker.stop()
    return Measurement("lp-connect", "long-polling connect answered by a delivery", run, window.instructions,
                       n * settings.lp_messages, window.seconds, background)


RUNNERS: dict[str, Callable[[CallgrindServer, Settings, int, Path | None], Awaitable[list[Measurement]]]] = {
    "websocket": run_websocket,
    "long-polling": run_long_polling,
}


async def run_one(scenario: str, settings: Settings, run: int, keep: Path | None) -> list[Measurement]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-callgrind-"))
    server: CallgrindServer | None = None
    try:
        server = CallgrindServer(settings, workdir)
        started = time.monotonic()
        await asyncio.get_running_loop().run_in_executor(None, server.wait_ready)
        log(f"{scenario} run {run}: broker ready under callgrind in {time.monotonic() - started:.1f} s "
            f"(pid {server.pid}, {server.url})")
        return await RUNNERS[scenario](server, settings, run, keep)
    except (HarnessError, BayeuxError, OSError, TimeoutError, httpx.HTTPError) as exc:
        tail = server.log_tail() if server is not None else ""
        raise HarnessError(f"{scenario} run {run} failed: {exc!r}\nserver log tail:\n{tail}") from exc
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


async def run_all(scenarios: Sequence[str], settings: Settings, runs: int, keep: Path | None) -> list[Measurement]:
    results: list[Measurement] = []
    for scenario in scenarios:
        for run in range(1, runs + 1):
            started = time.monotonic()
            measured = await run_one(scenario, settings, run, keep)
            for m in measured:
                log(f"{m.scenario} run {run}: {m.instructions:,} Ir / {m.units:,} = {m.per_unit:,.0f} per "
                    f"{m.unit} (net of idle {m.net_per_unit:,.0f}; window {m.window_s:.1f} s, idle "
                    f"{m.background_ir_per_s:,.0f} Ir/s) [{time.monotonic() - started:.0f} s]")
            results += measured
    return results


# -- output --------------------------------------------------------------------------------


def summarize(results: Sequence[Measurement]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for scenario in dict.fromkeys(m.scenario for m in results):
        runs = [m for m in results if m.scenario == scenario]
        values = [m.per_unit for m in runs]
        mean = sum(values) / len(values)
        net = [m.net_per_unit for m in runs]
        rows.append({
            "scenario": scenario,
            "unit": runs[0].unit,
            "units": runs[0].units,
            "per_unit": values,
            "mean": mean,
            "spread": (max(values) - min(values)) / mean if mean else 0.0,
            "net_per_unit": net,
            "net_spread": (max(net) - min(net)) / (sum(net) / len(net)) if sum(net) else 0.0,
        })
    return rows


def table(rows: Sequence[dict[str, Any]]) -> str:
    lines = ["| scenario | instructions per | runs | mean | spread | net of idle |",
             "|---|---|---|---:|---:|---|"]
    for row in rows:
        runs = ", ".join(f"{v:,.0f}" for v in row["per_unit"])
        net = ", ".join(f"{v:,.0f}" for v in row["net_per_unit"])
        lines.append(f"| {row['scenario']} | {row['unit']} ({row['units']:,} in a window) | {runs} | "
                     f"{row['mean']:,.0f} | {row['spread']:.2%} | {net} |")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.callgrind", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenario", action="append", choices=SCENARIOS,
                        help="run this scenario (repeatable; default: both)")
    parser.add_argument("--runs", type=int, default=2, help="fresh servers per scenario (default 2)")
    parser.add_argument("--python", type=Path, default=Path(sys.executable),
                        help="the venv interpreter whose bayeux-broker script to run (default: this one)")
    parser.add_argument("--subscribers", type=int, default=200, help="WebSocket subscribers (default 200)")
    parser.add_argument("--messages", type=int, default=50, help="messages published in the window (default 50)")
    parser.add_argument("--rate", type=float, default=10.0, help="publish rate, msg/s (default 10)")
    parser.add_argument("--lp-requests", type=int, default=200, help="publish POSTs of lp-publish (default 200)")
    parser.add_argument("--lp-subscribers", type=int, default=200,
                        help="long-polling subscribers of lp-connect (default 200)")
    parser.add_argument("--lp-messages", type=int, default=10, help="messages of lp-connect (default 10)")
    parser.add_argument("--keep-dumps", type=Path, help="copy each window's callgrind dump into this directory")
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout")
    args = parser.parse_args(argv)
    for name in ("runs", "subscribers", "messages", "lp_requests", "lp_subscribers", "lp_messages"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.rate <= 0:
        parser.error("--rate must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    stop_on_signals()
    raise_nofile_limit()
    python = args.python if args.python.is_absolute() else Path.cwd() / args.python
    settings = Settings(python=python, subscribers=args.subscribers, messages=args.messages, rate=args.rate,
                        lp_requests=args.lp_requests, lp_subscribers=args.lp_subscribers,
                        lp_messages=args.lp_messages)
    scenarios = args.scenario or list(SCENARIOS)
    started = time.monotonic()
    try:
        results = run_event_loop(run_all(scenarios, settings, args.runs, args.keep_dumps))
    except HarnessError as exc:
        log(str(exc))
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    rows = summarize(results)
    meta = {
        "git": git_state(ROOT),
        "python": str(python),
        "valgrind": subprocess.run(["valgrind", "--version"], capture_output=True, text=True).stdout.strip(),
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(settings).items()},
        "minutes": round((time.monotonic() - started) / 60, 1),
    }
    if args.json:
        print(json.dumps({"meta": meta, "summary": rows, "runs": [asdict(m) for m in results]}, indent=1))
    else:
        print(f"callgrind instruction counts at {meta['git']} ({meta['valgrind']}, {meta['minutes']} min)")
        print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
