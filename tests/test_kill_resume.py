"""A real run SIGKILLed mid-way and resumed equals a run never killed, and leaves no Ray behind.

`python rl/run.py` on the tiny model (HF backend, max_staleness=0, float32), as a subprocess:
once straight through, once killed with SIGKILL after a step past its first checkpoint, then
the same command with --resume. The resumed run's metrics.jsonl must hold each step once with
the straight run's values, and the killed driver's local Ray (which outlives a SIGKILL) must be
gone once the resumed run has started (cluster/ray_owner.py). The tiny random model never
solves a task, so the runs use the letter-"e" reward of tests/test_driver.py for a gradient.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from rl.rundir import read_metrics

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
STEPS = 5

# The run's CLI with a reward that varies with the text registered first (a child process
# cannot see a pytest monkeypatch).
LAUNCH = """
import sys
import rewards
from tests.test_driver import letter_e_share
rewards.REWARDS["letter_e_share"] = letter_e_share
from rl.run import main
sys.exit(main(sys.argv[1:]))
"""


def command(tmp_path: Path, name: str, *extra: str) -> list[str]:
    return [
        sys.executable, "-c", LAUNCH, *extra,
        "model=tiny", f"output_dir={tmp_path}", f"name={name}", f"steps={STEPS}",
        "max_staleness=0", "prompts_per_step=3", "sampling.n=4", "sampling.max_tokens=16",
        "trainer.lr=1e-3", "trainer.micro_batch_size=6", "tasks.h1.reward=letter_e_share",
        "eval.sets={}", "logging.progress=false", "logging.wandb=disabled",
        "rollout.backend=hf", "rollout.max_model_len=1024", "ray.num_cpus=4",
        "checkpoint.every=2", "checkpoint.every_minutes=0",
    ]  # fmt: skip


def launch(tmp_path: Path, name: str, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO), LONGHORIZON_CACHE=str(tmp_path / "cache"))
    env.setdefault("LONGHORIZON_MODELS_DIR", str(Path("~/.cache/longhorizon/models").expanduser()))
    log = (tmp_path / f"{name}{'-resume' * bool(extra)}.log").open("w")
    return subprocess.Popen(
        command(tmp_path, name, *extra), cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
    )


def kill_after(process: subprocess.Popen, metrics: Path, steps_done: int) -> None:
    """SIGKILL `process` once metrics.jsonl holds `steps_done` records."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if metrics.exists() and len(metrics.read_text().splitlines()) >= steps_done:
            process.send_signal(signal.SIGKILL)
            process.wait()
            return
        time.sleep(0.05)
    pytest.fail(f"the run ended (exit {process.poll()}) before step {steps_done}")


def running(pid: int) -> bool:
    """Alive and not a zombie (an orphan's exit may wait for a reaper that never comes here)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def ray_left_by(record_dir: Path) -> tuple[str, list[int]]:
    """The killed driver's recorded Ray: its session directory and the pids still running."""
    (record,) = [json.loads(path.read_text()) for path in record_dir.glob("*.json")]
    return record["session_dir"], [p["pid"] for p in record["processes"] if running(p["pid"])]


def test_a_killed_run_resumes_as_if_never_killed_and_leaves_no_ray(tmp_path):
    straight = launch(tmp_path, "straight")
    assert straight.wait(timeout=180) == 0, (tmp_path / "straight.log").read_text()[-3000:]

    killed = launch(tmp_path, "split")
    kill_after(killed, tmp_path / "split" / "metrics.jsonl", steps_done=3)  # checkpoint: step 1
    session_dir, alive = ray_left_by(tmp_path / "cache" / "ray-owned")
    resumed = launch(tmp_path, "split", "--resume")
    assert resumed.wait(timeout=180) == 0, (tmp_path / "split-resume.log").read_text()[-3000:]

    assert alive, "a SIGKILLed driver's Ray used to outlive it; nothing was left this time"
    assert not [pid for pid in alive if running(pid)], "the killed run's Ray survived"
    assert not Path(session_dir).exists()
    assert not list((tmp_path / "cache" / "ray-owned").glob("*.json"))  # the resumed run's too

    expected = read_metrics(tmp_path / "straight" / "metrics.jsonl")
    got = read_metrics(tmp_path / "split" / "metrics.jsonl")
    assert [r["step"] for r in got] == list(range(STEPS))
    for key in ("batch/task_ids", "reward/mean", "train/loss", "curriculum/h1/horizon"):
        assert [r[key] for r in got] == [r[key] for r in expected], key
    log = (tmp_path / "split-resume.log").read_text() + (tmp_path / "split" / "run.log").read_text()
    assert "cleaned the local Ray of a killed driver" in log
    assert "records after step 1 cut" in log
