"""Self-Lengthen's rules and generator on hand-made cases and a scripted model (no Ray)."""

from __future__ import annotations

import doctest
import random

import pytest

from synth import GENERATORS, self_lengthen_filters
from synth.self_lengthen import SelfLengthenGenerator
from synth.self_lengthen_filters import (
    accepted,
    count_words,
    drop_lines,
    first_two_thirds,
    former_half,
    keep_probability,
    length_biased_keep,
    quality_problem,
    trimmed_to_sentence,
)
from synth.sft_example import examples_from_dataset
from synth.task import records_to_dataset


def test_doctests():
    assert doctest.testmod(self_lengthen_filters).failed == 0


# ------------------------------------------------------------------ length-biased sampling
def test_length_biased_sampler_keeps_the_longest_and_drops_the_shortest_fifth():
    total, trials = 500, 200
    kept = [0] * total
    for trial in range(trials):
        lengths = list(range(total))
        random.Random(trial).shuffle(lengths)
        keeps = length_biased_keep(lengths, random.Random(trial))
        for length, keep in zip(lengths, keeps, strict=True):
            kept[length] += keep
    always_dropped = [k for k in range(total) if 1 - k / total > 2 ** (-1 / 3)]
    assert len(always_dropped) / total == pytest.approx(0.206, abs=0.005)
    assert all(kept[k] == 0 for k in always_dropped)
    assert kept[-1] == trials  # the longest: P(drop) = 2 / N^3
    # Each tenth of the ranks keeps its formula's share (binomial, 100 x 200 draws per tenth).
    for decile in range(10):
        ks = range(decile * total // 10, (decile + 1) * total // 10)
        expected = sum(keep_probability(k, total) for k in ks) / len(ks)
        observed = sum(kept[k] for k in ks) / (len(ks) * trials)
        assert observed == pytest.approx(expected, abs=0.02), decile


def test_equal_lengths_share_the_first_position():
    # All equal: every item sits at position 0, rank 1, and is dropped (as the released code).
    assert length_biased_keep([7, 7, 7], random.Random(0)) == [False, False, False]


# ------------------------------------------------------------------ quality filter
def test_quality_filter_on_hand_made_cases():
    fine = "The river rose in the spring. Farmers moved their animals to the hills early."
    assert quality_problem(fine) is None
    assert quality_problem("") == "empty"
    assert quality_problem("   \n") == "empty"
    assert quality_problem("It stops in the middle of a") == "no terminal punctuation"
    assert quality_problem('She said "go."') is None
    repeated = "one two three four five six seven eight nine ten"
    assert quality_problem(f"{repeated} and again {repeated} twice.") == "repeated 10-word n-gram"
    # whitespace tokens keep their punctuation: "ten," and "ten." differ, as in the paper
    assert quality_problem(f"{repeated}, and again {repeated}.") is None
    nine = "one two three four five six seven eight nine"
    assert quality_problem(f"{nine} alpha, then {nine} beta.") is None


def test_quality_filter_on_chinese():
    text = "春天来了，河水上涨。农民把牲畜赶到山上，孩子们在田野里奔跑。"
    assert quality_problem(text) is None
    assert count_words(text) == len(text)  # every character counts, punctuation too
    assert quality_problem("春天来了，河水上涨") == "no terminal punctuation"
    twelve = "春天来了河水上涨农民赶牲"
    assert quality_problem(f"{twelve}甲。{twelve}乙。") is None
    thirteen = "春天来了河水上涨农民赶牲畜"
    assert quality_problem(f"{thirteen}，又说{thirteen}。") == "repeated 13-character n-gram"
    assert count_words("我们用 GPU 训练") == 6


# ------------------------------------------------------------------ extension pieces
def test_a_truncated_answer_is_trimmed_only_when_asked():
    cut = "First sentence here. Second one is done! Third is cut off in the"
    assert trimmed_to_sentence(cut) == "First sentence here. Second one is done!"
    assert trimmed_to_sentence("no end at all") == ""

    def truncating(prompts, sampling):
        outputs = scripted(prompts, sampling)
        for index, messages in enumerate(prompts):
            if messages[-1]["role"] == "user" and not messages[-1]["content"].startswith(
                ("Given", "You are")
            ):
                outputs[index] = [outputs[index][0][:-1] + " and then the budget ran"]
        return outputs

    plain = SelfLengthenGenerator(complete=truncating, response_attempts=1, length_sampling=False)
    assert plain.sample({"max_tokens": 256}, n=2, seed=0) == []
    trimming = SelfLengthenGenerator(
        complete=truncating, response_attempts=1, length_sampling=False, trim_truncated=True
    )
    rows = trimming.sample({"max_tokens": 256}, n=2, seed=0)
    assert rows and all(quality_problem(r.initial) is None for r in rows)
    assert trimming.skipped["kept (not dropped): trimmed to the last complete sentence"] >= 2


def test_extension_acceptance_rule():
    assert accepted(100, 121)
    assert not accepted(100, 120)  # strictly more than 1.2x
    assert not accepted(100, 90)
    assert accepted(10, 16, growth=1.5) and not accepted(10, 15, growth=1.5)


def test_paragraph_halves():
    text = "A.\n\nB.\n\nC.\n\nD."
    assert former_half(text) == "A.\n\nB."
    assert former_half("Only one paragraph.") == ""
    assert former_half("Line one.\nLine two.") == "Line one."  # <= 2 blank-line parts: lines
    assert first_two_thirds("1\n\n2\n\n3\n\n4\n\n5\n\n6") == "1\n\n2\n\n3\n\n4"


def test_extender_input_drops_lines_at_the_rate_with_a_fixed_seed():
    text = "\n".join(f"line {i}" for i in range(20_000))
    kept = drop_lines(text, 0.2, random.Random(3)).split("\n")
    assert 1 - len(kept) / 20_000 == pytest.approx(0.2, abs=0.01)
    assert drop_lines(text, 0.2, random.Random(3)) == "\n".join(kept)
    assert drop_lines(text, 0.2, random.Random(4)) != "\n".join(kept)
    assert drop_lines(text, 0.0, random.Random(3)) == text


# ------------------------------------------------------------------ the generator
def _prompt_number(text: str) -> int:
    return sum(map(ord, text)) % 7


def scripted(prompts, sampling):
    """A deterministic stand-in model that reads which stage a prompt belongs to."""
    outputs = []
    for messages in prompts:
        user = (
            messages[-1]["content"] if messages[-1]["role"] == "user" else messages[-2]["content"]
        )
        if messages[-1]["role"] == "assistant" and "Instruction 3:" in messages[-1]["content"]:
            topic = _prompt_number(messages[-1]["content"]) + sampling["seed"] % 1000
            text = f"Write a long report about harbour number {topic} and its history"
        elif messages[-1]["role"] == "assistant":  # the continuation of an expansion
            tag = sampling["seed"] % 9973
            outline = user.split("Original outline:\n\n", 1)[1].split("\n\n")
            rest = [f"{p} Continued {tag}." for p in outline[len(outline) // 2 :]]
            words = " ".join(f"detail{tag}x{i}" for i in range(10 + _prompt_number(user)))
            text = "\n\n" + "\n\n".join([*rest, f"And then the story went on with {words}."])
        elif user.startswith("Given an instruction"):
            text = "Yes." if "harbour" in user else "no"
        elif user.startswith("You are an expert"):
            outline = user.split("Original outline:\n\n", 1)[1]
            tag = sampling["seed"] % 9973
            parts = [f"{p} Expanded {tag} with more." for p in outline.split("\n\n")]
            text = "\n\n".join(parts + [f"New section {tag} with facts.", "A closing line."])
        else:  # an initial response: three paragraphs of a length that varies by prompt
            size = 10 + 5 * _prompt_number(user)
            text = "\n\n".join(
                " ".join(f"{part}{i}" for i in range(size)) + "." for part in ("a", "b", "c")
            )
        outputs.append([text] * sampling["n"])
    return outputs


def test_rows_for_both_roles_are_consistent_and_deterministic(caplog):
    generator = SelfLengthenGenerator(complete=scripted)
    with caplog.at_level("INFO", logger="synth.self_lengthen"):
        rows = generator.sample({"max_tokens": 256}, n=6, seed=0)
    phases = [r.getMessage() for r in caplog.records if r.name == "synth.self_lengthen"]
    assert phases[0] == "round 1: 6 instructions; writing initial responses"
    assert phases[-1] == f"round 1: {len(rows) // 2} extended responses kept"
    assert rows and len(rows) % 2 == 0
    by_role = {role: [r for r in rows if r.role == role] for role in ("generator", "extender")}
    assert len(by_role["generator"]) == len(by_role["extender"])
    for gen, ext in zip(by_role["generator"], by_role["extender"], strict=True):
        assert gen.response == ext.response == gen.extended
        assert gen.prompt[-1]["content"] == gen.instruction
        assert ext.prompt[-1]["content"].startswith("You are an expert in writing polishing")
        assert gen.words == count_words(gen.extended) > 1.2 * gen.initial_words
        assert gen.round == 1 and gen.level == {"max_tokens": 256}
        assert quality_problem(gen.extended) is None
    again = SelfLengthenGenerator(complete=scripted).sample({"max_tokens": 256}, n=6, seed=0)
    assert [r.model_dump() for r in again] == [r.model_dump() for r in rows]
    assert generator.last_round["instructions"] == 6
    assert (
        generator.last_round["extended_words_median"] > generator.last_round["initial_words_median"]
    )
    # a datasets round trip keeps every field
    assert examples_from_dataset(records_to_dataset(rows)) == rows


def test_malformed_outputs_are_counted_skips():
    def broken(prompts, sampling):
        outputs = scripted(prompts, sampling)
        for index, messages in enumerate(prompts):
            user = messages[-1]["content"]
            if messages[-1]["role"] == "user" and not user.startswith(("Given", "You are")):
                # initial responses: empty, no text at all, one paragraph, or fine
                outputs[index] = [["", "   ", "One paragraph only.", outputs[index][0]][index % 4]]
        return outputs

    generator = SelfLengthenGenerator(complete=broken, response_attempts=1, length_sampling=False)
    rows = generator.sample({"max_tokens": 256}, n=8, seed=1)
    skips = generator.skip_counts()
    assert skips["sampling: initial response empty"] >= 2
    assert skips["sampling: extension input has one paragraph"] >= 1
    assert all(quality_problem(r.initial) is None for r in rows)


def test_an_extender_that_does_not_lengthen_is_retried_then_counted():
    def lazy(prompts, sampling):
        outputs = scripted(prompts, sampling)
        for index, messages in enumerate(prompts):
            if messages[-1]["role"] == "assistant" and "Instruction" not in messages[-1]["content"]:
                outputs[index] = ["."]
            elif messages[-1]["content"].startswith("You are an expert"):
                outputs[index] = [""]
        return outputs

    generator = SelfLengthenGenerator(complete=lazy, extension_attempts=2, length_sampling=False)
    assert generator.sample({"max_tokens": 256}, n=3, seed=0) == []
    skips = generator.skip_counts()
    pending = 3 * 2 * 2  # instructions x responses x extensions
    assert skips["sampling: extension not above 1.2x the initial words"] == 2 * pending
    assert skips["sampling: extension failed every attempt"] == pending


def test_judge_and_instruction_bounds():
    def picky(prompts, sampling):
        outputs = scripted(prompts, sampling)
        for index, messages in enumerate(prompts):
            if messages[-1]["content"].startswith("Given an instruction"):
                outputs[index] = ["No"]
        return outputs

    generator = SelfLengthenGenerator(complete=picky, instruction_attempts=2)
    assert generator.sample({"max_tokens": 256}, n=2, seed=0) == []
    skips = generator.skip_counts()
    unsuitable = skips["sampling: instruction judged unsuitable"]
    assert unsuitable + skips.get("sampling: instruction duplicate", 0) == 4 and unsuitable
    assert skips["sampling: instruction not found within the attempts"] == 2


def test_needs_a_model_a_known_level_and_seeds(tmp_path):
    assert GENERATORS["self_lengthen"] is SelfLengthenGenerator
    with pytest.raises(ValueError, match="needs a model"):
        SelfLengthenGenerator().sample({"max_tokens": 256}, 1, 0)
    with pytest.raises(ValueError, match="unknown level axis"):
        SelfLengthenGenerator(complete=scripted).sample({"words": 3}, 1, 0)
    seeds = tmp_path / "seeds.jsonl"
    seeds.write_text('{"query": "Write a saga."}\n')
    with pytest.raises(ValueError, match="at least 2"):
        SelfLengthenGenerator(complete=scripted, seed_source=str(seeds)).sample(
            {"max_tokens": 256}, 1, 0
        )
    with pytest.raises(ValueError, match="no instruction could pass"):
        SelfLengthenGenerator(min_instruction_words=9, max_instruction_words=5)


def test_a_round_saves_as_a_dataset_with_its_card(tmp_path):
    from datasets import load_from_disk

    from synth.sft_example import save_examples

    generator = SelfLengthenGenerator(complete=scripted)
    rows = generator.sample({"max_tokens": 256}, n=4, seed=0)
    command = ["python", "rl/run.py", "--config", "configs/self_lengthen.yaml"]
    save_examples(tmp_path / "data", generator, rows, {"max_tokens": 256}, 4, 0, command)
    assert examples_from_dataset(load_from_disk(str(tmp_path / "data"))) == rows
    card = (tmp_path / "data" / "README.md").read_text()
    assert "self_lengthen" in card and "arxiv.org/abs/2410.23933" in card
    assert "length-biased sampling" in card  # the skips are on the card
