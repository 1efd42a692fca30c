"""Process figures from /proc (no psutil), the file-descriptor limit, and the event loop."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import subprocess
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["cpu_seconds", "cpu_split", "event_loop_name", "raise_nofile_limit", "rss_kb", "run_event_loop"]

T = TypeVar("T")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
WANTED_FILES = 65536


def cpu_split(pid: int) -> tuple[float, float]:
    """User and system (kernel) CPU seconds of a process, all its threads (``/proc/<pid>/stat``)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    # after the command come: state(3) ... utime(14) stime(15), counted from 1
    return int(fields[11]) / CLOCK_TICKS, int(fields[12]) / CLOCK_TICKS


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, all its threads."""
    user, system = cpu_split(pid)
    return user + system


def rss_kb(pid: int) -> int:
    """Resident set size in KiB (``VmRSS`` in ``/proc/<pid>/status``)."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def raise_nofile_limit(wanted: int = WANTED_FILES) -> int:
    """Raise the soft RLIMIT_NOFILE towards ``wanted`` (up to the hard limit); returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def event_loop_name() -> str:
    try:
        import uvloop  # noqa: F401  (optional, only if already installed)
    except ImportError:
        return "asyncio"
    return "uvloop"


def run_event_loop(main: Coroutine[Any, Any, T]) -> T:
    """Run on uvloop when it happens to be installed, else on the standard asyncio loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def git_state(root: Path) -> str:
    """The commit under test, and whether broker/ or protocol/ had uncommitted changes (read-only git calls)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                              timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "--no-optional-locks", "status", "--porcelain", "--", "broker", "protocol"],
                               cwd=root, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"
    return f"{head or '?'}{' with uncommitted changes in broker/ or protocol/' if dirty else ''}"


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def stop_on_signals() -> None:
    """SIGTERM and SIGHUP stop a run like Ctrl-C: its servers and subprocesses are stopped."""
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGHUP, _interrupt)
