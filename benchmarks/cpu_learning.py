"""Does the CPU recipe learn, and does its curriculum beat h1's baselines at the same budget?

    python benchmarks/cpu_learning.py                       # 3 schedules x 2 seeds, ~3 hours
    python benchmarks/cpu_learning.py --schedules adaptive --seeds 0 --out /tmp/cpu-learning

Runs configs/cpu_learning.yaml (python rl/run.py, one run at a time, each alone on the machine)
with its adaptive curriculum, and with the same steps spent on a fixed level (h1's Only-L1: the
start level throughout) and on a uniform mix of levels (h1's Uniform-Mix), for each seed. Every
run evaluates the same held-out sets at the same steps. Prints, per run, the held-out pass@1
of the starting model, the last and the best policy, the wall time and the promotions, and
writes summary.json and a plot (rl/plot_runs.py) into --out.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rl.rundir import read_metrics  # noqa: E402

SCHEDULES = {
    "adaptive": [],
    "fixed_level": ["curriculum.schedule.kind=fixed_level"],
    "uniform": ["curriculum.schedule.kind=uniform"],
}


def run_one(out: Path, schedule: str, seed: int, extra: list[str]) -> dict:
    name = f"{schedule}-s{seed}"
    command = [
        sys.executable, str(REPO / "rl" / "run.py"), "--config",
        str(REPO / "configs" / "cpu_learning.yaml"), f"output_dir={out}", f"name={name}",
        f"seed={seed}", "logging.progress=false", *SCHEDULES[schedule], *extra,
    ]  # fmt: skip
    started = time.perf_counter()
    with (out / f"{name}.log").open("w") as log:
        subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=True, cwd=REPO)
    seconds = time.perf_counter() - started
    records = read_metrics(out / name / "metrics.jsonl")
    sets = sorted(
        k.split("/")[1] for k in records[0] if k.startswith("eval_base/") and k.endswith("/pass@1")
        and k.count("/") == 2
    )  # fmt: skip
    evaluated = [r for r in records if "eval/select" in r]
    best = max(evaluated, key=lambda r: r["eval/select"])
    promotions = sum(
        1 for r in records for e in r.get("curriculum/events", []) if e.get("event") == "promote"
    )
    return {
        "run": name,
        "schedule": schedule,
        "seed": seed,
        "wall_s": seconds,
        "steps": len(records),
        "promotions": promotions,
        "base": {s: records[0][f"eval_base/{s}/pass@1"] for s in sets},
        "last": {s: evaluated[-1][f"eval/{s}/pass@1"] for s in sets},
        "best": {s: best[f"eval/{s}/pass@1"] for s in sets},
        "best_updates": best["eval/updates"],
        "eval_curve": [(r["eval/updates"], r["eval/select"]) for r in evaluated],
    }


def table(results: list[dict]) -> str:
    sets = sorted(results[0]["base"])
    header = (
        "| run | wall | promotions | " + " | ".join(f"{s} base / last / best" for s in sets) + " |"
    )
    lines = [header, "|" + "---|" * (3 + len(sets))]
    for r in results:
        cells = [f"{r['base'][s]:.3f} / {r['last'][s]:.3f} / {r['best'][s]:.3f}" for s in sets]
        lines.append(f"| {r['run']} | {r['wall_s'] / 60:.1f} min | {r['promotions']} | "
                     + " | ".join(cells) + " |")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--schedules", nargs="+", choices=tuple(SCHEDULES), default=list(SCHEDULES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "cpu-learning")
    parser.add_argument("extra", nargs="*", help="dotted overrides for every run")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    results = []
    for seed in args.seeds:
        for schedule in args.schedules:
            print(f"running {schedule} seed {seed} ...", flush=True)
            results.append(run_one(args.out, schedule, seed, args.extra))
            print(table(results[-1:]).splitlines()[-1], flush=True)
            (args.out / "summary.json").write_text(json.dumps(results, indent=2))
    print(table(results))
    from rl.plot_runs import plot

    plot([args.out / r["run"] for r in results], [r["run"] for r in results],
         args.out / "cpu_learning.png", "configs/cpu_learning.yaml: held-out pass@1")  # fmt: skip
    print(f"plot: {args.out / 'cpu_learning.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
