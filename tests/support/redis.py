"""A real redis-server for the tests, started by the suite on a free loopback port (not 6379)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass

from tests.support.servers import free_port


@dataclass
class RedisServer:
    process: subprocess.Popen[bytes]
    port: int
    workdir: tempfile.TemporaryDirectory[str]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self, *, kill: bool = False) -> None:
        if self.process.poll() is None:
            if kill:
                self.process.kill()
            else:
                self.process.terminate()
            self.process.wait(10)

    def cleanup(self) -> None:
        self.stop()
        self.workdir.cleanup()


def redis_available() -> bool:
    return shutil.which("redis-server") is not None


def _answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(port: int | None = None, workdir: tempfile.TemporaryDirectory[str] | None = None) -> RedisServer:
    """Start ``redis-server`` with no persistence on 127.0.0.1 and wait until it answers PING."""
    port = port or free_port()
    workdir = workdir or tempfile.TemporaryDirectory(prefix="bayeux-redis-")
    command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
               "--dir", workdir.name, "--logfile", "", "--loglevel", "warning"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if _answers_ping(port):
            return RedisServer(process, port, workdir)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"redis-server did not start on port {port}")
