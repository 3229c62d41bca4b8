"""The curriculum dashboard: level path per task and per-level success, from metrics.jsonl.

    python -m curricula.dashboard runs/<name>/metrics.jsonl [--width 72] [--html report.html]
    python -m curricula.dashboard serve runs/<name> [runs/<other> ...] [--port 8765]

`serve` is the live page that follows running jobs (curricula/dashboard_server.py); the forms
below render a finished file once.

Reads the flat records `Curriculum.metrics()` writes (`curriculum/<task>/<axis>`,
`curriculum/<task>/<label>/success`, ...; the step from `step` or `curriculum/step`) and the
events `Curriculum.pop_events()` returns, as lines with an `event` key or lists under
`curriculum/events`. Other keys are ignored; lines that are not JSON objects are counted and
reported. Prints a text chart per axis and a table; `--html` also writes a self-contained
page with inline SVG (no images, no scripts, no dependencies).
"""

from __future__ import annotations

import argparse
import html
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curricula.base import TASK_COUNTERS

PREFIX = "curriculum/"
LEVEL_STATS = ("success", "zero_var_frac", "all_solved_frac", "all_failed_frac", "groups")


@dataclass
class Report:
    """What the dashboard shows, gathered from one metrics file."""

    # task -> axis -> [(step, value)]
    paths: dict[str, dict[str, list[tuple[int, float]]]] = field(default_factory=dict)
    # task -> level label -> latest stats
    levels: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    skipped_lines: int = 0


def _read_metrics(record: dict[str, Any], step: int, report: Report) -> None:
    for key, value in record.items():
        if not key.startswith(PREFIX) or not isinstance(value, int | float):
            continue
        if not math.isfinite(value):
            continue
        parts = key[len(PREFIX) :].split("/")
        if len(parts) == 2 and parts[1] not in TASK_COUNTERS:
            report.paths.setdefault(parts[0], {}).setdefault(parts[1], []).append(
                (step, float(value))
            )
        elif len(parts) == 3 and parts[2] in LEVEL_STATS:
            report.levels.setdefault(parts[0], {}).setdefault(parts[1], {})[parts[2]] = float(value)


def _step(record: dict[str, Any], number: int) -> int | None:
    step = record.get("step", record.get(f"{PREFIX}step", number))
    if isinstance(step, bool) or not isinstance(step, int | float) or not math.isfinite(step):
        return None
    return int(step)


def _record(raw: bytes) -> dict[str, Any] | None:
    """One line as a JSON object, or None (not UTF-8, not JSON, not an object)."""
    try:
        record = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    return record if isinstance(record, dict) else None


def load(path: Path) -> Report:
    """Parse a metrics.jsonl file; malformed lines (not UTF-8, not a JSON object, a step that
    is not a number) are counted, not fatal."""
    report = Report()
    for number, raw in enumerate(path.read_bytes().splitlines()):
        if not raw.strip():
            continue
        record = _record(raw)
        step = _step(record, number) if record is not None else None
        if record is None or step is None:
            report.skipped_lines += 1
            continue
        if record.get("event") in ("promote", "demote"):
            report.events.append(record)
        events = record.get(f"{PREFIX}events", [])
        report.events.extend(e for e in events if isinstance(e, dict) and isinstance(events, list))
        _read_metrics(record, step, report)
    return report


# -- text ------------------------------------------------------------------------------------


def path_chart(points: list[tuple[int, float]], width: int) -> list[str]:
    """Rows of a step chart: one row per value seen (hardest on top), one column per bucket of
    steps; a cell is filled when the frontier held that value in that bucket."""
    first, last = points[0][0], points[-1][0]
    buckets = min(width, len(points))
    span = max(1, last - first + 1)
    values = sorted({value for _, value in points}, reverse=True)
    filled: dict[float, set[int]] = {value: set() for value in values}
    for step, value in points:
        filled[value].add(min(buckets - 1, (step - first) * buckets // span))
    label_width = max(len(f"{value:g}") for value in values)
    rows = [
        f"{value:>{label_width}g} |"
        + "".join("█" if col in filled[value] else " " for col in range(buckets))
        for value in values
    ]
    rows.append(" " * label_width + " +" + "-" * buckets)
    rows.append(
        " " * label_width
        + f"  step {first}"
        + f"step {last}".rjust(max(0, buckets - 5 - len(str(first))))
    )
    return rows


def render_text(report: Report, width: int = 72) -> str:
    lines: list[str] = []
    for task, axes in sorted(report.paths.items()):
        for axis, points in axes.items():
            lines.append(
                f"{task} · {axis}: {points[0][1]:g} -> {points[-1][1]:g} over {len(points)} records"
            )
            lines.extend("  " + row for row in path_chart(points, width))
            lines.append("")
    for task, levels in sorted(report.levels.items()):
        lines.append(f"{task}: per-level window stats (latest)")
        lines.append(
            f"  {'level':<24} {'success':>8} {'zero-var':>9} {'solved':>7} {'failed':>7} {'seen':>7}"
        )
        for label, stats in levels.items():
            lines.append(
                f"  {label:<24} {stats.get('success', 0):8.2f} {stats.get('zero_var_frac', 0):9.2f} "
                f"{stats.get('all_solved_frac', 0):7.2f} {stats.get('all_failed_frac', 0):7.2f} "
                f"{stats.get('groups', 0):7.0f}"
            )
        lines.append("")
    promotions = sum(e.get("event") == "promote" for e in report.events)
    lines.append(f"events: {promotions} promotions, {len(report.events) - promotions} demotions")
    for event in report.events[-10:]:
        lines.append(
            f"  step {event.get('step')}: {event.get('task')} {event.get('event')} "
            f"{event.get('from')} -> {event.get('to')} ({event.get('reason', '')})"
        )
    if report.skipped_lines:
        lines.append(
            f"skipped {report.skipped_lines} lines that were not JSON objects with a numeric step"
        )
    return "\n".join(lines)


# -- html ------------------------------------------------------------------------------------


def _svg_path(points: list[tuple[int, float]], width: int = 640, height: int = 160) -> str:
    first, last = points[0][0], points[-1][0]
    values = sorted({value for _, value in points})
    rank = {value: index for index, value in enumerate(values)}
    step_scale = (width - 60) / max(1, last - first)
    row = (height - 30) / max(1, len(values) - 1)

    def xy(step: int, value: float) -> tuple[float, float]:
        return 50 + (step - first) * step_scale, height - 20 - rank[value] * row

    coords = []
    for index, (step, value) in enumerate(points):
        x, y = xy(step, value)
        if index:
            coords.append(f"{x:.1f},{coords[-1].split(',')[1]}")
        coords.append(f"{x:.1f},{y:.1f}")
    labels = "".join(
        f'<text x="4" y="{xy(first, value)[1] + 4:.1f}" font-size="11">{value:g}</text>'
        for value in values
    )
    return (
        f'<svg width="{width}" height="{height}" xmlns="http://www.w3.org/2000/svg">{labels}'
        f'<polyline fill="none" stroke="#2563eb" stroke-width="2" points="{" ".join(coords)}"/>'
        f'<text x="50" y="{height - 4}" font-size="11">step {first}</text>'
        f'<text x="{width - 80}" y="{height - 4}" font-size="11">step {last}</text></svg>'
    )


def render_html(report: Report, title: str) -> str:
    parts = [f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>"]
    parts.append(
        "<body style='font-family:sans-serif'><h1>Curriculum: " + html.escape(title) + "</h1>"
    )
    for task, axes in sorted(report.paths.items()):
        for axis, points in axes.items():
            parts.append(f"<h2>{html.escape(task)} · {html.escape(axis)}</h2>{_svg_path(points)}")
    for task, levels in sorted(report.levels.items()):
        parts.append(
            f"<h2>{html.escape(task)}: per-level window stats</h2><table border='1' cellpadding='4'>"
        )
        parts.append(
            "<tr><th>level</th>" + "".join(f"<th>{name}</th>" for name in LEVEL_STATS) + "</tr>"
        )
        for label, stats in levels.items():
            cells = "".join(f"<td>{stats.get(name, 0):.2f}</td>" for name in LEVEL_STATS)
            parts.append(f"<tr><td>{html.escape(label)}</td>{cells}</tr>")
        parts.append("</table>")
    parts.append(f"<h2>Events ({len(report.events)})</h2><ul>")
    for event in report.events:
        text = f"step {event.get('step')}: {event.get('task')} {event.get('event')} {event.get('from')} -> {event.get('to')} ({event.get('reason', '')})"
        parts.append(f"<li>{html.escape(text)}</li>")
    parts.append("</ul></body>")
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        from curricula.dashboard_server import main as serve

        return serve(argv[1:])
    parser = argparse.ArgumentParser(
        prog="python -m curricula.dashboard",
        description=__doc__.splitlines()[0],
        epilog="python -m curricula.dashboard serve --help: the live page",
    )
    parser.add_argument("metrics", type=Path, help="a run's metrics.jsonl")
    parser.add_argument("--width", type=int, default=72, help="columns of the text charts")
    parser.add_argument(
        "--html", type=Path, default=None, help="also write a static HTML report here"
    )
    args = parser.parse_args(argv)
    if not args.metrics.is_file():
        print(
            f"dashboard: {args.metrics} is not a file; pass a run's metrics.jsonl", file=sys.stderr
        )
        return 2
    report = load(args.metrics)
    if not report.paths and not report.levels:
        skipped = f" ({report.skipped_lines} unreadable lines)" if report.skipped_lines else ""
        print(f"dashboard: {args.metrics} holds no curriculum/ metrics{skipped}", file=sys.stderr)
        return 2
    print(render_text(report, args.width))
    if args.html:
        args.html.write_text(render_html(report, str(args.metrics)))
        print(f"wrote {args.html}")
    return 0


if __name__ == "__main__":
    from rl.cli_guard import run_cli

    sys.exit(run_cli(main, "dashboard"))
