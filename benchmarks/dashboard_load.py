"""The live dashboard's server time on a 10,000-step run: first full load, then each update.

    python benchmarks/dashboard_load.py [--steps 10000] [--updates 50] [--browser]

Writes a metrics.jsonl of `--steps` records shaped like the driver's (rl/step_metrics.py,
rl/driver.py: rewards by task and level, zero-variance shares, lengths, the learner's 17 train/*
keys, the curriculum's metrics and events, task ids, timings, an evaluation every 50 steps),
the curriculum driven by a simulated learner (curricula/simulate.py) so levels and events move
as in a run. Then, through a real server on 127.0.0.1:
- first load: a fresh server's answer to a page that holds nothing (read and parse the whole
  file, build and serialise the columns), in the handler (server time) and end to end
  (the HTTP request, gzip and transfer included);
- update: one record appended, then the answer to a page that holds all the others.
Goals: first load <= 2 s, update <= 100 ms of server time. `--browser` also times the page
itself in chromium (Playwright): from navigation to drawn charts, and one redraw.
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import shutil
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

from curricula import build_curriculum
from curricula.config import CurriculumConfig
from curricula.dashboard_server import DashboardServer, json_body, maybe_gzip
from curricula.simulate import SimulatedLearner, SimulatedTask
from synth.base import Axis

AXES = [Axis("horizon", tuple(range(1, 9))), Axis("problem_steps", (1, 2, 3))]
TRAIN_KEYS = (
    "loss grad_norm lr skipped sequences tokens micro_batches step_seconds ratio_mean "
    "clip_low_mean clip_high_mean tis_weight_mean rollout_logprob_gap_mean "
    "rollout_logprob_abs_gap_mean entropy_mean kl_mean"
).split()


def level_key(level: dict[str, int]) -> str:
    return ",".join(f"{axis}={value}" for axis, value in sorted(level.items()))


def records(steps: int, prompts: int = 16, seed: int = 0):
    """`steps` driver-shaped records, one per step."""
    rng = random.Random(seed)
    curriculum = build_curriculum(CurriculumConfig(), {"h1": AXES}, seed=seed)
    learner = SimulatedLearner(
        {"h1": SimulatedTask(AXES, max_skill=6.0, learn_rate=0.002)}, seed=seed
    )
    for step in range(steps):
        results = learner.attempt(curriculum.choose(prompts))
        curriculum.observe(results)
        record = {"step": step}
        by_level: dict[str, list[list[float]]] = {}
        for result in results:
            by_level.setdefault(level_key(result["level"]), []).append(result["rewards"])
        flat = [r for result in results for r in result["rewards"]]
        record["reward/mean"] = sum(flat) / len(flat)
        record["reward/h1/mean"] = record["reward/mean"]
        for key, groups in by_level.items():
            values = [r for group in groups for r in group]
            record[f"reward/h1/{key}/mean"] = sum(values) / len(values)
            record[f"zero_var/h1/{key}"] = sum(len(set(g)) == 1 for g in groups) / len(groups)
        record["zero_var_frac"] = sum(len(set(r["rewards"])) == 1 for r in results) / len(results)
        record["response_length/mean"] = rng.uniform(30, 120)
        record["response_length/max"] = rng.randint(120, 256)
        record["response_length/truncated_frac"] = rng.random() * 0.2
        record["batch/task_ids"] = [
            f"h1-builtin-s{rng.getrandbits(32)}-{i}" for i in range(prompts)
        ]
        record |= {"groups/observed": prompts, "groups/trained": prompts}
        record |= {f"time/{k}": rng.uniform(0.1, 9) for k in ("rollout", "reward", "train", "sync")}
        record |= {f"train/{key}": rng.gauss(0, 1) for key in TRAIN_KEYS}
        record |= curriculum.metrics()
        record["frontier/h1"] = curriculum.current_levels()["h1"]
        record["curriculum/events"] = curriculum.pop_events()
        if step % 50 == 49:
            record |= {"eval/one_step/pass@1": rng.random(), "eval/select": rng.random()}
        yield record


def server_seconds(server: DashboardServer, query: tuple[int, int, int]) -> tuple[float, int]:
    """Seconds the handler spends on one answer (read what is new, columns, JSON, gzip) and
    the size of the body it sends."""
    started = time.perf_counter()
    body, _ = maybe_gzip(json_body(server.runs[0].update(*query)), accepted=True)
    return time.perf_counter() - started, len(body)


def fetch(url: str) -> tuple[float, dict]:
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        body = response.read()
        if response.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
    return time.perf_counter() - started, json.loads(body)


def page_times(url: str, steps: int) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=shutil.which("chromium"))
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        started = time.perf_counter()
        page.goto(url)
        page.wait_for_function(
            "n => { const s = document.querySelector(\"[data-chart='reward'] path.series\");"
            " return s && Number(s.dataset.points) === n; }",
            arg=steps,
            timeout=60_000,
        )
        first = time.perf_counter() - started
        redraw = page.evaluate(
            "() => { const t = performance.now(); render(); return performance.now() - t; }"
        )
        browser.close()
    return {"first paint with all charts (s)": first, "one full redraw (ms)": redraw}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--updates", type=int, default=50)
    parser.add_argument("--browser", action="store_true", help="also time the page in chromium")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        run_dir = Path(scratch) / "run"
        run_dir.mkdir()
        metrics = run_dir / "metrics.jsonl"
        started = time.perf_counter()
        made = list(records(args.steps + args.updates))
        with metrics.open("w") as out:
            out.writelines(json.dumps(r) + "\n" for r in made[: args.steps])
        size = metrics.stat().st_size
        print(f"wrote {args.steps} records, {size / 2**20:.1f} MiB "
              f"({size / args.steps / 1024:.1f} KiB each) in {time.perf_counter() - started:.1f} s")  # fmt: skip

        server = DashboardServer([run_dir], port=0).start()
        try:
            cpu = time.process_time()
            first, body = server_seconds(server, (0, 0, 0))
            cpu = time.process_time() - cpu
            print(
                f"first load, server time: {first:.3f} s (CPU {cpu:.3f} s), answer {body / 2**20:.2f} MiB gzipped"
            )
            fresh = DashboardServer([run_dir], port=0).start()
            try:
                wall, answer = fetch(fresh.url + "api/run/0")
            finally:
                fresh.stop()
            print(f"first load over HTTP (fresh server, gzip, parse on the client side): {wall:.3f} s, "
                  f"{len(answer['steps'])} rows, {len(answer['columns'])} columns")  # fmt: skip
            generation = server.runs[0].metrics.generation
            times = []
            for index, record in enumerate(made[args.steps :]):
                with metrics.open("a") as out:
                    out.write(json.dumps(record) + "\n")
                rows = args.steps + index
                events = len(server.runs[0].metrics.events)
                seconds, _ = server_seconds(server, (generation, rows, events))
                times.append(seconds)
            print(f"update after one appended record, server time over {len(times)} updates: "
                  f"median {statistics.median(times) * 1000:.2f} ms, max {max(times) * 1000:.2f} ms")  # fmt: skip
            if args.browser:
                for name, value in page_times(server.url, args.steps + args.updates).items():
                    print(f"page: {name}: {value:.3f}")
        finally:
            server.stop()
    print(f"goals: first load <= 2 s ({'met' if first <= 2 else 'NOT met'}), "
          f"update <= 100 ms ({'met' if max(times) <= 0.1 else 'NOT met'})")  # fmt: skip


if __name__ == "__main__":
    main()
