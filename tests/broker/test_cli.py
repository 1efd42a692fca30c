"""``bayeux-broker serve`` / ``python -m broker``: options, startup line, errors, signals, pings.

Every broker here is a real subprocess on a loopback port; every test has a hard timeout.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import anyio
import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.conftest import require
from tests.support.servers import ROOT, free_port

HANDSHAKE = {"channel": "/meta/handshake", "version": "1.0", "supportedConnectionTypes": ["long-polling", "websocket"]}


def run_cli(*args: str, timeout: float = 15) -> tuple[int, str, float]:
    """Run ``python -m broker ARGS`` to completion; return (exit code, stdout+stderr, seconds)."""
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "broker", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, check=False)
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


@dataclass
class Launched:
    """A ``python -m broker serve`` subprocess whose output is collected line by line."""

    process: subprocess.Popen[str]
    lines: queue.Queue[str] = field(default_factory=queue.Queue)
    output: list[str] = field(default_factory=list)
    reader: threading.Thread | None = None

    def next_line(self, timeout: float = 20) -> str:
        return self.lines.get(timeout=timeout)

    def wait(self, timeout: float) -> int:
        return self.process.wait(timeout)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        if self.reader is not None:
            self.reader.join(10)
        assert self.process.stdout is not None
        self.process.stdout.close()

    @property
    def text(self) -> str:
        return "".join(self.output)


def launch(*args: str) -> Launched:
    command = [sys.executable, "-m", "broker", "serve", "--host", "127.0.0.1", "--log-level", "warning", *args]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    launched = Launched(process)

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            launched.output.append(line)
            launched.lines.put(line)

    launched.reader = threading.Thread(target=pump, daemon=True)
    launched.reader.start()
    return launched


@pytest.fixture
def started() -> Iterator[list[Launched]]:
    """Brokers launched by a test; killed at the end whatever happened."""
    brokers: list[Launched] = []
    yield brokers
    for broker in brokers:
        broker.close()


def start(brokers: list[Launched], *args: str, port: int | None = None) -> tuple[Launched, str]:
    """Launch with ``--port`` (a free one by default) and return it with its endpoint URL."""
    broker = launch("--port", str(port if port is not None else 0), *args)
    brokers.append(broker)
    line = broker.next_line()
    assert line.startswith("bayeux-broker listening on http://127.0.0.1:"), broker.text
    return broker, line.split(" on ", 1)[1].strip()


def ws_url(url: str) -> str:
    return "ws" + url.removeprefix("http")


# -- help and startup -------------------------------------------------------------------------


def test_help() -> None:
    code, out, _ = run_cli("--help")
    assert code == 0, out
    assert "serve" in out
    code, out, _ = run_cli("serve", "--help")
    assert code == 0, out
    for flag in ("--host", "--port", "--mount", "--timeout", "--interval", "--ping", "--log-level",
                 "--max-body-bytes", "--max-message-bytes", "--max-batch-messages", "--max-channel-length",
                 "--max-subscriptions", "--max-queue"):
        assert flag in out, (flag, out)


def test_bayeux_broker_script_help() -> None:
    script = Path(sys.executable).parent / "bayeux-broker"  # installed beside the interpreter running the tests
    require(script.exists(), f"the console script is not installed: {script}")
    done = subprocess.run([str(script), "serve", "--help"], capture_output=True, text=True, timeout=15, check=False)
    assert done.returncode == 0, done.stderr
    assert "--max-queue" in done.stdout


def test_startup_line_and_default_mount(started: list[Launched]) -> None:
    port = free_port()
    broker, url = start(started, port=port)
    assert url == f"http://127.0.0.1:{port}/faye"
    with httpx.Client(timeout=10) as http:
        reply = http.post(url, json=HANDSHAKE).json()[0]
        assert reply["successful"] is True, reply
    assert broker.process.poll() is None


def test_startup_line_honours_mount(started: list[Launched]) -> None:
    port = free_port()
    _, url = start(started, "--mount", "/bayeux", port=port)
    assert url == f"http://127.0.0.1:{port}/bayeux"
    with httpx.Client(timeout=10) as http:
        reply = http.post(url, json=HANDSHAKE).json()[0]
        assert reply["successful"] is True, reply
        assert reply["advice"]["timeout"] == 60_000, reply
        assert http.post(f"http://127.0.0.1:{port}/faye", json=HANDSHAKE).status_code == 404


def test_options_reach_the_server(started: list[Launched]) -> None:
    _, url = start(started, "--timeout", "7.5", "--interval", "0.25")
    with httpx.Client(timeout=10) as http:
        reply = http.post(url, json=HANDSHAKE).json()[0]
    assert reply["advice"] == {"reconnect": "retry", "interval": 250, "timeout": 7500}, reply


def test_small_requests_are_answered_quickly(started: list[Launched]) -> None:
    """Loopback round trips take about a millisecond; a ~40 ms floor means Nagle's algorithm meets
    delayed ACKs (the accepted sockets lack TCP_NODELAY)."""
    _, url = start(started)
    timings = []
    with httpx.Client(timeout=10) as http:
        http.post(url, json=HANDSHAKE)
        for _ in range(20):
            t0 = time.perf_counter()
            assert http.post(url, json=HANDSHAKE).status_code == 200
            timings.append(time.perf_counter() - t0)
    median = statistics.median(timings)
    assert median < 0.02, f"median handshake round trip {median * 1000:.1f} ms"


# -- errors: busy port, bad options --------------------------------------------------------------


def test_busy_port_exits_with_one_line() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        code, out, elapsed = run_cli("serve", "--host", "127.0.0.1", "--port", str(port), timeout=20)
    assert code != 0, out
    assert elapsed < 5, elapsed
    lines = out.strip().splitlines()
    assert len(lines) == 1, out
    assert "cannot listen" in lines[0], out
    assert str(port) in lines[0], out
    assert "listening on" not in out


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (("--timeout", "-1"), "timeout"),
        (("--timeout", "abc"), "timeout"),
        (("--timeout", "0"), "timeout"),
        (("--port", "notaport"), "port"),
        (("--max-queue", "0"), "max-queue"),
        (("--max-body-bytes", "-5"), "max-body-bytes"),
        (("--ping", "0"), "ping"),
        (("--mount", "nope"), "mount"),
        (("--log-level", "loud"), "log-level"),
        (("--no-such-option",), "no-such-option"),
    ],
    ids=lambda value: "_".join(value) if isinstance(value, tuple) else None,
)
def test_bad_option_exits_with_a_one_line_reason(args: tuple[str, ...], mentions: str) -> None:
    code, out, elapsed = run_cli("serve", "--host", "127.0.0.1", "--port", "0", *args)
    assert code != 0, out
    assert elapsed < 10, elapsed
    assert "Traceback" not in out, out
    assert "listening on" not in out, out
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines, "no reason given"
    reason = lines[-1]
    assert mentions in reason, out
    # argparse may print its usage first; the reason itself is the single last line
    assert all(line.startswith(("usage:", " ")) for line in lines[:-1]), out


def test_bad_option_without_usage_for_settings_errors() -> None:
    code, out, _ = run_cli("serve", "--port", "0", "--mount", "nope")
    assert code != 0, out
    assert len(out.strip().splitlines()) == 1, out


def test_unknown_command_fails() -> None:
    code, out, _ = run_cli("frobnicate")
    assert code != 0, out
    assert "Traceback" not in out, out


# -- graceful shutdown ---------------------------------------------------------------------------


async def _post(http: httpx.AsyncClient, url: str, message: dict[str, object]) -> list[dict[str, object]]:
    response = await http.post(url, json=[message])
    assert response.status_code == 200, response.text
    replies: list[dict[str, object]] = response.json()
    return replies


async def _ws_send(ws: ClientConnection, message: dict[str, object]) -> None:
    await ws.send(json.dumps([message]))


@pytest.mark.anyio
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_signal_shuts_down_cleanly_with_held_connects(started: list[Launched], sig: signal.Signals) -> None:
    broker, url = start(started, "--timeout", "30")
    with anyio.fail_after(40):
        async with httpx.AsyncClient(timeout=20) as http, \
                connect(ws_url(url), ping_interval=None, close_timeout=2) as ws:
            # long-polling client with a held connect
            client_id = (await _post(http, url, HANDSHAKE))[0]["clientId"]
            assert isinstance(client_id, str)
            first = await _post(http, url, {"channel": "/meta/connect", "clientId": client_id,
                                            "connectionType": "long-polling", "advice": {"timeout": 0}})
            assert first[0]["successful"] is True, first
            results: dict[str, httpx.Response] = {}

            async def held_poll() -> None:
                results["poll"] = await http.post(url, json=[{"channel": "/meta/connect", "clientId": client_id,
                                                              "connectionType": "long-polling", "id": "held"}])

            # websocket client with a held connect
            await _ws_send(ws, {**HANDSHAKE, "id": "wh"})
            ws_id = json.loads(await ws.recv())[0]["clientId"]
            await _ws_send(ws, {"channel": "/meta/connect", "clientId": ws_id, "connectionType": "websocket",
                                "advice": {"timeout": 0}, "id": "w1"})
            assert json.loads(await ws.recv())[0]["successful"] is True
            await _ws_send(ws, {"channel": "/meta/connect", "clientId": ws_id, "connectionType": "websocket",
                                "id": "w2"})

            async with anyio.create_task_group() as tg:
                tg.start_soon(held_poll)
                await anyio.sleep(0.5)
                assert "poll" not in results, "the connect was not held"
                assert broker.process.poll() is None
                signalled = time.monotonic()
                broker.process.send_signal(sig)
            # the held long-poll got a proper answer
            response = results["poll"]
            assert response.status_code == 200, response.text
            replies = response.json()
            assert replies[0]["id"] == "held", replies
            assert replies[0]["channel"] == "/meta/connect", replies
            assert replies[0]["successful"] is True, replies
            # the websocket is closed by the server
            frames = []
            with pytest.raises(ConnectionClosed):  # noqa: PT012
                while True:
                    frames.append(await ws.recv())
        code = await anyio.to_thread.run_sync(broker.wait, 10)
    elapsed = time.monotonic() - signalled
    assert elapsed < 5, f"shutdown took {elapsed:.1f}s"
    assert (code, "Traceback" in broker.text) == (0, False), broker.text


@pytest.mark.anyio
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_signal_when_idle_exits_zero(started: list[Launched], sig: signal.Signals) -> None:
    broker, url = start(started)
    async with httpx.AsyncClient(timeout=10) as http:
        assert (await _post(http, url, HANDSHAKE))[0]["successful"] is True
    broker.process.send_signal(sig)
    with anyio.fail_after(15):
        code = await anyio.to_thread.run_sync(broker.wait, 10)
    assert (code, "Traceback" in broker.text) == (0, False), broker.text


# -- WebSocket pings -----------------------------------------------------------------------------


class _Frames(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    @property
    def pings(self) -> int:
        return sum(1 for message in self.messages if message.startswith("< PING"))


def _frame_logger(name: str) -> tuple[logging.Logger, _Frames]:
    """A private logger at DEBUG: websockets logs every frame it receives as ``< PING ...`` etc."""
    logger = logging.Logger(f"tests.cli.frames.{name}", logging.DEBUG)
    handler = _Frames()
    logger.addHandler(handler)
    logger.propagate = False
    return logger, handler


@pytest.mark.anyio
async def test_ping_option_sends_websocket_pings_and_default_sends_none(started: list[Launched]) -> None:
    _, ping_url = start(started, "--ping", "1")
    _, quiet_url = start(started)
    ping_logger, ping_frames = _frame_logger("ping")
    quiet_logger, quiet_frames = _frame_logger("quiet")
    with anyio.fail_after(20):
        async with connect(ws_url(ping_url), ping_interval=None, close_timeout=2, logger=ping_logger) as pinged, \
                connect(ws_url(quiet_url), ping_interval=None, close_timeout=2, logger=quiet_logger) as quiet:
            for ws in (pinged, quiet):
                await ws.send(json.dumps([HANDSHAKE]))
                assert json.loads(await ws.recv())[0]["successful"] is True
            await anyio.sleep(3.5)
            # both connections are still healthy after the wait
            for ws in (pinged, quiet):
                await ws.send(json.dumps([HANDSHAKE]))
                assert json.loads(await ws.recv())[0]["successful"] is True
    assert ping_frames.pings >= 2, ping_frames.messages
    assert quiet_frames.pings == 0, quiet_frames.messages
    assert any(message.startswith("< TEXT") for message in quiet_frames.messages), quiet_frames.messages
