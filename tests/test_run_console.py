"""`python rl/run.py` end to end as a user sees it: real local Ray, a real vLLM engine (whose
weight reloads are what flood a console), the tiny model, `logging.dashboard=true`.

The console holds the progress bar, one line per step and the dashboard's URL; Ray's and
vLLM's own lines are in runs/<name>/run.log; the page answers while the run trains and stops
with it. The tiny model never solves h1, so the reward is the share of the letter "e" in a
completion (registered by a small launcher script, as in tests/test_eval_run.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]
LAUNCHER = (
    "import sys, rewards\n"
    "rewards.REWARDS['letter_e_share'] = lambda prompts, completions, **c: "
    "[min(1.0, 5 * t.count('e') / max(len(t), 1)) for t in completions]\n"
    "from rl.run import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def test_console_shows_progress_steps_and_url_while_library_lines_go_to_run_log(tmp_path):
    overrides = [
        "model=tiny", f"output_dir={tmp_path}", "name=console", "steps=2", "max_staleness=0",
        "prompts_per_step=2", "sampling.n=4", "sampling.max_tokens=16",
        "tasks.h1.reward=letter_e_share", "rollout.backend=vllm", "rollout.kv_cache_gib=0.25",
        "rollout.max_model_len=512", "ray.num_cpus=4", "logging.wandb=disabled",
        "logging.dashboard=true", "logging.dashboard_port=0",
    ]  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, *overrides],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    stderr: list[str] = []
    reader = threading.Thread(target=lambda: stderr.extend(process.stderr), daemon=True)
    reader.start()
    seen_live = None
    deadline = time.time() + 600
    while process.poll() is None and time.time() < deadline:
        url = next((line.split("dashboard: ")[1].split()[0] for line in stderr
                    if "dashboard: http" in line), None)  # fmt: skip
        if url and seen_live is None:
            try:
                with urllib.request.urlopen(url + "api/run/0", timeout=5) as response:
                    answer = json.loads(response.read())
                if answer["steps"]:
                    seen_live = answer
            except (urllib.error.URLError, ConnectionError):
                pass
        time.sleep(0.5)
    stdout = process.communicate(timeout=60)[0]
    reader.join(timeout=10)
    console = stdout + "".join(stderr)
    assert process.returncode == 0, console[-3000:]

    assert seen_live is not None and seen_live["name"] == "console", "the page never answered"
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=5)  # stopped with the run
    assert url.startswith("http://127.0.0.1:") and "ssh -N -L" in console
    assert console.count("rl.driver: step ") == 2 and "grpo:" in console
    for noise in ("RotaryEmbedding", "torch.set_num_threads", "(VLLMEngine", "(LearnerActor",
                  "Started a local Ray instance", "loaded policy version", "non-default args"):  # fmt: skip
        assert noise not in console, noise
    run_dir = tmp_path / "console"
    log = (run_dir / "run.log").read_text()
    for line in ("RotaryEmbedding: Failed to load weights", "Reloading weights inplace",
                 "Started a local Ray instance", "loaded policy version 2", "step 1 |"):  # fmt: skip
        assert line in log, line
    assert (run_dir / "rollouts.jsonl").read_text().count("\n") >= 2
