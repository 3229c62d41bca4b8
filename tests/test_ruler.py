"""ruler generator: answers recomputed from the prompt text, exact token budgets, determinism,
held-out filler, the reward it names, a datasets round trip, with the real SmolLM2 tokenizer."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from rewards import get_reward
from synth import GENERATORS, get_generator, tasks_from_dataset, tasks_to_dataset
from synth.ruler import RulerConfig, RulerGenerator
from synth.token_budget import lowest_fill

NEEDLE = re.compile(r"One of the special magic numbers for ([a-z]+-[a-z]+) is: (\d+)\.")
ASKED_KEY = re.compile(r"magic numbers? for ([a-z]+-[a-z]+) mentioned")
ASSIGNMENT = re.compile(r"VAR ([A-Z]{5}) = (VAR [A-Z]{5}|\d+)\.")
ASKED_VALUE = re.compile(r"assigned the value (\d+) in the text")


@pytest.fixture(scope="module")
def filler(shared_data) -> str:
    return str(shared_data / "prose" / "gutenberg_paragraphs.jsonl")


@pytest.fixture(scope="module")
def ruler(filler) -> RulerGenerator:
    # "never": the test compares the incremental count itself with a full tokenisation.
    return get_generator("ruler", filler=filler, verify_token_count="never")


@pytest.fixture(scope="module")
def tasks_4k(ruler):
    return ruler.sample({"context_tokens": 4096}, n=12, seed=0)


def answer_from_text(content: str) -> list[str]:
    """The gold items, read back from the prompt as a reader would."""
    if "VAR " in content:
        assigned = dict(ASSIGNMENT.findall(content))
        value = ASKED_VALUE.search(content).group(1)

        def resolve(name: str) -> str:
            target = assigned[name]
            return resolve(target[4:]) if target.startswith("VAR ") else target

        return sorted(name for name in assigned if resolve(name) == value)
    key = ASKED_KEY.search(content).group(1)
    return sorted(value for needle_key, value in NEEDLE.findall(content) if needle_key == key)


def test_registered_with_its_models_and_a_subcommand():
    assert GENERATORS["ruler"] is RulerGenerator
    assert RulerGenerator.config_class is RulerConfig
    done = subprocess.run(
        [sys.executable, "-m", "synth", "ruler", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and "--context-tokens" in done.stdout and "--filler" in done.stdout


def test_every_answer_is_recomputed_from_the_prompt(tasks_4k):
    kinds = set()
    for task in tasks_4k:
        meta = task.meta_dict()
        kinds.add(meta["kind"])
        assert sorted(task.answer) == answer_from_text(task.prompt[-1]["content"]), task.id
        assert task.reward == "ruler_match_all" and task.level == {"context_tokens": 4096}
    assert kinds == {"niah_multikey", "niah_multivalue", "variable_tracking"}


@pytest.mark.parametrize("target", [1024, 4096, 16384])
def test_prompts_fill_the_exact_token_budget(ruler, target):
    tokenizer = ruler.counter.tokenizer
    for task in ruler.sample({"context_tokens": target}, n=3, seed=1):
        rendered = tokenizer.apply_chat_template(
            task.prompt, add_generation_prompt=True, tokenize=False
        )
        full = len(tokenizer(rendered, add_special_tokens=False)["input_ids"])
        assert full == task.meta_dict()["prompt_tokens"]
        assert lowest_fill(target, ruler.config.tolerance) <= full <= target


def test_same_seed_same_records_other_seed_other_records(ruler, tasks_4k):
    again = ruler.sample({"context_tokens": 4096}, n=12, seed=0)
    assert again == tasks_4k
    assert ruler.sample({"context_tokens": 4096}, n=4, seed=0) == tasks_4k[:4]
    other = ruler.sample({"context_tokens": 4096}, n=12, seed=1)
    assert {t.prompt[-1]["content"] for t in other}.isdisjoint(
        t.prompt[-1]["content"] for t in tasks_4k
    )
    assert len({t.id for t in tasks_4k + other}) == 24


def test_eval_part_shares_no_filler_paragraph_with_training(filler, ruler):
    held_out = get_generator("ruler", filler=filler, purpose="eval", verify_token_count="never")
    tasks = held_out.sample({"context_tokens": 2048}, n=3, seed=0)
    assert all(task.id.startswith("ruler-eval-") for task in tasks)
    ruler._setup()
    train_texts = set(ruler.pool.bodies)
    assert train_texts.isdisjoint(held_out.pool.bodies)
    assert len(held_out.pool) < 0.2 * len(ruler.pool)


def test_the_named_reward_scores_the_gold_and_not_a_guess(tasks_4k):
    reward = get_reward(tasks_4k[0].reward)
    for task in tasks_4k:
        right = "<think>found them</think> \\boxed{" + ", ".join(task.answer) + "}"
        half = "<think>found one</think> \\boxed{" + task.answer[0] + "}"
        wrong = "<think>guess</think> \\boxed{0000000}"
        scores = reward(completions=[right, half, wrong], answer=[task.answer] * 3)
        assert scores[0] == 1.0 and scores[2] == 0.0
        assert scores[1] == pytest.approx(1 / len(task.answer))
    flooded = "<think>all</think> \\boxed{" + " ".join(str(n) for n in range(1000, 1020)) + "}"
    assert reward(completions=[flooded], answer=[["1000"]]) == [0.0]


def test_kinds_and_sizes_are_config_values(filler):
    only_vt = get_generator(
        "ruler", filler=filler, kinds=["variable_tracking"], vt_hops=3, vt_chains=3, think=False
    )
    [task] = only_vt.sample({"context_tokens": 2048}, n=1, seed=0)
    meta = task.meta_dict()
    assert meta["kind"] == "variable_tracking" and len(task.answer) == 3
    assert len(meta["chains"]) == 3 and task.reward == "ruler_match_all_no_think"
    assert sorted(task.answer) == answer_from_text(task.prompt[-1]["content"])


def test_round_trip_through_datasets(tasks_4k):
    assert tasks_from_dataset(tasks_to_dataset(tasks_4k)) == tasks_4k


def test_bad_settings_are_one_clear_line(filler):
    with pytest.raises(ValueError, match="ruler needs book filler"):
        get_generator("ruler").sample({"context_tokens": 2048}, n=1, seed=0)
    with pytest.raises(ValueError, match="unknown level axis"):
        get_generator("ruler", filler=filler).sample({"depth": 2}, n=1, seed=0)
    with pytest.raises(ValueError, match="cannot hold the instructions"):
        get_generator("ruler", filler=filler, num_keys=40, kinds=["niah_multikey"]).sample(
            {"context_tokens": 256}, n=1, seed=0
        )
