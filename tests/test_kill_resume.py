"""A real run SIGKILLed mid-way and resumed equals a run never killed, and leaves no Ray behind.

`python rl/run.py` on the tiny model (HF backend, max_staleness=0, float32), as a subprocess:
once straight through, and once killed with SIGKILL after a step past its first checkpoint,
resumed with --resume, killed again, and resumed to the end. Its metrics.jsonl must then hold
each step once with the straight run's values, and each killed driver's local Ray (which
outlives a SIGKILL) must be gone once the next run has started (cluster/ray_owner.py). The tiny random model never
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


def launch(tmp_path: Path, name: str, log_name: str, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(REPO), LONGHORIZON_CACHE=str(tmp_path / "cache"))
    env.setdefault("LONGHORIZON_MODELS_DIR", str(Path("~/.cache/longhorizon/models").expanduser()))
    log = (tmp_path / f"{log_name}.log").open("w")
    return subprocess.Popen(
        command(tmp_path, name, *extra), cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT
    )


def kill_after(process: subprocess.Popen, metrics: Path, step: int) -> None:
    """SIGKILL `process` as soon as metrics.jsonl holds the record of `step`."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if metrics.exists() and any(r["step"] == step for r in read_metrics(metrics)):
            process.send_signal(signal.SIGKILL)
            process.wait()
            return
        time.sleep(0.05)
    pytest.fail(f"the run ended (exit {process.poll()}) before step {step}")


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
    straight = launch(tmp_path, "straight", "straight")
    assert straight.wait(timeout=180) == 0, (tmp_path / "straight.log").read_text()[-3000:]

    # Killed after step 2 (checkpoint: step 1), resumed and killed after step 3 (checkpoint:
    # step 1 or 3, whichever the kill allowed), resumed to the end.
    metrics, owned = tmp_path / "split" / "metrics.jsonl", tmp_path / "cache" / "ray-owned"
    left_behind = []
    for attempt, step in enumerate((2, 3)):
        killed = launch(tmp_path, "split", f"split-{attempt}", *["--resume"] * bool(attempt))
        kill_after(killed, metrics, step)
        left_behind.append(ray_left_by(owned))
    resumed = launch(tmp_path, "split", "split-2", "--resume")
    assert resumed.wait(timeout=180) == 0, (tmp_path / "split-2.log").read_text()[-3000:]

    # Without the reaper this would be the leak: Ray processes outliving their driver.
    assert any(alive for _, alive in left_behind), "no Ray process outlived a SIGKILL here"
    for session_dir, alive in left_behind:
        assert not [pid for pid in alive if running(pid)], "a killed run's Ray survived"
        assert not Path(session_dir).exists()
    assert not list(owned.glob("*.json"))  # the finished run's own record is gone too

    expected = read_metrics(tmp_path / "straight" / "metrics.jsonl")
    got = read_metrics(metrics)
    assert [r["step"] for r in got] == list(range(STEPS))
    for key in ("batch/task_ids", "reward/mean", "train/loss", "curriculum/h1/horizon"):
        assert [r[key] for r in got] == [r[key] for r in expected], key
    log = (tmp_path / "split" / "run.log").read_text()
    assert log.count("cleaned the local Ray of a killed driver") == 2
    assert "records after step 1 cut" in log
