"""The papers' recipes at CPU scale (configs/loongrl_cpu.yaml, configs/h1_paper_cpu.yaml): every
stage runs on the embedded model (local Ray, HF engine), with 2 prompts x 2 completions of 8
tokens and 512-token contexts so that the whole test stays within a few minutes."""

from __future__ import annotations

from pathlib import Path

import pytest

from rl.config import RunConfig
from rl.config_io import load_config
from synth.cli import main as synth_main
from tests.conftest import REPO, SHARED_DATA
from tests.test_driver import Session

pytestmark = [pytest.mark.slow, pytest.mark.recipe]  # ~5-10 min: `make test-recipes`
HOTPOT = f"hotpotqa:{SHARED_DATA}/multihop/hotpotqa_dev_distractor_500.jsonl"
BOOKS = str(SHARED_DATA / "prose" / "gutenberg_paragraphs.jsonl")
QUICK = ["rollout.backend=hf", "logging.wandb=disabled", "logging.progress=false",
         "ray.num_cpus=4", "prompts_per_step=2", "sampling.n=2", "sampling.max_tokens=8"]  # fmt: skip


def make_loongrl_data(root: Path) -> dict[str, Path]:
    """The CPU recipe's three datasets, as its comment says to make them (8 records each)."""
    commands = {
        "kc_hotpotqa": ["keychain", "--source", HOTPOT, "--context-tokens", "768",
                        "--num-chains", "2", "--key-format", "hex8"],
        "mh_hotpotqa": ["multihop", "--source", HOTPOT, "--context-tokens", "512"],
        "ruler_multikey": ["ruler", "--filler", BOOKS, "--kinds", "niah_multikey",
                           "--num-keys", "4", "--context-tokens", "512"],
    }  # fmt: skip
    paths = {}
    for name, argv in commands.items():
        paths[name] = root / name
        assert synth_main([*argv, "--no-think", "--n", "8", "--out", str(paths[name])]) == 0
    return paths


def test_every_stage_of_both_recipes_runs_on_the_embedded_model(tmp_path, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # Ray workers import this checkout
    data = make_loongrl_data(tmp_path / "data")
    paths = [f"tasks.{name}.options.path={path}" for name, path in data.items()]
    loongrl = load_config(
        RunConfig,
        REPO / "configs" / "loongrl_cpu.yaml",
        [f"output_dir={tmp_path}", *QUICK, *paths, "prompts_per_step=3"],
    )
    session = Session(loongrl)
    with session as driver:
        driver.run()
    records = session.records()
    assert [r["stage"] for r in records] == [0, 1, 2]
    warmup_ids = set(records[0]["batch/task_ids"])
    assert not warmup_ids & {task for task in _ids(data["kc_hotpotqa"])}  # no KeyChain yet
    assert set(records[1]["batch/task_ids"]) & set(_ids(data["kc_hotpotqa"]))  # 1 prompt a task
    assert "curriculum/hard_subset/tracked" in records[2]

    small_sets = 'eval.sets={val_h1: "h1:horizon=1,n=4", val_h3: "h1:horizon=3,n=4"}'
    h1 = load_config(
        RunConfig,
        REPO / "configs" / "h1_paper_cpu.yaml",
        [f"output_dir={tmp_path}", *QUICK, small_sets],
    )
    session = Session(h1)
    with session as driver:
        driver.run()
    records = session.records()
    assert [r["curriculum/h1/horizon"] for r in records] == [2, 3, 4, 5, 5]  # after each step
    assert {key for r in records for key in r if key.startswith("reward/h1/horizon=")} == {
        f"reward/h1/horizon={h}/mean" for h in range(1, 6)
    }  # every stage trained on its own horizon
    assert [r["step"] for r in records if "eval/select" in r] == [1, 3, 4]
    assert (session.run_dir / "best" / "best.json").exists()


def _ids(path: Path) -> list[str]:
    from synth.record_files import read_records

    return [task.id for task in read_records(str(path))[0]]
