"""Tables for the terminal and for docs/benchmarks.md: ours beside faye, and the ratio ours/faye."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from bench.scenarios import P99_LIMIT_MS

__all__ = ["Column", "STEP_COLUMNS", "Summary", "best_rate", "limit_reached", "markdown_tables", "step_table"]

Result = dict[str, Any]
TITLES = {
    "ws-fanout": "WebSocket fan-out",
    "lp-fanout": "Long-polling fan-out",
    "idle": "Idle WebSocket connections",
}
AIM_RATE = 2.0
AIM_CPU = 0.65
AIM_MEMORY = 1.0


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], right: Sequence[bool] | None = None) -> str:
    """A Markdown table padded so that it also reads well in a terminal."""
    rows = [list(row) for row in rows]
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows, strict=True)]
    right = right or [i > 0 for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        padded = [c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right, strict=True)]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if r else (":" + "-" * (w + 1)) for w, r in zip(widths, right,
                                                                                              strict=True)) + "|"
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def _num(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000 and digits <= 1:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _ratio(ours: float | None, faye: float | None) -> str:
    if ours is None or faye is None or faye == 0:
        return "-"
    return f"{ours / faye:.2f}x"


def _find(results: list[Result], scenario: str, server: str) -> Result | None:
    return next((r for r in results if r["scenario"] == scenario and r["server"] == server), None)


def best_rate(result: Result | None) -> float | None:
    """The highest rate whose step delivered everything with p99 under the limit (0 if none)."""
    if result is None or not result["steps"]:
        return None
    clean = [s["rate"] for s in result["steps"] if s["clean"]]
    return max(clean) if clean else 0.0


def limit_reached(result: Result | None) -> bool:
    """False when every step was clean: the server's limit is above the last rate tried."""
    return result is None or not result["steps"] or not all(s["clean"] for s in result["steps"])


def _step_at(result: Result | None, rate: float | None) -> dict[str, Any] | None:
    if result is None or rate is None:
        return None
    return next((s for s in result["steps"] if s["rate"] == rate), None)


def _get(step: dict[str, Any] | None, key: str) -> float | None:
    return None if step is None else step.get(key)


class _Cell(str):
    """A table cell formatted already."""


class Summary:
    """The headline figures of one run, and whether each aim of the issue was met."""

    def __init__(self, results: list[Result]) -> None:
        self.results = results
        self.rows: list[list[str]] = []
        self.aims: list[tuple[str, bool | None, str]] = []
        for scenario in ("ws-fanout", "lp-fanout"):
            self._fanout(scenario)
        self._idle()

    def _add(self, label: str, ours: Any, faye: Any, ratio: str | None = None, digits: int = 1,
             aim: str = "") -> None:
        cells = [value if isinstance(value, _Cell) else _num(value, digits) for value in (ours, faye)]
        if ratio is None:
            ratio = _ratio(ours, faye)
        self.rows.append([label, cells[0], cells[1], ratio, aim])

    def _fanout(self, scenario: str) -> None:
        ours, faye = _find(self.results, scenario, "ours"), _find(self.results, scenario, "faye")
        if ours is None and faye is None:
            return
        title = TITLES[scenario]
        subscribers = (ours or faye or {}).get("setup", {}).get("wanted", "?")
        title = f"{title} ({subscribers} subs)"
        ours_best, faye_best = best_rate(ours), best_rate(faye)
        is_ws = scenario == "ws-fanout"
        rate_aim = ""
        at_least = ["" if limit_reached(r) else ">=" for r in (ours, faye)]
        if is_ws and ours_best is not None and faye_best:
            met = ours_best >= AIM_RATE * faye_best
            rate_aim = f">= {AIM_RATE:g}x: {'met' if met else 'MISSED'}"
            self.aims.append((f"{title}: highest clean rate >= {AIM_RATE:g}x faye's", met,
                              f"{at_least[0]}{_num(ours_best, 0)} vs {at_least[1]}{_num(faye_best, 0)} msg/s"))
        self._add(f"{title}: highest rate, all delivered, p99 < {P99_LIMIT_MS:g} ms (msg/s)", ours_best, faye_best,
                  digits=0, aim=rate_aim)
        row = self.rows[-1]
        row[1], row[2] = at_least[0] + row[1], at_least[1] + row[2]
        if any(at_least) and row[3] != "-":
            row[3] += " (bound)"
        peak = [max((s["deliveries_per_s"] for s in r["steps"]), default=None) if r else None for r in (ours, faye)]
        self._add(f"{title}: peak deliveries/s seen", peak[0], peak[1], digits=0)
        candidates = [b for b in (ours_best, faye_best) if b is not None]
        common = min(candidates) if candidates else None
        lowest = min((s["rate"] for r in (ours, faye) if r for s in r["steps"]), default=None)
        points = [lowest] if not common or common == lowest else [lowest, common]
        for rate in points:
            steps = [_step_at(ours, rate), _step_at(faye, rate)]
            at = f"at {_num(rate, 0)} msg/s"
            self._add(f"{title}: p50 / p99 latency {at} (ms)", *self._pair(steps, "p50_ms", "p99_ms"))
            cpu = [_get(steps[0], "cpu_ms_per_1k"), _get(steps[1], "cpu_ms_per_1k")]
            cpu_aim = ""
            if is_ws and rate == common and cpu[0] is not None and cpu[1]:
                met = cpu[0] <= AIM_CPU * cpu[1]
                cpu_aim = f"<= {AIM_CPU:g}x: {'met' if met else 'MISSED'}"
                self.aims.append((f"{title}: server CPU per delivery <= {AIM_CPU:g}x faye's ({at}, the highest "
                                  "rate both handled)", met,
                                  f"{_num(cpu[0], 1)} vs {_num(cpu[1], 1)} ms per 1,000 deliveries"))
            self._add(f"{title}: server CPU per 1,000 deliveries {at} (ms)", cpu[0], cpu[1], digits=1, aim=cpu_aim)

    def _pair(self, steps: list[dict[str, Any] | None], first: str, second: str) -> tuple[Any, ...]:
        """Two figures in one cell ("p50 / p99"); the ratio column shows the ratio of each."""
        cells = []
        for step in steps:
            a, b = _get(step, first), _get(step, second)
            cells.append("-" if a is None or b is None else f"{_num(a, 1)} / {_num(b, 1)}")
        ratios = f"{_ratio(_get(steps[0], first), _get(steps[1], first))} / " \
                 f"{_ratio(_get(steps[0], second), _get(steps[1], second))}"
        return _Cell(cells[0]), _Cell(cells[1]), ratios

    def _idle(self) -> None:
        ours, faye = _find(self.results, "idle", "ours"), _find(self.results, "idle", "faye")
        if ours is None and faye is None:
            return
        values = [r["memory"].get("kb_per_connection") if r else None for r in (ours, faye)]
        count = (ours or faye or {}).get("setup", {}).get("wanted", "?")
        aim = ""
        if values[0] is not None and values[1]:
            met = values[0] < AIM_MEMORY * values[1]
            aim = f"< 1x: {'met' if met else 'MISSED'}"
            self.aims.append((f"{TITLES['idle']}: less memory per connection than faye", met,
                              f"{_num(values[0], 1)} vs {_num(values[1], 1)} KiB"))
        self._add(f"{TITLES['idle']} ({count}): server RSS per connection (KiB)", values[0], values[1], digits=1,
                  aim=aim)

    def table(self) -> str:
        return _table(["metric", "ours", "faye", "ours/faye", "aim"], self.rows,
                      right=[False, True, True, True, False])

    def aims_text(self) -> str:
        lines = []
        for label, met, detail in self.aims:
            lines.append(f"- {'met' if met else 'MISSED'}: {label} ({detail})")
        return "\n".join(lines)


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _ratio_pct(value: float | None) -> str:
    if value is None:
        return "-"
    return "100%" if value >= 1 else f"{value * 100:.2f}%"


STEP_COLUMNS: list[tuple[str, Callable[[dict[str, Any]], float | None], Callable[[float | None], str], bool]] = [
    ("deliveries/s", lambda s: s["deliveries_per_s"], lambda v: _num(v, 0), True),
    ("delivered", lambda s: s["ratio"], _ratio_pct, False),
    ("msgs/frame", lambda s: s.get("per_frame"), lambda v: _num(v, 1), False),
    ("p50 ms", lambda s: s["p50_ms"], lambda v: _num(v, 1), True),
    ("p99 ms", lambda s: s["p99_ms"], lambda v: _num(v, 1), True),
    ("CPU ms/1k deliveries", lambda s: s["cpu_ms_per_1k"], lambda v: _num(v, 1), True),
    ("of which kernel", lambda s: s.get("kernel_ms_per_1k"), lambda v: _num(v, 1), False),
    ("server CPU", lambda s: s["server_cpu_share"], _pct, False),
    ("loadgen CPU", lambda s: s["loadgen_cpu"], lambda v: _pct(v) + (" !" if v is not None and v >= 0.9 else ""),
     False),
]


Column = tuple[str, Callable[[dict[str, Any]], float | None], Callable[[float | None], str], bool]


def step_table(ours: Result | None, faye: Result | None, *, columns: Sequence[Column] = STEP_COLUMNS,
               labels: tuple[str, str] = ("ours", "faye")) -> str:
    """One row per rate: each column for ``ours`` then ``faye`` (named by ``labels``), and their ratio."""
    rates = sorted({s["rate"] for r in (ours, faye) if r for s in r["steps"]})
    header = ["msg/s"]
    for name, _, _, with_ratio in columns:
        header += [f"{name} {labels[0]}", labels[1]] + (["x"] if with_ratio else [])
    rows = []
    for rate in rates:
        steps = [_step_at(ours, rate), _step_at(faye, rate)]
        row = [_num(rate, 0)]
        for _, get, fmt, with_ratio in columns:
            values = [get(s) if s else None for s in steps]
            cells = [fmt(v) if s else "" for v, s in zip(values, steps, strict=True)]
            for i, s in enumerate(steps):
                if s and not s["clean"] and cells[i] and get is columns[0][1]:
                    cells[i] += "*"
            row += cells + ([_ratio(values[0], values[1])] if with_ratio else [])
        rows.append(row)
    return _table(header, rows)


def markdown_tables(results: list[Result]) -> str:
    """The summary, then one step table per fan-out scenario, then the idle figures."""
    summary = Summary(results)
    parts = ["### Summary", "", summary.table(), ""] if summary.rows else []
    aims = summary.aims_text()
    if aims:
        parts += ["Aims (issue: on this 2-core machine):", "", aims, "",
                  "`>=` means every step was clean: the limit lies above the last rate tried, and a ratio built "
                  "on it is a bound, not a measurement.", ""]
    for scenario in ("ws-fanout", "lp-fanout"):
        ours, faye = _find(results, scenario, "ours"), _find(results, scenario, "faye")
        if ours is None and faye is None:
            continue
        parts += [f"### {TITLES[scenario]}", "", _setup_line(ours, faye), "", step_table(ours, faye), "",
                  "`*` marks a step that fell behind (not everything delivered, or p99 >= "
                  f"{P99_LIMIT_MS:g} ms); the run stops after it. \"loadgen CPU\" is the subscriber process "
                  "(one core = 100%): `!` marks 90% or more, where the load generator, not the server, may be "
                  "the limit.", ""]
        parts += _problems(ours, faye)
    ours, faye = _find(results, "idle", "ours"), _find(results, "idle", "faye")
    if ours or faye:
        rows = []
        for r in (ours, faye):
            if r and r["memory"]:
                m = r["memory"]
                rows.append([r["server"], str(m["connections"]), _num(m["rss_before_kb"], 0),
                             _num(m["rss_after_kb"], 0), _num(m["kb_per_connection"], 1)])
        parts += [f"### {TITLES['idle']}", "", _table(["server", "connections", "RSS before KiB", "RSS after KiB",
                                                       "KiB per connection"], rows), ""]
        parts += _problems(ours, faye)
    return "\n".join(parts).rstrip() + "\n"


def _setup_line(ours: Result | None, faye: Result | None) -> str:
    bits = []
    for r in (ours, faye):
        if r:
            s = r["setup"]
            bits.append(f"{r['server']}: {s.get('subscribers', 0)}/{s.get('wanted', 0)} subscribers "
                        f"set up in {s.get('seconds', 0)} s")
    return "; ".join(bits) + "."


def _problems(*results: Result | None) -> list[str]:
    lines = []
    for r in results:
        if not r:
            continue
        for note in r["notes"]:
            lines.append(f"- {r['server']}: {note}")
        failures = r["setup"].get("failures") or {}
        for text, n in failures.items():
            lines.append(f"- {r['server']}: {n} set-up failures: {text}")
        last = r["steps"][-1] if r["steps"] else {}
        for text, n in (last.get("errors") or {}).items():
            lines.append(f"- {r['server']}: {n} x {text} (whole run)")
        if last.get("out_of_order"):
            lines.append(f"- {r['server']}: {last['out_of_order']} deliveries out of order or duplicated (whole run)")
    return [*lines, ""] if lines else []
