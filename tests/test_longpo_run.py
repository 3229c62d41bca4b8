"""LongPO end to end on real local Ray and real engines: `python -m synth longpo` writing pairs
with the embedded SmolLM2 through the rollout pool, and the LongPO run (pairs -> precomputed
reference -> DPO steps -> held-out pairs -> checkpoint -> resume) on the tiny model.

The run test starts from pairs already in the run directory (written by the scripted responder
of tests/test_longpo.py: the tiny random model cannot write questions), which the run reuses
as it does on resume; the CLI test is the real model writing real pairs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rl.config_io import load_config
from rl.longpo_config import LongPORunConfig
from rl.rundir import read_metrics

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[1]


def test_synth_cli_writes_pairs_with_the_real_model(tmp_path, shared_data):
    out = tmp_path / "pairs"
    command = [
        sys.executable, "-m", "synth", "longpo", "--chunk-tokens", "256", "--n", "1",
        "--seed", "0", "--out", str(out), "--model", "embedded", "--max-model-len", "2048",
        "--source", str(shared_data / "prose" / "gutenberg_paragraphs.jsonl"),
        "--text-group-by", "book_id", "--turns", "1", "--question-max-tokens", "160",
        "--answer-max-tokens", "48", "--batch-documents", "6",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    from datasets import load_from_disk

    from synth.longpo import verify_pair
    from synth.preference import pairs_from_dataset

    [pair] = pairs_from_dataset(load_from_disk(str(out)))
    verify_pair(pair)
    assert pair.chosen[0]["content"].strip() and pair.rejected[0]["content"].strip()
    assert "longpo source" in result.stderr  # the filter counts are reported


def test_longpo_run_trains_evaluates_and_resumes(tmp_path, shared_data):
    from synth.longpo import LongPOGenerator
    from synth.task import records_to_dataset
    from tests.test_longpo import scripted_model

    overrides = [
        "model=tiny", f"output_dir={tmp_path}", "name=lp", "steps=2", "pairs_per_step=2",
        f"data.options.source={shared_data / 'prose' / 'gutenberg_paragraphs.jsonl'}",
        "data.options.text_group_by=book_id", "data.levels=[256]", "data.pairs_per_level=3",
        "data.held_out_per_level=1", "rollout.backend=hf", "rollout.max_model_len=4096",
        "trainer.lr=1e-3", "trainer.dtype=float32", "rollout.dtype=float32", "checkpoint.every=1",
        "ray.num_cpus=2", "logging.wandb=disabled", "logging.progress=false",
    ]  # fmt: skip
    config = load_config(LongPORunConfig, REPO / "configs" / "longpo.yaml", overrides)
    generator = LongPOGenerator(complete=scripted_model, **config.data.options)
    pairs = generator.sample({"chunk_tokens": 256}, n=4, seed=config.data.seed)
    run_dir = tmp_path / "lp"
    records_to_dataset(pairs).save_to_disk(str(run_dir / "pairs" / "chunk_tokens=256"))

    from rl.longpo_run import run

    assert run(load_config(LongPORunConfig, REPO / "configs" / "longpo.yaml",
                           [*overrides[:3], "steps=1", *overrides[4:]]), resume=True) == 0  # fmt: skip
    assert run(config, resume=True) == 0  # continues from step 0's checkpoint to step 1
    records = read_metrics(run_dir / "metrics.jsonl")
    assert [r["step"] for r in records] == [0, 1]
    assert "pairs_base/chunk_tokens=256/accuracy_mean" in records[0]
    assert "pairs/chunk_tokens=256/margin_mean" in records[-1]
    assert records[-1]["train/loss"] < records[0]["train/loss"]  # lr 1e-3 on 3 pairs: it learns
    reference = json.loads((run_dir / "pairs" / "reference_logps.json").read_text())
    assert len(reference) == 4  # 3 training + 1 held-out pair, scored once
    from transformers import AutoModelForCausalLM

    AutoModelForCausalLM.from_pretrained(run_dir / "checkpoints" / "step-1")
