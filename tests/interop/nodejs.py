"""Run the Node scenario scripts in ``tests/interop/js`` as subprocesses and read their JSON lines."""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.conftest import require

INTEROP = Path(__file__).resolve().parent
NODE_MODULES = INTEROP / "node_modules"

Event = dict[str, Any]


def require_node_packages(*packages: str) -> None:
    """Skip locally (fail in CI) unless ``node`` and the pinned npm packages are installed."""
    missing = [name for name in packages if not (NODE_MODULES / name / "package.json").is_file()]
    require(shutil.which("node") is not None and not missing,
            f"needs node and `npm ci` in tests/interop (missing: {missing or 'node'})")


class NodeScenario:
    """One ``node js/<script> <url> <scenario> <transport>`` run, with its stdout parsed line by line."""

    def __init__(self, script: str, url: str, scenario: str, transport: str, *, deadline: float = 20.0) -> None:
        self.name = f"{script} {scenario} {transport}"
        self.events: list[Event] = []
        self.raw: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        # The script stops itself after ``deadline``; the harness gives it a few seconds more to say so.
        self._deadline = time.monotonic() + deadline + 5
        self.process = subprocess.Popen(
            [shutil.which("node") or "node", str(INTEROP / "js" / script), url, scenario, transport],
            cwd=INTEROP, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "INTEROP_DEADLINE_MS": str(int(deadline * 1000))},
        )
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.process.stdout is not None
        with contextlib.suppress(ValueError, OSError):
            for line in self.process.stdout:
                self._lines.put(line)
        self._lines.put(None)

    def _next(self, until: float) -> Event | None:
        """The next parsed event, or None at end of output; raises TimeoutError after ``until``."""
        while True:
            remaining = min(until, self._deadline) - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"{self.name}: no answer in time")
            try:
                line = self._lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                self._lines.put(None)
                return None
            self.raw.append(line)
            try:
                event = json.loads(line)
            except ValueError:
                continue  # a stray line (a stack trace, say); kept in .raw for the report
            self.events.append(event)
            return event

    def wait_for(self, predicate: Callable[[Event], bool], timeout: float = 10.0) -> Event:
        until = time.monotonic() + timeout
        while True:
            event = self._next(until)
            if event is None:
                raise AssertionError(f"{self.name}: exited before the expected event\n{self.transcript()}")
            if predicate(event):
                return event

    def send_line(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line + "\n")
        self.process.stdin.flush()

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def finish(self, timeout: float = 20.0) -> Event:
        """Read to the end and return the ``result`` event; kill the process if it overruns."""
        until = time.monotonic() + timeout
        result: Event | None = None
        try:
            while (event := self._next(until)) is not None:
                if event.get("event") == "result":
                    result = event
            self.process.wait(max(0.1, until - time.monotonic()))
        except (TimeoutError, subprocess.TimeoutExpired):
            self.kill()
            raise AssertionError(f"{self.name}: did not finish in time\n{self.transcript()}") from None
        if result is None:
            raise AssertionError(f"{self.name}: no result line (exit {self.process.returncode})\n{self.transcript()}")
        return result

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(5)

    def close(self) -> None:
        self.kill()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def transcript(self, limit: int = 200) -> str:
        lines = self.raw[-limit:]
        return "".join(lines) if lines else "(no output)"

    # Queries over what the client saw.

    def received(self, client: str, tag: str | None = None) -> list[Event]:
        return [e for e in self.events
                if e.get("event") == "received" and e.get("client") == client and (tag is None or e.get("tag") == tag)]

    def wire(self, direction: str, client: str, channel: str | None = None) -> list[dict[str, Any]]:
        return [e["message"] for e in self.events
                if e.get("event") == direction and e.get("client") == client
                and (channel is None or e["message"].get("channel") == channel)]


@contextlib.contextmanager
def run_scenario(script: str, url: str, scenario: str, transport: str, *,
                 deadline: float = 20.0) -> Iterator[NodeScenario]:
    run = NodeScenario(script, url, scenario, transport, deadline=deadline)
    try:
        yield run
    finally:
        run.close()


def scenario_result(script: str, url: str, scenario: str, transport: str, *,
                    deadline: float = 20.0) -> tuple[Event, NodeScenario]:
    """Run a scenario that needs no help from the test to the end; fail with its transcript if not ok."""
    with run_scenario(script, url, scenario, transport, deadline=deadline) as run:
        result = run.finish(deadline + 5)
    assert result.get("ok") is True, f"{run.name} failed: {result.get('error')}\n{run.transcript()}"
    return result, run
