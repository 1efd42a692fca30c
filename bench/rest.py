"""``python -m bench.rest``: requests per second of the REST resources (GET and POST) on the SQLite store.

    .venv/bin/python -m bench.rest                          # 5 s per phase, 16 connections
    .venv/bin/python -m bench.rest --duration 10 --connections 32 --store memory

Starts its own broker (``python -m broker serve --store sqlite:<temporary file>``) on a free
loopback port, seeds a collection, then runs two timed phases over keep-alive HTTP/1.1
connections: ``GET /api/bench/<random seeded id>`` and ``POST /api/bench`` (a new object each
time, so every request is a committed SQLite write with ``synchronous=FULL`` plus its change
event). It prints requests per second, p50/p99 latency and the broker's CPU per request, then
stops the broker and removes its file. Every phase is bounded in time; the whole run in
requests too (``--max-requests``).

The client is a minimal HTTP/1.1 pipeline-free keep-alive client on asyncio streams, so that
the load generator costs as little CPU as possible next to the broker on a small machine.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
_LISTENING = re.compile(r"listening on http://([\d.]+):(\d+)/")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

MakeRequest = Callable[[], tuple[str, str, bytes, int]]
"""Builds the next request: method, path, body and the status expected."""


# --- the broker under test -------------------------------------------------------------------


@dataclass
class Broker:
    process: subprocess.Popen[str]
    host: str
    port: int

    def cpu_seconds(self) -> float:
        """User + system CPU time of the broker process so far (Linux /proc), or 0 elsewhere."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


@contextlib.contextmanager
def running_broker(store: str, *, startup_timeout: float = 20.0) -> Iterator[Broker]:
    """``python -m broker serve`` on 127.0.0.1 with a port the OS picks; stopped with SIGTERM at the end."""
    command = [sys.executable, "-m", "broker", "serve", "--host", "127.0.0.1", "--port", "0",
               "--log-level", "warning", "--store", store]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + startup_timeout
        match = None
        while match is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            match = _LISTENING.search(line)
        if match is None:
            raise RuntimeError("the broker did not start")
        yield Broker(process, match.group(1), int(match.group(2)))
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)
        if process.stdout is not None:
            process.stdout.close()


# --- a small keep-alive HTTP/1.1 client --------------------------------------------------------


class Connection:
    """One keep-alive connection: one request at a time, the response read by Content-Length."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self.reader = reader
        self.writer = writer
        self.host = host

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer, f"{host}:{port}")

    async def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        head = f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n"
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        status_line, _, headers = (await self.reader.readuntil(b"\r\n\r\n")).partition(b"\r\n")
        status = int(status_line.split(b" ", 2)[1])
        length = 0
        for header in headers.split(b"\r\n"):
            name, _, value = header.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        return status, await self.reader.readexactly(length) if length else b""

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


# --- phases ------------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    seconds: float = 0.0
    cpu: float = 0.0
    latencies: list[float] = field(default_factory=list)
    errors: int = 0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, fraction: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000 if ordered else 0.0

    def line(self) -> str:
        per_request = self.cpu / len(self.latencies) * 1e6 if self.latencies else 0.0
        return (f"{self.name:<5} {self.rate:>9.0f} req/s   p50 {self.percentile(0.5):6.2f} ms   "
                f"p99 {self.percentile(0.99):6.2f} ms   {len(self.latencies):>7} requests   "
                f"{self.errors} errors   broker CPU {per_request:5.0f} µs/request")


async def run_phase(broker: Broker, name: str, *, connections: int, duration: float, max_requests: int,
                    make_request: MakeRequest) -> Result:
    """``connections`` workers send requests back to back until ``duration`` or ``max_requests``."""
    result = Result(name)
    pool = [await Connection.open(broker.host, broker.port) for _ in range(connections)]
    stop_at = time.perf_counter() + duration
    budget = [max_requests]

    async def worker(connection: Connection) -> None:
        while time.perf_counter() < stop_at and budget[0] > 0:
            budget[0] -= 1
            method, path, body, expected = make_request()
            started = time.perf_counter()
            status, _ = await connection.request(method, path, body)
            if status == expected:
                result.latencies.append(time.perf_counter() - started)
            else:
                result.errors += 1

    cpu_before, started = broker.cpu_seconds(), time.perf_counter()
    try:
        await asyncio.wait_for(asyncio.gather(*(worker(connection) for connection in pool)), duration + 30)
    finally:
        result.seconds = time.perf_counter() - started
        result.cpu = broker.cpu_seconds() - cpu_before
        for connection in pool:
            await connection.close()
    return result


async def seed(broker: Broker, count: int) -> list[str]:
    """Import ``count`` objects in batches of 1000; return their ids."""
    ids = [f"seed{i:06d}" for i in range(count)]
    connection = await Connection.open(broker.host, broker.port)
    try:
        for start in range(0, count, 1000):
            batch = [{"id": object_id, "title": f"item {object_id}", "done": False, "n": i}
                     for i, object_id in enumerate(ids[start:start + 1000], start)]
            status, body = await connection.request("POST", "/api/bench", orjson.dumps(batch))
            if status != 201:
                raise RuntimeError(f"seeding failed: {status} {body[:200]!r}")
    finally:
        await connection.close()
    return ids


async def main_async(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="bench-rest-") as tmp:
        store = args.store if args.store != "sqlite" else f"sqlite:{Path(tmp) / 'resources.sqlite3'}"
        with running_broker(store) as broker:
            ids = await seed(broker, args.objects)
            body = orjson.dumps({"title": "a new to-do", "done": False, "tags": ["bench"]})
            phases: dict[str, MakeRequest] = {
                "GET": lambda: ("GET", f"/api/bench/{random.choice(ids)}", b"", 200),
                "POST": lambda: ("POST", "/api/bench", body, 201),
            }
            print(f"broker: python -m broker serve --store {args.store} on 127.0.0.1:{broker.port}; "
                  f"{args.objects} objects seeded; {args.connections} connections, {args.duration:g} s per phase; "
                  f"load average {os.getloadavg()[0]:.2f}")
            failed = False
            for name in args.phases:
                await run_phase(broker, name, connections=args.connections, duration=min(1.0, args.duration),
                                max_requests=args.max_requests, make_request=phases[name])  # warm-up
                result = await run_phase(broker, name, connections=args.connections, duration=args.duration,
                                         max_requests=args.max_requests, make_request=phases[name])
                print(result.line(), flush=True)
                failed = failed or result.errors > 0 or not result.latencies
    return 1 if failed else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.rest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default="sqlite", help="sqlite (a temporary file, default), memory or redis://...")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per phase (default 5, at most 60)")
    parser.add_argument("--connections", type=int, default=16, help="concurrent keep-alive connections (16)")
    parser.add_argument("--objects", type=int, default=10_000, help="objects seeded before the GET phase")
    parser.add_argument("--max-requests", type=int, default=1_000_000, help="most requests per phase")
    parser.add_argument("--phases", nargs="+", choices=["GET", "POST"], default=["GET", "POST"])
    args = parser.parse_args(argv)
    if not 0 < args.duration <= 60 or not 1 <= args.connections <= 512 or args.objects < 1:
        parser.error("--duration must be in (0, 60], --connections in [1, 512], --objects at least 1")
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
