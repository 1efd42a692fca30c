"""A redis-server of the bench's own: loopback, a free port, no persistence, stopped after the run.

The Redis cluster scenario (:mod:`bench.cluster`) starts one per server under test, so that
the brokers and faye-redis each start on an empty Redis, and reads ``INFO commandstats``
before and after each step to count the commands the cluster sent per published message.
(The test suite has its own in tests/support/redis.py; the bench does not import tests/.)
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass

import redis

from bench.servers import RESULTS_DIR, ServerError, free_port
from bench.system import cpu_split

__all__ = ["IGNORED_COMMANDS", "RedisServer", "start_redis"]

START_TIMEOUT = 10.0
IGNORED_COMMANDS = frozenset({"info"})
"""Commands left out of the count: the bench's own ``INFO`` readings."""


@dataclass(eq=False)
class RedisServer:
    """A running redis-server and a client for the bench's readings."""

    process: subprocess.Popen[bytes]
    port: int
    workdir: tempfile.TemporaryDirectory[str]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def cpu_seconds(self) -> float:
        user, kernel = cpu_split(self.pid)
        return user + kernel

    def command_calls(self) -> dict[str, int]:
        """Calls per command since start (``INFO commandstats``), commands run by Lua scripts included."""
        with redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=10) as client:
            stats = client.info("commandstats")
        calls = {}
        for key, value in stats.items():
            name = key.removeprefix("cmdstat_")
            if name not in IGNORED_COMMANDS and isinstance(value, dict):
                calls[name] = int(value["calls"])
        return calls

    def keys(self) -> int:
        with redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=10) as client:
            return int(client.dbsize())

    def stop(self) -> None:
        if self.alive():
            self.process.terminate()
            try:
                self.process.wait(10.0)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5.0)
        self.workdir.cleanup()


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(label: str) -> RedisServer:
    """Start ``redis-server`` on 127.0.0.1 with no RDB or AOF and wait until it answers PING."""
    if shutil.which("redis-server") is None:
        raise ServerError("redis-server is not installed: run `make system-deps` (or install redis-server)")
    RESULTS_DIR.mkdir(exist_ok=True)
    workdir = tempfile.TemporaryDirectory(prefix="bench-redis-")
    port = free_port()
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--dir", workdir.name, "--loglevel", "warning",
               "--logfile", str(RESULTS_DIR / f"redis-{label}.log")]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               stdin=subprocess.DEVNULL, start_new_session=True)
    server = RedisServer(process, port, workdir)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if _answers_ping(port):
            return server
        if not server.alive():
            break
        time.sleep(0.05)
    server.stop()
    raise ServerError(f"redis-server did not start on port {port}")
