"""Start and stop the two servers under test, one at a time, on a free loopback port.

- ``ours``: ``<venv python> -m broker serve --host 127.0.0.1 --port PORT --timeout 60 --log-level warning``
  (with ``BENCH_PROFILE=1`` it runs under cProfile and leaves a profile in bench/results/).
- ``faye``: ``node bench/faye_server.js PORT`` (faye 1.4.3 from bench/package-lock.json; the
  bench runs ``npm ci`` in bench/ when bench/node_modules lacks faye or faye-redis).

With ``redis_port`` (the Redis cluster scenario, :mod:`bench.cluster`) ours gets
``--engine redis://127.0.0.1:REDIS_PORT/0`` and faye runs ``bench/faye_redis_server.js PORT
REDIS_PORT`` (faye-redis 0.2.0); ``label`` names the log of each node.

Each server writes its output to bench/results/<name>-<scenario>.log; it is ready when it
prints its ``listening on http://...`` line.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pstats
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.system import cpu_seconds, cpu_split, rss_kb

__all__ = ["BENCH_DIR", "RESULTS_DIR", "ROOT", "SERVERS", "Server", "ensure_faye", "faye_version", "free_port",
           "start_server"]

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_DIR = BENCH_DIR / "results"
SERVERS = ("ours", "faye")
READY = re.compile(rb"listening on (http://\S+)")
START_TIMEOUT = 30.0


class ServerError(RuntimeError):
    pass


_running: set[Server] = set()


@atexit.register
def _stop_leftovers() -> None:
    """Servers still running when the bench exits (an error, a signal) are stopped too."""
    for server in list(_running):
        server.stop()


@dataclass(eq=False)
class Server:
    name: str
    scenario: str
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    profile_path: Path | None = None
    url: str = field(init=False)

    def __post_init__(self) -> None:
        self.url = f"http://127.0.0.1:{self.port}/faye"

    @property
    def pid(self) -> int:
        return self.process.pid

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def cpu_split(self) -> tuple[float, float]:
        return cpu_split(self.pid)

    def rss_kb(self) -> int:
        return rss_kb(self.pid)

    def loaded(self, *names: str) -> dict[str, bool]:
        """Whether the process has mapped a shared library whose path mentions each name (uvloop, httptools)."""
        try:
            with open(f"/proc/{self.pid}/maps", encoding="utf-8", errors="replace") as maps:
                text = maps.read()
        except OSError:
            return {}
        return {name: f"/{name}/" in text for name in names}

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        _running.discard(self)
        if self.alive():
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15.0)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5.0)
        if self.profile_path is not None and self.profile_path.exists():
            _write_profile_summary(self.profile_path)

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _command(name: str, port: int, profile_path: Path | None, redis_port: int | None = None) -> list[str]:
    if name == "ours":
        runner = [sys.executable]
        if profile_path is not None:
            runner += ["-m", "cProfile", "-o", str(profile_path)]
        engine = [] if redis_port is None else ["--engine", f"redis://127.0.0.1:{redis_port}/0"]
        return [*runner, "-m", "broker", "serve", "--host", "127.0.0.1", "--port", str(port),
                "--timeout", "60", "--log-level", "warning", *engine]
    if name == "faye" and redis_port is not None:
        return [_node(), str(BENCH_DIR / "faye_redis_server.js"), str(port), str(redis_port)]
    if name == "faye":
        return [_node(), str(BENCH_DIR / "faye_server.js"), str(port)]
    raise ValueError(f"unknown server {name!r}")


def command_line(name: str) -> str:
    """The command as it is run, with PORT for the port (for the report)."""
    if name == "ours":
        return ".venv/bin/python -m broker serve --host 127.0.0.1 --port PORT --timeout 60 --log-level warning"
    return "node bench/faye_server.js PORT"


def _node() -> str:
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        raise ServerError("node is not installed: run `make system-deps` (or install nodejs and npm)")
    return node


def start_server(name: str, scenario: str, *, redis_port: int | None = None, label: str | None = None) -> Server:
    RESULTS_DIR.mkdir(exist_ok=True)
    stem = f"{name}-{scenario}" + (f"-{label}" if label else "")
    profile_path = None
    if name == "ours" and os.environ.get("BENCH_PROFILE"):
        profile_path = RESULTS_DIR / f"{stem}.prof"
    log_path = RESULTS_DIR / f"{stem}.log"
    last_error = ""
    for _attempt in range(3):
        port = free_port()
        with open(log_path, "wb") as log:
            process = subprocess.Popen(
                _command(name, port, profile_path, redis_port), cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        server = Server(name, scenario, process, port, log_path, profile_path)
        _running.add(server)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if READY.search(log_path.read_bytes()):
                return server
            if not server.alive():
                break
            time.sleep(0.05)
        last_error = server.log_tail()
        server.stop()
    raise ServerError(f"{name} did not start:\n{last_error}")


def faye_version(package_name: str = "faye") -> str | None:
    package = BENCH_DIR / "node_modules" / package_name / "package.json"
    if not package.exists():
        return None
    match = re.search(r'"version"\s*:\s*"([^"]+)"', package.read_text())
    return match.group(1) if match else None


def ensure_faye() -> str:
    """Install faye from bench/package-lock.json with ``npm ci`` if faye or faye-redis is missing."""
    version = faye_version()
    if version is not None and faye_version("faye-redis") is not None:
        return version
    npm = shutil.which("npm")
    if npm is None:
        raise ServerError("npm is not installed: run `make system-deps` (or install nodejs and npm)")
    _node()
    print("bench: installing faye into bench/node_modules (npm ci)", flush=True)
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=BENCH_DIR, check=True)
    version = faye_version()
    if version is None or faye_version("faye-redis") is None:
        raise ServerError("npm ci finished but bench/node_modules/faye or faye-redis is missing")
    return version


def _write_profile_summary(profile_path: Path) -> None:
    summary = profile_path.with_suffix(".txt")
    with open(summary, "w") as out:
        stats = pstats.Stats(str(profile_path), stream=out)
        stats.sort_stats("tottime").print_stats(40)
        stats.sort_stats("cumulative").print_stats(40)
