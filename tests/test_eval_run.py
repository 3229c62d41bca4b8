"""Evaluation end to end, on real local Ray and real engines with the tiny model: during a run
(base, every step, best kept, resume with eval state, the base cache) and `python -m rl.eval`
over the run directory (vLLM loads the kept policy as it is).

The tiny random model never solves h1, so the eval set here is h1 records whose reward is a
plain function of the text registered by the test (its share of the letter "e"): a real reward
with TRL's signature that moves as the policy trains, not a mock.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import rewards
from rl.config import RunConfig
from rl.config_io import load_config
from rl.rundir import MetricsLogger, make_run_dir, read_metrics

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


def letter_e_share(prompts, completions, **columns):
    return [min(1.0, 5 * text.count("e") / max(len(text), 1)) for text in completions]


@pytest.fixture(scope="module")
def module_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("eval-run")


@pytest.fixture(scope="module", autouse=True)
def test_reward(module_dir):
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(rewards.REWARDS, "letter_e_share", letter_e_share)
        patch.setenv("LONGHORIZON_EVAL_CACHE", str(module_dir / "eval-cache"))
        yield


@pytest.fixture(scope="module")
def eval_file(module_dir) -> Path:
    from synth import get_generator

    tasks = get_generator("h1", purpose="eval").sample({"horizon": 1}, 6, seed=100)
    path = module_dir / "e_tasks.jsonl"
    lines = [
        json.dumps(json.loads(t.model_dump_json()) | {"reward": "letter_e_share"}) for t in tasks
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def straight(module_dir, eval_file) -> Path:
    """A 3-step run evaluated every step, shared by the tests below (a run costs ~10 s)."""
    return run_steps(config_for(module_dir, "straight", eval_file))


def config_for(tmp_path, name: str, eval_file: Path, *overrides: str) -> RunConfig:
    return load_config(
        RunConfig,
        None,
        [
            "model=tiny",
            f"output_dir={tmp_path}",
            f"name={name}",
            "steps=3",
            "max_staleness=0",
            "prompts_per_step=2",
            "sampling.n=4",
            "sampling.max_tokens=16",
            "trainer.lr=3e-3",
            "tasks.h1.reward=letter_e_share",
            "rollout.backend=hf",
            "rollout.max_model_len=512",
            "ray.num_cpus=4",
            "logging.wandb=disabled",
            "logging.progress=false",
            "eval.sets={}",
            f"eval.sets.e={eval_file}",
            "eval.every_steps=1",
            "eval.samples=2",
            *overrides,
        ],
    )


def run_steps(config: RunConfig, resume: bool = False) -> Path:
    from rl.lifetime import running

    run_dir = make_run_dir(config.output_dir, config.name, resume)
    metrics = MetricsLogger(run_dir, {}, "disabled", "test", config.name)
    with running(config, run_dir, metrics, resume) as driver:
        driver.run()
    return run_dir


def test_evaluation_during_a_run_keeps_the_best_and_resumes(
    tmp_path, module_dir, eval_file, straight
):
    records = read_metrics(straight / "metrics.jsonl")
    assert "eval_base/e/pass@1" in records[0]
    scores = [r["eval/select"] for r in records]
    assert [r["eval/updates"] for r in records] == [1, 2, 3]
    assert len(set(scores)) > 1  # the policy moved, and the scores with it
    best = json.loads((straight / "best" / "best.json").read_text())
    assert best["value"] == max(scores) and best["step"] == scores.index(max(scores))
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(straight / "best")  # a plain HF directory
    AutoModelForCausalLM.from_pretrained(straight / "checkpoints" / "step-2")
    from rl.plot_runs import eval_curve, main

    assert eval_curve(records) == ([0, 1, 2, 3], [records[0]["eval_base/e/pass@1"], *scores])
    assert main([str(straight), "--out", str(tmp_path / "curves.png")]) == 0
    assert (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"

    # The same run split in two: the base comes from the cache, the best survives the resume.
    cache = list((module_dir / "eval-cache").glob("*.json"))
    assert len(cache) == 1
    first = run_steps(config_for(tmp_path, "split", eval_file, "steps=2", "checkpoint.every=1"))
    assert read_metrics(first / "metrics.jsonl")[0]["eval_base/e/pass@1"] == pytest.approx(
        records[0]["eval_base/e/pass@1"]
    )
    state = json.loads((first / "checkpoints" / "step-1" / "driver.json").read_text())
    assert state["eval"]["best"]["value"] == max(r["eval/select"] for r in records[:2])
    second = run_steps(config_for(tmp_path, "split", eval_file, "checkpoint.every=1"), resume=True)
    resumed = read_metrics(second / "metrics.jsonl")
    assert [r["step"] for r in resumed] == [0, 1, 2]
    assert [r["eval/select"] for r in resumed] == pytest.approx(scores)
    final = json.loads((second / "checkpoints" / "step-2" / "driver.json").read_text())
    assert final["eval"]["best"]["value"] == pytest.approx(max(scores))
    assert final["eval"]["base"] == state["eval"]["base"]


def test_eval_cli_scores_a_run_directory_with_vllm(tmp_path, eval_file, straight):
    run_dir = straight
    out = tmp_path / "scores.json"
    command = [
        sys.executable, "-m", "rl.eval", "--model", str(run_dir), "--data", str(eval_file),
        "--data", "h1:horizon=2,n=3", "--samples", "2", "--max-tokens", "8",
        "--max-model-len", "512", "--json", str(out),
    ]  # fmt: skip
    # The test's reward is registered in this process only: the CLI runs a tiny plugin script
    # that registers it, then calls rl.eval's main.
    script = (
        "import sys, rewards\n"
        f"sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from test_eval_run import letter_e_share\n"
        "rewards.REWARDS['letter_e_share'] = letter_e_share\n"
        "from rl.eval import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, *command[3:]], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 0, result.stderr[-2000:]
    scores = json.loads(out.read_text())
    assert scores["model"] == str(run_dir / "best")  # the run's best policy, loaded by vLLM
    assert set(scores["sets"]) == {"e_tasks", "h1:horizon=2,n=3"}
    assert scores["sets"]["e_tasks"]["n"] == 6 and "2" in scores["sets"]["e_tasks"]["pass@k"]
    assert "pass@1" in result.stdout and "e_tasks" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "h1:horizon=1,depth=2"], "unknown keys ['depth']"),
        (["--data", "h1:horizon=1", "--samples", "0"], "--samples must be at least 1"),
        (["--data", "{empty}"], "is empty"),
        (["--data", "{odd}"], "unknown rewards"),
        (["--model", "{noweights}", "--data", "h1:horizon=1"], "has no weights"),
        (["--model", "/no/such/model", "--data", "h1:horizon=1"], "does not exist"),
    ],
)
def test_eval_cli_bad_input_is_one_line_and_exit_2(tmp_path, args, message):
    (tmp_path / "empty.jsonl").write_text("\n")
    (tmp_path / "odd.jsonl").write_text(
        json.dumps({"id": "x", "task": "h1", "level": {"horizon": 1}, "answer": "1",
                    "prompt": [{"role": "user", "content": "1?"}], "reward": "nope"}) + "\n"
    )  # fmt: skip
    (tmp_path / "noweights").mkdir()
    (tmp_path / "noweights" / "config.json").write_text("{}")
    paths = {"empty": tmp_path / "empty.jsonl", "odd": tmp_path / "odd.jsonl",
             "noweights": tmp_path / "noweights"}  # fmt: skip
    args = [arg.format(**paths) for arg in args]
    if "--model" not in args:
        args = ["--model", "tiny", *args]
    result = subprocess.run(
        [sys.executable, "-m", "rl.eval", *args], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
