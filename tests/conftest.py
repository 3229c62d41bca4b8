"""Shared fixtures: the reference data in ../shared/data and the provisioned models.

Tests talk only to 127.0.0.1 and never to the Hub: HF_HUB_OFFLINE is pinned here.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("WANDB_MODE", "offline")
os.environ.setdefault("WANDB_SILENT", "true")
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data: GSM8K, HotpotQA, Gutenberg prose, LonGen (see its README)."""
    if not (SHARED_DATA / "README.md").exists():
        pytest.fail(
            f"reference data not found at {SHARED_DATA}; the project expects ../shared/data"
        )
    return SHARED_DATA


@pytest.fixture(scope="session")
def gsm8k_rows(shared_data) -> list[dict]:
    """The first 8 GSM8K train records (question, answer), for learner batches."""
    import json

    with open(shared_data / "gsm8k" / "train.jsonl") as handle:
        return [json.loads(next(handle)) for _ in range(8)]


@pytest.fixture(scope="session")
def embedded_model_path() -> str:
    """SmolLM2-135M-Instruct as a provisioned fp32 checkpoint (`make models`)."""
    from models import provision_embedded

    return str(provision_embedded())


@pytest.fixture(scope="session")
def tiny_model_path() -> str:
    """The 2-layer random model with SmolLM2's tokenizer and chat template."""
    from models import provision_tiny

    return str(provision_tiny())


@pytest.fixture(scope="session")
def smollm2_tokenizer(embedded_model_path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(embedded_model_path)
