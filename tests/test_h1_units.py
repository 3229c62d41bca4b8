"""h1's typed links: over every GSM8K train problem, no chain converts a unit it does not carry.

The checks here read units with their own, simpler rules than synth/h1_units.py: a unit
conversion from U to V is right only when the previous problem's question names U (singular
or plural) and the rewritten slot is followed by V (or, for dollars, preceded by `$`); an
identity, scale or affine link is wrong when both sides name units and those differ.
"""

from __future__ import annotations

import random
import re

import pytest

import synth
from synth.h1 import link
from synth.h1_adapters import UNITS
from synth.h1_units import COUNT, TypedPool, answer_type, slot_type

# Every unit word the adapters know, singular and plural, to its plural.
UNIT_NAMES: dict[str, str] = {}
for big, bigs, small, smalls, _ in UNITS:
    UNIT_NAMES.update({big: bigs, bigs: bigs, small: smalls, smalls: smalls})
TIME_LENGTH_MONEY = {
    "seconds", "minutes", "hours", "days", "weeks", "months", "years",
    "inches", "feet", "yards", "meters", "centimeters", "dollars", "cents",
}  # fmt: skip


def question_of(text: str) -> str:
    sentences = re.split(r"(?<=[.?!])\s+", text.strip())
    asking = [s for s in sentences if s.endswith("?")]
    return (asking or sentences)[-1].lower()


def named_in_question(text: str, plural: str) -> bool:
    words = set(re.findall(r"[a-z]+", question_of(text)))
    singular = next((w for w, p in UNIT_NAMES.items() if p == plural and w != plural), plural)
    return bool(words & {plural, singular}) or (plural == "dollars" and "money" in words)


def unit_after_slot(text: str, start: int, end: int) -> str | None:
    """The plural of a time/length/money unit right after the number (or `$` before it)."""
    if text[max(0, start - 1) : start] == "$":
        return "dollars"
    words = re.findall(r"[a-z]+", text[end : end + 30].lower())
    words = [w for w in words if w not in {"more", "fewer", "less", "additional", "extra"}]
    plural = UNIT_NAMES.get(words[0]) if words else None
    return plural if plural in TIME_LENGTH_MONEY else None


@pytest.fixture(scope="module")
def gsm8k(shared_data):
    return synth.get_generator("h1", source=f"gsm8k:{shared_data / 'gsm8k' / 'train.jsonl'}")


def _check_link(previous, chain_link) -> None:
    problem, adapter = chain_link.problem, chain_link.adapter
    slot = problem.slots[chain_link.slot_index]
    slot_unit = unit_after_slot(problem.text, slot.start, slot.end)
    context = f"{previous.id} -> {problem.id}: {adapter.to_dict()}"
    if adapter.kind == "unit":
        source_unit, target_unit = adapter.units
        assert named_in_question(previous.text, source_unit), context
        assert slot_unit == target_unit, context
    else:
        asked = [
            u
            for u in TIME_LENGTH_MONEY
            if re.search(rf"\bhow many {u}\b", question_of(previous.text))
        ]
        if asked and slot_unit is not None:
            assert slot_unit in asked, context


def test_every_gsm8k_problem_links_only_what_its_units_allow(gsm8k):
    """Each of the 7,000 problems feeds a link (when its answer can), and each target slot of
    every problem is tried with a previous answer in each unit it could be converted from."""
    pool = TypedPool(gsm8k.source.problems, gsm8k.source.targets)
    rng = random.Random(0)
    links = conversions = 0
    for previous in gsm8k.source.problems:
        kind = pool.answer_type(previous)
        takers = pool.next_problems(kind, must_feed=False)
        if not takers:
            continue
        for _ in range(3):
            target = rng.choice(takers)
            made = link(target, previous.answer, rng, gsm8k.config, (kind, pool.slot_types(target)))
            if made is not None:
                _check_link(previous, made)
                links += 1
                conversions += made.adapter.kind == "unit"
                break
    assert links > 5000 and conversions > 20


def test_no_unit_conversion_on_a_count_anywhere_in_gsm8k(gsm8k):
    """A count never gets a unit conversion, whatever slot of whatever problem it fills."""
    pool = TypedPool(gsm8k.source.problems, gsm8k.source.targets)
    rng = random.Random(1)
    for target in gsm8k.source.targets:
        for value in (12, 60, 120):
            made = link(target, value, rng, gsm8k.config, (COUNT, pool.slot_types(target)))
            assert made is None or made.adapter.kind != "unit", target.id


def test_sampled_chains_respect_units(gsm8k):
    problems = {p.id: p for p in gsm8k.source.problems}
    pool = TypedPool(gsm8k.source.problems, gsm8k.source.targets)
    seen_unit = 0
    for task in gsm8k.sample({"horizon": 4}, 300, seed=5):
        entries = task.meta_dict()["problems"]
        for before, entry in zip(entries, entries[1:], strict=False):
            previous, problem = problems[before["source_id"]], problems[entry["source_id"]]
            adapter = entry["link"]["adapter"]
            start, end = entry["link"]["span"]
            slot = slot_type(problem.text, start, end)
            if adapter["kind"] == "unit":
                seen_unit += 1
                assert named_in_question(previous.text, adapter["units"][0]), task.id
                assert unit_after_slot(problem.text, start, end) == adapter["units"][1], task.id
            else:
                assert pool.answer_type(previous) == slot, task.id
    assert seen_unit > 0


def test_answer_types_of_hand_picked_questions():
    assert answer_type("It takes 5 hours. How many minutes is that?") == ("time", "minutes")
    assert answer_type("How much money does she save in a year?") == ("money", "dollars")
    assert answer_type("What is the price per ounce in cents of the box?") == ("money", "cents")
    assert answer_type("How many more pages does he read?") == COUNT
    assert answer_type("How long does the trip take?") is None
    assert answer_type("x", answer_unit="years") == ("time", "years")
    assert answer_type("x", answer_unit="apples") == COUNT


def test_untyped_links_stay_available(shared_data):
    untyped = synth.get_generator(
        "h1", source=f"gsm8k:{shared_data / 'gsm8k' / 'train.jsonl'}", typed_links=False
    )
    assert len(untyped.sample({"horizon": 3}, 5, seed=0)) == 5


def test_docstring_examples():
    import doctest

    import synth.h1_units

    assert doctest.testmod(synth.h1_units).failed == 0
