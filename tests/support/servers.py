"""Start real brokers on loopback for tests: as a CLI subprocess, or uvicorn in the test's loop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from starlette.types import ASGIApp

ROOT = Path(__file__).resolve().parents[2]
_LISTENING = re.compile(r"listening on (http://\S+)")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class BrokerProcess:
    """A broker started with ``python -m broker serve`` on a free loopback port."""

    process: subprocess.Popen[str]
    url: str
    """The Bayeux endpoint, e.g. ``http://127.0.0.1:PORT/faye``."""

    @property
    def base(self) -> str:
        return self.url.rsplit("/", 1)[0] if self.url.count("/") > 2 else self.url

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode


def start_plain_uvicorn(*, startup_timeout: float = 20.0) -> BrokerProcess:
    """The broker embedded under plain uvicorn (``tests/support/plain_uvicorn.py``), on a free port."""
    command = [sys.executable, "-m", "tests.support.plain_uvicorn", str(free_port())]
    return _start(command, startup_timeout)


def start_broker(*args: str, startup_timeout: float = 20.0) -> BrokerProcess:
    """Run the real CLI with ``--port 0`` and wait for the line that says where it listens."""
    command = [sys.executable, "-m", "broker", "serve", "--host", "127.0.0.1", "--port", "0",
               "--log-level", "warning", *args]
    return _start(command, startup_timeout)


def _start(command: list[str], startup_timeout: float) -> BrokerProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=env)
    assert process.stdout is not None
    deadline = time.monotonic() + startup_timeout
    lines = []
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        match = _LISTENING.search(line)
        if match:
            _drain(process)
            return BrokerProcess(process, match.group(1))
    process.kill()
    raise RuntimeError("broker did not start:\n" + "".join(lines))


def _drain(process: subprocess.Popen[str]) -> None:
    """Keep reading the child's output so that it never blocks on a full pipe."""
    import threading

    def pump() -> None:
        assert process.stdout is not None
        with contextlib.suppress(ValueError, OSError):
            for _ in process.stdout:
                pass

    threading.Thread(target=pump, daemon=True).start()


@contextlib.asynccontextmanager
async def serve_app(app: ASGIApp, *, host: str = "127.0.0.1", **config: object) -> AsyncIterator[str]:
    """Serve an ASGI app with uvicorn inside the running event loop; yield ``http://host:port``."""
    port = free_port(host)
    options: dict[str, object] = {"log_level": "warning", "ws_ping_interval": None, "lifespan": "on", **config}
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, **options))  # type: ignore[arg-type]
    task = asyncio.ensure_future(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
