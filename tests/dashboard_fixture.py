"""Records the run the dashboard tests read: a real short GRPO run, kept in tests/fixtures/.

    flock /tmp/longhorizon-heavy.lock .venv/bin/python -m tests.dashboard_fixture

Real local Ray, the HF rollout engine and the tiny model, 6 steps with held-out evaluation
every 2 steps and an adaptive curriculum set to move within a few steps, so the records hold
promotions, several levels, eval scores and sample completions. The tiny model never solves
h1, so the reward is a plain function of the text (its share of the letter "e", as in
tests/test_driver.py): a real reward with TRL's signature, registered for this run only.
Only metrics.jsonl, rollouts.jsonl and config.yaml are kept (no checkpoints).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

FIXTURE = Path(__file__).with_name("fixtures") / "dashboard_run"
KEPT = ("metrics.jsonl", "rollouts.jsonl", "config.yaml")


def letter_e_share(prompts, completions, **columns):
    return [min(1.0, 5 * text.count("e") / max(len(text), 1)) for text in completions]


def overrides(output_dir: Path, eval_file: Path) -> list[str]:
    return [
        "model=tiny",
        f"output_dir={output_dir}",
        "name=dashboard-fixture",
        "steps=6",
        "max_staleness=0",
        "prompts_per_step=4",
        "sampling.n=4",
        "sampling.max_tokens=16",
        "trainer.lr=3e-3",
        "trainer.beta=0.01",  # so the records carry train/kl_mean
        "tasks.h1.reward=letter_e_share",
        "rollout.backend=hf",
        "rollout.max_model_len=512",
        "ray.num_cpus=4",
        "logging.wandb=disabled",
        "logging.progress=false",
        f"eval.sets.e={eval_file}",
        "eval.every_steps=2",
        "eval.samples=2",
        "curriculum.schedule.window=8",
        "curriculum.schedule.min_samples=2",
        "curriculum.schedule.promote_above=0.2",
        "curriculum.schedule.demote_below=0.05",
    ]


def record(out: Path = FIXTURE) -> Path:
    import rewards
    from rl.config import RunConfig
    from rl.config_io import dump_config, load_config
    from rl.lifetime import running
    from rl.rundir import MetricsLogger, make_run_dir
    from synth import get_generator

    rewards.REWARDS["letter_e_share"] = letter_e_share
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        tasks = get_generator("h1", purpose="eval").sample({"horizon": 1}, 4, seed=100)
        eval_file = scratch / "e.jsonl"
        eval_file.write_text(
            "".join(
                json.dumps(json.loads(t.model_dump_json()) | {"reward": "letter_e_share"}) + "\n"
                for t in tasks
            )
        )
        config = load_config(RunConfig, None, overrides(scratch, eval_file))
        run_dir = make_run_dir(config.output_dir, config.name, resume=False)
        (run_dir / "config.yaml").write_text(dump_config(config))
        metrics = MetricsLogger(run_dir, {}, "disabled", "test", config.name)
        with running(config, run_dir, metrics) as driver:
            driver.run()
        out.mkdir(parents=True, exist_ok=True)
        for name in KEPT:
            shutil.copy(run_dir / name, out / name)
    return out


if __name__ == "__main__":
    print(f"recorded {record()}")
    sys.exit(0)
