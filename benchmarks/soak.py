"""Soak: a long run that is hurt on purpose, and what it kept (issue #22, point 5).

    python benchmarks/soak.py                                  # the embedded loop, 200 steps
    python benchmarks/soak.py --model tiny --backend hf --steps 60 --driver-kills 20 40

`python rl/run.py` (default checkpoint cadence: every 10 steps or 10 minutes) for --steps steps.
Every --kill-worker-every steps a rollout worker process (`ray::VLLMEngine` / `ray::HFEngine`
under the driver) gets SIGKILL; at each step in --driver-kills the driver itself gets SIGKILL
and the same command is started again with --resume. Reported, measured in this one run:

- steps lost: per driver kill, the steps recorded before the kill that had to be trained again
  (goal: no more than the checkpoint cadence);
- duplicated records: steps that appear twice in metrics.jsonl at the end (goal 0);
- resident memory growth per 100 steps: the driver process tree's RSS, least-squares slope over
  each uninterrupted segment past its first 10 steps, as a share of its size (goal < 2 %);
- leaked processes: processes of any of the run's Ray sessions alive 30 s after the last driver
  exited (goal 0).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rl.rundir import read_metrics  # noqa: E402

ENGINES = ("ray::VLLMEngine", "ray::HFEngine")


def tree_rss(process: psutil.Process) -> int:
    """Resident bytes of `process` and its descendants (Ray's workers are the driver's)."""
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            pass
    return total


def engine_workers(process: psutil.Process) -> list[psutil.Process]:
    found = []
    for child in process.children(recursive=True):
        try:
            if " ".join(child.cmdline()).startswith(ENGINES):
                found.append(child)
        except psutil.Error:
            pass
    return found


def recorded_steps(metrics: Path) -> list[int]:
    return [r["step"] for r in read_metrics(metrics)] if metrics.exists() else []


def slope_per_100(points: list[tuple[int, int]]) -> float | None:
    """Least-squares RSS slope (bytes per 100 steps) over (step, rss) points, as a share."""
    if len(points) < 5:
        return None
    n = len(points)
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    var = sum((x - mean_x) ** 2 for x, _ in points)
    if var == 0:
        return None
    slope = sum((x - mean_x) * (y - mean_y) for x, y in points) / var
    return 100 * slope / mean_y


def segment(command: list[str], metrics: Path, env: dict, args, kill_at: int | None) -> dict:
    """One driver: until it ends, or until `kill_at` is recorded (then SIGKILL)."""
    driver = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)  # fmt: skip
    process = psutil.Process(driver.pid)
    seen, rss, worker_kills, sessions = set(recorded_steps(metrics)), [], 0, set()
    start = max(seen, default=-1) + 1
    while driver.poll() is None:
        time.sleep(0.5)
        steps = recorded_steps(metrics)
        for step in sorted(set(steps) - seen):
            seen.add(step)
            if step >= start + 10:
                rss.append((step, tree_rss(process)))
            if args.kill_worker_every and step % args.kill_worker_every == 0 and step > 0:
                workers = engine_workers(process)
                if workers:
                    workers[0].send_signal(signal.SIGKILL)
                    worker_kills += 1
            if kill_at is not None and step >= kill_at:
                driver.send_signal(signal.SIGKILL)
                driver.wait()
                return {"killed_at": step, "rss": rss, "worker_kills": worker_kills}
        for path in Path(env["LONGHORIZON_CACHE"], "ray-owned").glob("*.json"):
            try:
                sessions.add(json.loads(path.read_text())["session_dir"])
            except (OSError, ValueError, KeyError):
                pass
    return {"exit": driver.returncode, "rss": rss, "worker_kills": worker_kills,
            "sessions": sessions}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="embedded")
    parser.add_argument("--backend", default="vllm", choices=("vllm", "hf"))
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--kill-worker-every", type=int, default=20)
    parser.add_argument("--driver-kills", type=int, nargs="*", default=[70, 140])
    parser.add_argument("extra", nargs="*", help="dotted overrides for rl/run.py")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="soak-"))
    print(f"work directory: {work} (the run: {work / 'soak'})", flush=True)
    env = dict(os.environ, LONGHORIZON_CACHE=str(work / "cache"), WANDB_MODE="offline")
    env.setdefault("LONGHORIZON_MODELS_DIR", str(Path("~/.cache/longhorizon/models").expanduser()))
    command = [
        sys.executable, str(REPO / "rl" / "run.py"), f"model={args.model}",
        f"rollout.backend={args.backend}", f"steps={args.steps}", f"output_dir={work}",
        "name=soak", "eval.sets={}", "logging.progress=false", "logging.wandb=disabled",
        *args.extra,
    ]  # fmt: skip
    metrics = work / "soak" / "metrics.jsonl"
    started, segments = time.perf_counter(), []
    for index, kill_at in enumerate([*args.driver_kills, None]):
        resume = ["--resume"] if index else []
        segments.append(segment(command + resume, metrics, env, args, kill_at))
        print(f"segment {index}: { ({k: v for k, v in segments[-1].items() if k != 'rss'}) }")
    time.sleep(30)
    sessions = set().union(*(s.get("sessions", set()) for s in segments))
    leaked = [p.pid for p in psutil.process_iter(["cmdline"])
              if any(d in " ".join(p.info["cmdline"] or []) for d in sessions)]  # fmt: skip
    steps = recorded_steps(metrics)
    log = (work / "soak" / "run.log").read_text(errors="replace") if metrics.exists() else ""
    resumes = [int(line.rsplit("at step ", 1)[1].split()[0]) for line in log.splitlines()
               if "resumed from" in line and "at step " in line]  # fmt: skip
    lost = [kill + 1 - start for kill, start in
            zip([s["killed_at"] for s in segments if "killed_at" in s], resumes, strict=False)]  # fmt: skip
    growth = [g for s in segments if (g := slope_per_100(s["rss"])) is not None]
    report = {
        "model": args.model, "backend": args.backend, "steps": args.steps,
        "wall_min": round((time.perf_counter() - started) / 60, 1),
        "final_exit": segments[-1].get("exit"), "worker_kills": sum(s["worker_kills"] for s in segments),
        "driver_kills": len(args.driver_kills), "steps_lost_per_driver_kill": lost,
        "duplicated_records": len(steps) - len(set(steps)),
        "missing_steps": sorted(set(range(args.steps)) - set(steps)),
        "rss_growth_per_100_steps_pct": [round(g, 2) for g in growth],
        "leaked_processes": len(leaked), "run_dir": str(work / "soak"),
    }  # fmt: skip
    print(json.dumps(report, indent=2))
    return 0 if report["final_exit"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
