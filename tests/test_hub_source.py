"""synth/hub_source.py: one spec syntax and one error line for every Hub-backed source.

The Hub is not reachable here (conftest sets HF_HUB_OFFLINE): the loads run the real
`datasets.load_dataset`, with its local "json" builder for a file that stands in for a Hub
dataset, and fail as they do offline for a Hub id.
"""

from __future__ import annotations

import pytest

from synth.hub_source import HubSpec, load_hub, parse_hub


def test_specs_name_id_config_and_split_with_train_by_default():
    assert parse_hub("hub:openai/gsm8k:main@test") == HubSpec("openai/gsm8k", "main", "test")
    assert parse_hub("hub:org/name") == HubSpec("org/name", None, "train")
    assert parse_hub("org/name@validation") == HubSpec("org/name", None, "validation")
    with pytest.raises(ValueError, match=r"write hub:ID\[:CONFIG\]\[@SPLIT\]"):
        parse_hub("hub:@test")


def test_a_local_stand_in_loads_and_an_unreachable_id_is_one_line(shared_data, tmp_path):
    path = shared_data / "gsm8k" / "test.jsonl"
    rows = load_hub("hub:json@train", data_files=str(path), cache_dir=str(tmp_path))
    assert len(rows) == 1319 and "question" in rows[0]
    with pytest.raises(ValueError) as failed:
        load_hub("hub:no-such-owner/no-such-dataset@test", fix="give a local file")
    message = str(failed.value)
    assert "\n" not in message and "'no-such-owner/no-such-dataset'" in message
    assert "split 'test'" in message and message.endswith("give a local file")
