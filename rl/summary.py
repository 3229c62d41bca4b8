"""The end-of-run summary: the curriculum's path and the reward curve, in the terminal."""

from __future__ import annotations

from typing import Any

from rl.step_metrics import level_key

_BARS = " ▁▂▃▄▅▆▇█"


def sparkline(values: list[float], low: float = 0.0, high: float = 1.0) -> str:
    """One character per value, scaled to [low, high]."""
    span = (high - low) or 1.0
    cells = []
    for value in values:
        share = min(max((value - low) / span, 0.0), 1.0)
        cells.append(_BARS[round(share * (len(_BARS) - 1))])
    return "".join(cells)


def render_summary(records: list[dict[str, Any]], run_dir: str) -> str:
    """A table of step, reward and frontier level per task, a sparkline, and the run dir."""
    if not records:
        return f"no steps recorded; run directory: {run_dir}"
    tasks = sorted({key.split("/")[1] for r in records for key in r if key.startswith("frontier/")})
    header = ["step", "reward", *[f"{task} level" for task in tasks]]
    rows = [header]
    for record in records:
        row = [str(record["step"]), f"{record.get('reward/mean', float('nan')):.3f}"]
        row += [level_key(record.get(f"frontier/{task}", {})) for task in tasks]
        rows.append(row)
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    table = "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    )
    rewards = [float(r.get("reward/mean", 0.0)) for r in records]
    path = []
    for task in tasks:
        levels = [level_key(r[f"frontier/{task}"]) for r in records if f"frontier/{task}" in r]
        steps = [lv for i, lv in enumerate(levels) if i == 0 or lv != levels[i - 1]]
        path.append(f"curriculum path {task}: " + " -> ".join(steps))
    return "\n".join(
        [
            table,
            f"reward curve: {sparkline(rewards)}  (first {rewards[0]:.3f}, last {rewards[-1]:.3f}, best {max(rewards):.3f})",
            *path,
            f"run directory: {run_dir}",
        ]
    )
