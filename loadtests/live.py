"""What a run shows while it runs (a `rich` live table) and the summary table that ends it.

`RichLive` shows, per process, connections, received events per second, CPU and the phase;
`PlainLive` (`--no-live`, tests, CI) prints one line per finished run instead. Both end with
`summary(results)`.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from .results import LOSS_COUNTERS, RunResult

FIGURES = ("events_per_s", "delivered_per_s", "p50_ms", "p99_ms", "p999_ms")


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def verdict(result: RunResult) -> str:
    if not result.passed:
        return "FAIL"
    return "client-bound" if result.client_bound else "ok"


def summary_rows(results: list[RunResult]) -> list[list[str]]:
    rows = []
    for r in results:
        loss = sum(r.counters.get(c, 0) for c in LOSS_COUNTERS)
        cpu = " ".join(f"{k}={v:.2f}" for k, v in sorted(r.cpu.items()))
        rows.append(
            [
                r.scenario,
                r.target,
                r.transport,
                r.backend,
                str(r.nodes),
                str(r.n),
                str(r.rep),
                *(_fmt(r.figures.get(f)) for f in FIGURES),
                str(loss),
                cpu,
                verdict(r) + (" (capped)" if r.capped else ""),
            ]
        )
    return rows


HEADERS = ["scenario", "target", "transport", "backend", "nodes", "N", "rep"]
HEADERS += ["events/s", "delivered/s", "p50 ms", "p99 ms", "p99.9 ms", "loss", "CPU", "result"]


class PlainLive:
    """One line per phase and per finished run, on stderr; a plain summary at the end."""

    def __init__(self) -> None:
        self.results: list[RunResult] = []

    def __enter__(self) -> PlainLive:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def phase(self, text: str) -> None:
        print(f"… {text}", file=sys.stderr, flush=True)

    def stats(self, process: str, values: dict[str, Any]) -> None:
        pass

    def done(self, result: RunResult) -> None:
        self.results.append(result)
        figures = ", ".join(f"{k}={_fmt(result.figures.get(k))}" for k in FIGURES)
        print(f"{verdict(result)}: {result.label}: {figures}", file=sys.stderr, flush=True)
        for failure in result.failures:
            print(f"  failed: {failure}", file=sys.stderr)

    def summary(self, results: list[RunResult]) -> None:
        widths = [max(len(h), *(len(row[i]) for row in summary_rows(results))) for i, h in
                  enumerate(HEADERS)] if results else [len(h) for h in HEADERS]  # fmt: skip
        print("  ".join(h.ljust(w) for h, w in zip(HEADERS, widths, strict=True)))
        for row in summary_rows(results):
            print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)))


class RichLive(PlainLive):
    """A `rich` live table: one row per process of the run in progress."""

    def __init__(self) -> None:
        super().__init__()
        from rich.console import Console
        from rich.live import Live

        self.console = Console(stderr=True)
        self.live = Live(console=self.console, refresh_per_second=4, transient=False)
        self.rows: dict[str, dict[str, Any]] = {}
        self.last: dict[str, tuple[float, int]] = {}
        self.current = ""

    def __enter__(self) -> RichLive:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(None, None, None)

    def _render(self) -> Any:
        from rich.table import Table

        table = Table(title=self.current, expand=False)
        for head in ("process", "connections", "received", "events/s", "CPU"):
            table.add_column(head, justify="right")
        for name, row in sorted(self.rows.items()):
            table.add_row(
                name,
                str(row.get("connections", "-")),
                f"{row.get('received', 0):,}",
                _fmt(row.get("rate")),
                f"{row.get('cpu', 0.0):.2f}",
            )
        return table

    def phase(self, text: str) -> None:
        if text.endswith("starting"):
            self.rows.clear()
            self.last.clear()
        self.current = text
        self.live.update(self._render())

    def stats(self, process: str, values: dict[str, Any]) -> None:
        now = time.monotonic()
        received = int(values.get("received", 0))
        before = self.last.get(process)
        row = dict(values)
        if before is not None and now > before[0]:
            row["rate"] = (received - before[1]) / (now - before[0])
        self.last[process] = (now, received)
        self.rows[process] = row
        self.live.update(self._render())

    def done(self, result: RunResult) -> None:
        self.results.append(result)
        self.console.print(
            f"[{'red' if not result.passed else 'green'}]{verdict(result)}[/]: {result.label}"
        )
        for failure in result.failures:
            self.console.print(f"  [red]failed[/]: {failure}")

    def summary(self, results: list[RunResult]) -> None:
        from rich.console import Console
        from rich.table import Table

        table = Table(title="Summary")
        for head in HEADERS:
            table.add_column(head)
        for row in summary_rows(results):
            table.add_row(*row)
        Console().print(table)


def make_live(enabled: bool) -> PlainLive:
    """The rich display when asked and stderr is a terminal, else the plain one."""
    if enabled and sys.stderr.isatty():
        try:
            return RichLive()
        except ImportError:
            print("rich missing (pip install -e '.[bench]'): plain output", file=sys.stderr)
    return PlainLive()
