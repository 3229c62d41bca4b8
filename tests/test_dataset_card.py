"""Dataset cards: licences from the sources, provenance, per-level statistics, the YAML."""

from __future__ import annotations

import json

import datasets
import pytest
import yaml
from pydantic import BaseModel, ConfigDict, Field

from synth.base import Axis
from synth.card import CardInputs, CardLevel, card_metadata, config_name, dataset_card, shorten
from synth.card_stats import PromptCounter, level_stats
from synth.cli import main
from synth.provenance import SourceInfo, card_license, describe_source


@pytest.mark.parametrize(
    "spec, kind, license_id, hub_id",
    [
        ("gsm8k:/data/gsm8k/train.jsonl", "gsm8k", "mit", "openai/gsm8k"),
        ("/data/gsm8k/train.jsonl", "gsm8k", "mit", "openai/gsm8k"),  # h1's plain path
        ("hub:openai/gsm8k:main", "gsm8k", "mit", "openai/gsm8k"),
        (
            "hub:hotpotqa/hotpot_qa:distractor@train",
            "hotpotqa",
            "cc-by-sa-4.0",
            "hotpotqa/hotpot_qa",
        ),  # fmt: skip
        ("hotpotqa-hf:/d/dev.json", "hotpotqa", "cc-by-sa-4.0", "hotpotqa/hotpot_qa"),
        ("/d/prose/gutenberg_paragraphs.jsonl", "filler", "public-domain", None),
        ("hub:someone/their-data", "gsm8k", None, "someone/their-data"),
        ("musique:/d/musique.jsonl", "hotpotqa", None, None),
        ("/d/my_corpus.txt", "filler", None, None),
    ],
)
def test_sources_are_recognised_by_format_or_unknown(spec, kind, license_id, hub_id):
    source = describe_source(spec, kind)
    assert (source.license, source.hub_id, source.spec) == (license_id, hub_id, spec)


def source(license_id: str | None, url: str | None = None) -> SourceInfo:
    return SourceInfo(f"s-{license_id}", "spec", license_id, url)


def test_the_card_declares_the_most_restrictive_licence():
    assert card_license([source("mit"), source("cc-by-sa-4.0")]).license == "cc-by-sa-4.0"
    assert card_license([source("apache-2.0"), source("mit")]).license == "apache-2.0"
    assert card_license([source("cc-by-sa-4.0"), source("public-domain")]).license == "cc-by-sa-4.0"  # fmt: skip
    unknown = card_license([source("mit"), source(None, "https://example.org/terms")])
    assert (unknown.license, unknown.name, unknown.link) == ("other", "unknown", "https://example.org/terms")  # fmt: skip
    assert unknown.unknown == ("s-None",)
    public = card_license([source("public-domain")])
    assert (public.license, public.name) == ("other", "public-domain")


class CorpusLevel(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)
    size: int = Field(ge=1)
    """Words per record."""


class CorpusGenerator:
    """A generator of one source with an unknown licence (a user's own corpus)."""

    name = "corpus"
    level_class = CorpusLevel

    def __init__(self):
        self.config = CorpusLevel(size=1)  # any pydantic model: the card dumps its options

    def axes(self):
        return [Axis("size", (1, 2))]

    def sources(self):
        return [describe_source("/home/me/corpus.txt", "filler")]

    def skip_counts(self):
        return {"sampling: too short": 3}


def test_an_unknown_source_makes_the_card_say_other_and_ask_for_a_check():
    rows = [{"id": f"c-{i}", "task": "corpus", "level": {"size": 2},
             "prompt": [{"role": "user", "content": "x" * 5000}], "answer": ["a", "b"],
             "reward": "math", "meta": json.dumps({"i": i})} for i in range(3)]  # fmt: skip
    inputs = CardInputs(
        CorpusGenerator(), [CardLevel("size_2", {"size": 2}, rows, {"sampling: too short": 3})],
        "train", 3, 0, ["python", "-m", "synth", "corpus"],
        datasets={"size_2": datasets.Dataset.from_list(rows)},
    )  # fmt: skip
    meta = card_metadata(inputs).to_dict()
    assert (meta["license"], meta["license_name"]) == ("other", "unknown")
    assert meta["source_datasets"] == ["extended"]
    card = dataset_card(inputs)
    assert yaml.safe_load(card.split("---\n")[1]) == meta
    assert "The licence of filler (corpus.txt) is unknown: check its terms" in card
    assert "| sampling: too short | 3 |" in card and "- `size_2`: sampling: too short 3" in card
    assert "characters left out" in card and "x" * 1000 not in card  # the example is shortened


def test_config_names_and_shortening():
    assert config_name({"horizon": 3}) == "horizon_3"
    assert config_name({"context_tokens": 4096, "num_chains": 2}) == "context_tokens_4096-num_chains_2"  # fmt: skip
    assert shorten("abc") == "abc"
    text = shorten("y" * 3000, 1200)
    assert len(text) < 1300 and text.startswith("y" * 800) and "1,800 characters left out" in text


def test_keychain_levels_card(tmp_path, shared_data):
    out = tmp_path / "kc"
    argv = ["keychain", "--source", f"hotpotqa:{shared_data}/multihop/hotpotqa_dev_distractor_500.jsonl",
            "--filler", str(shared_data / "prose" / "gutenberg_paragraphs.jsonl"),
            "--context-tokens", "1024", "2048", "--num-chains", "2", "--n", "2",
            "--max-items", "60", "--key-format", "hex8", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    card = (out / "README.md").read_text()
    meta = yaml.safe_load(card.split("---\n")[1])
    assert [c["config_name"] for c in meta["configs"]] == [
        "context_tokens_1024-num_chains_2", "context_tokens_2048-num_chains_2"]  # fmt: skip
    assert meta["license"] == "cc-by-sa-4.0"  # HotpotQA's, stricter than Gutenberg's
    assert meta["source_datasets"] == ["extended|hotpotqa/hotpot_qa"]
    assert "It follows *LoongRL" in card and "| `num_chains` |" in card
    levels = datasets.load_from_disk(str(out))
    for name, budget in (("context_tokens_1024-num_chains_2", 1024), ("context_tokens_2048-num_chains_2", 2048)):  # fmt: skip
        stats = level_stats(levels[name].to_list(), PromptCounter("embedded"))
        low, _, _, high = stats.prompt_tokens
        assert budget - 32 <= low <= high <= budget  # the generator's own exact counts
        assert stats.aliases >= 1 and stats.rewards == ("qa_two_way_substring",)
        assert f"`{name}`: `{stats.fingerprint}`" in card
