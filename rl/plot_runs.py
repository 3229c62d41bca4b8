"""Plot runs from their metrics.jsonl: training reward, held-out score and curriculum level.

    python -m rl.plot_runs runs/cpu-learning --out docs/cpu_learning.png
    python -m rl.plot_runs runs/a runs/b runs/c --labels curriculum fixed uniform --out cmp.png

Three panels over optimizer updates: the training reward per step, the held-out score
(`eval/select`: the starting model at 0 from `eval_base/...`, then after each evaluation),
and each task's curriculum level (the position of its frontier along its axes). Several runs
share the axes, one colour each. Needs matplotlib (the `dev` extras).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from statistics import fmean
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rl.rundir import read_metrics  # noqa: E402


def eval_curve(records: list[dict[str, Any]]) -> tuple[list[int], list[float]]:
    """(updates, held-out score): the base at 0, then every evaluation (mean over sets)."""
    updates, scores = [], []
    base = [v for k, v in records[0].items() if k.startswith("eval_base/") and k.endswith("/pass@1")
            and k.count("/") == 2] if records else []  # fmt: skip
    if base:
        updates.append(0)
        scores.append(fmean(base))
    for record in records:
        if "eval/select" in record:
            updates.append(int(record["eval/updates"]))
            scores.append(float(record["eval/select"]))
    return updates, scores


def level_curve(records: list[dict[str, Any]], task: str) -> list[int]:
    """The frontier's rank along the task's axes at each step (sum of axis indices, 0 = floor)."""
    levels = [record.get(f"frontier/{task}") or {} for record in records]
    seen: dict[str, list[int]] = {}
    for level in levels:
        for axis, value in level.items():
            seen.setdefault(axis, [])
            if value not in seen[axis]:
                seen[axis].append(value)
    ranks = {axis: sorted(values) for axis, values in seen.items()}
    return [sum(ranks[axis].index(v) for axis, v in level.items()) for level in levels]


def plot(run_dirs: list[Path], labels: list[str], out: Path, title: str = "") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (reward_ax, eval_ax, level_ax) = plt.subplots(3, 1, figsize=(8, 9), sharex=True)
    for index, (run_dir, label) in enumerate(zip(run_dirs, labels, strict=True)):
        records = read_metrics(run_dir / "metrics.jsonl")
        colour = f"C{index}"
        steps = [record["step"] + 1 for record in records]
        reward_ax.plot(steps, [r.get("reward/mean", 0.0) for r in records], colour, label=label,
                       alpha=0.8)  # fmt: skip
        updates, scores = eval_curve(records)
        eval_ax.plot(updates, scores, colour, marker="o", label=label)
        tasks = sorted(
            {k.split("/", 1)[1] for r in records for k in r if k.startswith("frontier/")}
        )
        for task in tasks:
            level_ax.step(steps, level_curve(records, task), colour, where="post",
                          label=f"{label} {task}")  # fmt: skip
    reward_ax.set_ylabel("training reward")
    eval_ax.set_ylabel("held-out pass@1")
    level_ax.set_ylabel("curriculum level\n(axis steps above floor)")
    level_ax.set_xlabel("optimizer updates")
    for axis in (reward_ax, eval_ax, level_ax):
        axis.grid(alpha=0.3)
    eval_ax.legend(fontsize=8)
    if title:
        reward_ax.set_title(title)
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rl.plot_runs", description=__doc__.split("\n")[0]
    )
    parser.add_argument("runs", nargs="+", type=Path, help="run directories")
    parser.add_argument("--labels", nargs="+", help="one label per run (default: the names)")
    parser.add_argument("--title", default="")
    parser.add_argument("--out", type=Path, required=True, help="PNG file to write")
    args = parser.parse_args(argv)
    labels = args.labels or [run.name for run in args.runs]
    if len(labels) != len(args.runs):
        print("--labels must name every run", file=sys.stderr)
        return 2
    missing = [str(run) for run in args.runs if not (run / "metrics.jsonl").is_file()]
    if missing:
        print(f"no metrics.jsonl in {', '.join(missing)}", file=sys.stderr)
        return 2
    plot(args.runs, labels, args.out, args.title)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
