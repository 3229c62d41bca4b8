"""keychain and multihop generators: chains read back from plain text, exact token budgets,
determinism, placement, and the token counter's pieces, with the real SmolLM2 tokenizer."""

from __future__ import annotations

import json
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synth import get_generator, tasks_from_dataset, tasks_to_dataset
from synth.keychain import KeyChainGenerator
from synth.multihop import MultiHopGenerator
from synth.token_budget import TokenCounter, lazy_permutation, load_counting_tokenizer

# A pair as a reader sees it: {"key": "value"} with JSON string escapes inside the value.
PAIR = re.compile(r'\{"([^"]+)": ("(?:[^"\\]|\\.)*")\}\.')
START = re.compile(r'starting from "([^"]+)"')


@pytest.fixture(scope="module")
def sources(shared_data) -> dict[str, str]:
    return {
        "source": f"hotpotqa:{shared_data}/multihop/hotpotqa_dev_distractor_500.jsonl",
        "filler": str(shared_data / "prose" / "gutenberg_paragraphs.jsonl"),
    }


@pytest.fixture(scope="module")
def keychain(sources) -> KeyChainGenerator:
    # verify_token_count="never": the tests compare the incremental count itself against a
    # full tokenisation, so the generator must not correct it first.
    return get_generator("keychain", verify_token_count="never", **sources)


@pytest.fixture(scope="module")
def tasks_16k(keychain):
    return keychain.sample({"context_tokens": 16384, "num_chains": 8}, n=3, seed=0)


def read_pairs(text: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for key, value in PAIR.findall(text):
        assert key not in pairs, f"key {key} written twice"
        pairs[key] = json.loads(value)
    return pairs


def follow(pairs: dict[str, str], key: str) -> tuple[str, int]:
    """The question at the end of the chain from `key`, and the number of hops taken."""
    hops = 0
    while key in pairs:
        key, hops = pairs[key], hops + 1
    return key, hops


def full_count(tokenizer, task) -> int:
    ids = tokenizer.apply_chat_template(task.prompt, add_generation_prompt=True, tokenize=True)
    return len(ids["input_ids"])


def test_chain_from_the_start_key_reaches_the_true_question(tasks_16k):
    for task in tasks_16k:
        meta = task.meta_dict()
        text = task.prompt[-1]["content"]
        pairs = read_pairs(text)
        assert len(pairs) == 8 * 4
        [start] = START.findall(text)
        question, hops = follow(pairs, start)
        assert question == meta["question"] and hops == 4
        # Each distractor chain ends at another item's question, never the true one.
        others = [follow(pairs, chain[0]) for chain in meta["chains"][1:]]
        assert [q for q, _ in others] == meta["chain_questions"][1:]
        assert all(q != question and hops == 4 for q, hops in others)
        # No collisions: every key is written exactly where the chains put it.
        keys = [key for chain in meta["chains"] for key in chain]
        assert len(set(keys)) == len(keys) == len(pairs)
        for key in keys:
            heads = sum(chain[0] == key for chain in meta["chains"])
            assert text.count(key) == 2 - heads + (key == start)
        assert re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", start
        )


def test_record_fields_and_own_documents(tasks_16k, keychain):
    for task in tasks_16k:
        meta = task.meta_dict()
        assert task.task == "keychain" and task.reward == "qa_two_way_substring"
        assert task.level == {"context_tokens": 16384, "num_chains": 8}
        assert isinstance(task.answer, list) and task.answer
        assert [m["role"] for m in task.prompt] == ["system", "user"]
        assert "<think>" in task.prompt[0]["content"] and "\\boxed{}" in task.prompt[0]["content"]
        item = next(i for i in keychain.items if i.id == meta["source_id"])
        text = task.prompt[-1]["content"]
        for number, paragraph in zip(meta["own_passages"], item.paragraphs, strict=True):
            assert f"Passage {number}:\n{paragraph.title}\n" in text
        assert text.count("\nPassage ") == meta["num_passages"]
        assert set(meta["supporting_passages"]) <= set(meta["own_passages"])


@pytest.mark.parametrize(("context_tokens", "num_chains"), [(4096, 2), (16384, 16), (131072, 32)])
def test_token_count_is_exact_and_within_one_percent(
    keychain, smollm2_tokenizer, context_tokens, num_chains
):
    level = {"context_tokens": context_tokens, "num_chains": num_chains}
    [task] = keychain.sample(level, n=1, seed=3)
    tokens = task.meta_dict()["prompt_tokens"]
    assert tokens == full_count(smollm2_tokenizer, task)
    assert 0.99 * context_tokens <= tokens <= context_tokens


def test_same_seed_same_records_and_dataset_round_trip(keychain, tasks_16k):
    again = keychain.sample({"context_tokens": 16384, "num_chains": 8}, n=3, seed=0)
    assert again == tasks_16k
    other = keychain.sample({"context_tokens": 16384, "num_chains": 8}, n=1, seed=1)
    assert other[0].prompt != tasks_16k[0].prompt
    assert tasks_from_dataset(tasks_to_dataset(tasks_16k)) == tasks_16k


def test_short_key_formats_and_middle_placement(sources, smollm2_tokenizer):
    positions = []
    for key_format, pattern in (("hex8", r"[0-9a-f]{8}"), ("letters32", r"[A-Za-z]{32}")):
        generator = KeyChainGenerator(
            key_format=key_format,
            placement="middle",
            middle_sigma=0.1,  # narrower than the default 0.3, so that the test can tell
            keys_per_chain=2,
            **sources,
        )
        tasks = generator.sample({"context_tokens": 8192, "num_chains": 4}, n=3, seed=0)
        for task in tasks:
            meta = task.meta_dict()
            pairs = read_pairs(task.prompt[-1]["content"])
            assert all(re.fullmatch(pattern, key) for key in pairs)
            assert follow(pairs, meta["start_key"]) == (meta["question"], 2)
            assert meta["prompt_tokens"] == full_count(smollm2_tokenizer, task)
            positions += [n / meta["num_passages"] for n in meta["own_passages"]]
    # Own documents gather near the middle; a uniform shuffle puts half of them outside.
    assert 0.4 < sum(positions) / len(positions) < 0.6
    assert sum(0.25 <= p <= 0.75 for p in positions) > 0.9 * len(positions)


def test_levels_are_checked(keychain):
    with pytest.raises(ValueError, match="lacks"):
        keychain.sample({"context_tokens": 4096}, n=1, seed=0)
    with pytest.raises(ValueError, match="unknown level axis"):
        keychain.sample({"context_tokens": 4096, "num_chains": 2, "depth": 1}, n=1, seed=0)
    with pytest.raises(ValueError, match="raise context_tokens or lower num_chains"):
        keychain.sample({"context_tokens": 4096, "num_chains": 64}, n=1, seed=0)


def test_keys_per_chain_as_a_third_axis(sources):
    generator = KeyChainGenerator(keys_per_chain_values=(2, 4, 8), **sources)
    assert [axis.name for axis in generator.axes()] == [
        "context_tokens", "num_chains", "keys_per_chain",
    ]  # fmt: skip
    [task] = generator.sample(
        {"context_tokens": 4096, "num_chains": 2, "keys_per_chain": 8}, n=1, seed=0
    )
    meta = task.meta_dict()
    assert follow(read_pairs(task.prompt[-1]["content"]), meta["start_key"])[1] == 8


def test_multihop_plain_variant(sources, smollm2_tokenizer):
    generator = get_generator("multihop", source=sources["source"])  # filler: other items
    assert isinstance(generator, MultiHopGenerator)
    assert [axis.name for axis in generator.axes()] == ["context_tokens"]
    tasks = generator.sample({"context_tokens": 8192}, n=2, seed=0)
    for task in tasks:
        meta = task.meta_dict()
        text = task.prompt[-1]["content"]
        assert text.startswith("The following are given passages.")
        assert text.endswith(f"Question: {meta['question']}")
        assert not PAIR.search(text)
        assert meta["prompt_tokens"] == full_count(smollm2_tokenizer, task)
        assert meta["token_count_verified"] == (task is tasks[0])  # "first" mode
        # Filler paragraphs of other items never repeat one of the item's own titles.
        titles = re.findall(r"Passage \d+:\n([^\n]*)\n", text)
        assert len(titles) == len(set(titles)) == meta["num_passages"]


def test_token_counter_pieces(smollm2_tokenizer, shared_data):
    counter = TokenCounter(smollm2_tokenizer)
    body = "Kansas Song\nThe song is old. It is sung at games. Fans know it well."
    inserted = ' {"a1b2": "What is it?"}.'
    offset = body.index(". It") + 1
    with_pair = body[:offset] + inserted + body[offset:]
    assert (
        counter.bodies([body])[0] + counter.insertion_costs([(body, offset, inserted)])[0]
        == (counter.bodies([with_pair])[0])
    )
    whole = "Title\n" + " ".join(["several words of prose"] * 40)
    piece, tokens = counter.cut(whole, 50, keep_chars=6)
    assert tokens == counter.bodies([piece])[0] <= 50 and tokens >= 45
    assert whole.startswith(piece) and not piece.endswith(" ")


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 200), st.integers(0, 2**32))
def test_lazy_permutation_is_a_permutation(n, seed):
    drawn = list(lazy_permutation(random.Random(seed), n))
    assert sorted(drawn) == list(range(n))


def test_counts_stay_exact_when_punctuation_folds_into_newlines(
    sources, embedded_model_path, tmp_path
):
    # SmolLM2's vocabulary behind the Llama 3 / Qwen pre-tokenizer regex, which merges
    # "." with the "\n\n" after it: document edges no longer split cleanly, so this checks
    # that the in-context counts and insertion windows absorb the difference.
    import shutil
    from pathlib import Path

    source = Path(embedded_model_path)
    for name in ("config.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(source / name, tmp_path / name)
    spec = json.loads((source / "tokenizer.json").read_text())
    regex = (
        r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
        r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
    )
    spec["pre_tokenizer"] = {
        "type": "Sequence",
        "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": regex}, "behavior": "Isolated", "invert": False},
            {
                "type": "ByteLevel",
                "add_prefix_space": False,
                "trim_offsets": False,
                "use_regex": False,
            },
        ],
    }
    (tmp_path / "tokenizer.json").write_text(json.dumps(spec))
    tokenizer = load_counting_tokenizer(str(tmp_path))
    pieces = tokenizer.backend_tokenizer.pre_tokenizer.pre_tokenize_str("end.\n\nP")
    assert [piece for piece, _ in pieces] == ["end", ".ĊĊ", "P"]
    generator = KeyChainGenerator(tokenizer=str(tmp_path), verify_token_count="never", **sources)
    for task in generator.sample({"context_tokens": 16384, "num_chains": 8}, n=2, seed=0):
        assert task.meta_dict()["prompt_tokens"] == TokenCounter(tokenizer).prompt_tokens(
            task.prompt
        )


def test_cli_writes_a_dataset(sources, tmp_path):
    from datasets import load_from_disk

    from synth.cli import main

    out = tmp_path / "keychain"
    args = ["keychain", "--source", sources["source"], "--filler", sources["filler"]]
    args += ["--context-tokens", "4096", "--num-chains", "2", "--n", "2", "--out", str(out)]
    assert main([*args, "--key-format", "hex8", "--max-items", "50"]) == 0
    tasks = tasks_from_dataset(load_from_disk(str(out)))
    assert [task.id for task in tasks] == [
        "keychain-context_tokens4096-num_chains2-s0-0",
        "keychain-context_tokens4096-num_chains2-s0-1",
    ]
    assert all(task.meta_dict()["key_format"] == "hex8" for task in tasks)
    assert main(["multihop", "--source", "musique:/no/such/file", "--context-tokens", "4096",
                 "--n", "1", "--out", str(tmp_path / "m")]) == 2  # fmt: skip


def test_small_contexts_keep_the_supporting_passages(sources):
    """1,024 tokens: an item's non-supporting paragraphs are left out, its supporting ones stay,
    and the record asks for (and rewards) the boxed answer alone when think=False."""
    generator = get_generator("keychain", think=False, verify_token_count="always", **sources)
    tasks = generator.sample({"context_tokens": 1024, "num_chains": 2}, n=6, seed=0)
    assert len({task.id for task in tasks}) == 6
    for task in tasks:
        meta = task.meta_dict()
        assert 1024 - 32 <= meta["prompt_tokens"] <= 1024
        assert len(meta["supporting_passages"]) >= 1
        assert set(meta["supporting_passages"]) <= set(meta["own_passages"])
        assert task.reward == "qa_two_way_substring_no_think"
        assert "<think>" not in task.prompt[0]["content"]
    assert (
        get_generator("keychain", **sources)
        .sample({"context_tokens": 4096, "num_chains": 2}, n=1, seed=0)[0]
        .reward
        == "qa_two_way_substring"
    )


def test_a_budget_too_small_says_why_in_one_line(sources):
    multihop = get_generator("multihop", **sources)
    keychain = get_generator("keychain", think=False, **sources)
    cases = [
        (multihop, {"context_tokens": 64}, "cannot hold the instructions"),
        (keychain, {"context_tokens": 1024, "num_chains": 16}, "key-value pairs"),
    ]
    for generator, level, reason in cases:
        with pytest.raises(ValueError) as error:
            generator.sample(level, n=1, seed=0)
        message = str(error.value)
        assert reason in message and "raise context_tokens" in message and "\n" not in message


def test_no_documents_is_a_counted_skip_not_a_crash():
    """A context budget too small for any document leaves no insertion points (issue #18's
    scaled-down LoongRL recipe hit an IndexError here)."""
    import random

    from synth.token_budget import NoInsertionPoints, _insertion_points

    with pytest.raises(NoInsertionPoints, match="no documents"):
        _insertion_points(random.Random(0), [], [], 4, 10)
