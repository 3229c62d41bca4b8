"""The built-in offline source: procedural one- and two-step grade-school word problems.

Needs no download, so the embedded default (`python rl/run.py`) runs anywhere. One-step
problems use a single operation on small numbers (3 + 4 apples), so a 135M model solves some
of them at horizon 1; two-step problems combine two operations. Each template carries its
program, so every generated problem is executable exactly like a GSM8K one.

`generate_pool(n, seed)` is a pure function of (n, seed). Simplification: a fixed set of
templates with varied names, objects and units, not free-form language.
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from synth.arith import Node, map_tree, parse
from synth.atomic import AtomicProblem, Slot, make_problem

NAMES = (
    "Ava", "Ben", "Chloe", "Dan", "Ella", "Finn", "Grace", "Hugo", "Isla", "Jack", "Kira",
    "Leo", "Mia", "Noah", "Olivia", "Priya", "Quinn", "Ravi", "Sara", "Tom", "Uma", "Victor",
    "Wen", "Yusuf", "Zoe", "Amir", "Lena", "Omar", "Rosa", "Sam",
)  # fmt: skip
ITEMS = (
    ("apple", "apples"), ("marble", "marbles"), ("sticker", "stickers"), ("book", "books"),
    ("pencil", "pencils"), ("cookie", "cookies"), ("card", "cards"), ("shell", "shells"),
    ("toy car", "toy cars"), ("balloon", "balloons"), ("orange", "oranges"), ("stamp", "stamps"),
    ("cupcake", "cupcakes"), ("flower", "flowers"), ("coin", "coins"), ("egg", "eggs"),
)  # fmt: skip
CONTAINERS = (
    ("box", "boxes"), ("bag", "bags"), ("jar", "jars"), ("basket", "baskets"),
    ("pack", "packs"), ("crate", "crates"), ("tray", "trays"),
)  # fmt: skip
GIFTS = ("kite", "hat", "puzzle", "scarf", "ball", "notebook", "lamp", "mug")


def _small(rng: random.Random) -> int:
    return rng.randint(1, 12)


def _pair_sub(rng: random.Random, low: int, high: int) -> dict[str, int]:
    a = rng.randint(low + 1, high)
    return {"a": a, "b": rng.randint(1, a - 1)}


def _pair_div(rng: random.Random, quotient_max: int, divisor_max: int) -> dict[str, int]:
    quotient, divisor = rng.randint(1, quotient_max), rng.randint(2, divisor_max)
    return {"a": quotient * divisor, "b": divisor}


def _split_groups(rng: random.Random) -> dict[str, int]:
    groups, per_group = rng.randint(2, 6), rng.randint(2, 8)
    total = groups * per_group
    a = rng.randint(1, total - 1)
    return {"a": a, "b": total - a, "c": groups}


@dataclass(frozen=True)
class Template:
    """Text with {a}/{b}/{c} number placeholders and words, the program, a number sampler."""

    text: str
    program: tuple[str, ...]
    """Steps over a, b, c and earlier results r0, r1; the last step is the answer."""
    numbers: Callable[[random.Random], dict[str, int]]
    unit: str


ONE_STEP = (
    Template(
        "{name} has {a} {items}. {name2} gives {name} {b} more {items}. "
        "How many {items} does {name} have now?",
        ("a + b",),
        lambda rng: {"a": _small(rng), "b": _small(rng)},
        "{items}",
    ),
    Template(
        "{name} has {a} {items} and gives {b} of them to {name2}. "
        "How many {items} does {name} have left?",
        ("a - b",),
        lambda rng: _pair_sub(rng, 2, 20),
        "{items}",
    ),
    Template(
        "There are {a} {containers}, and each {container} holds {b} {items}. "
        "How many {items} are there in total?",
        ("a * b",),
        lambda rng: {"a": rng.randint(2, 9), "b": rng.randint(2, 9)},
        "{items}",
    ),
    Template(
        "{name} shares {a} {items} equally among {b} friends. "
        "How many {items} does each friend get?",
        ("a / b",),
        lambda rng: _pair_div(rng, 9, 6),
        "{items}",
    ),
    Template(
        "One {item} costs ${a}. How many dollars do {b} {items} cost?",
        ("a * b",),
        lambda rng: {"a": rng.randint(1, 9), "b": rng.randint(2, 6)},
        "dollars",
    ),
    Template(
        "{name} is {a} years old. {name2} is {b} years older than {name}. "
        "How many years old is {name2}?",
        ("a + b",),
        lambda rng: {"a": rng.randint(3, 15), "b": rng.randint(1, 10)},
        "years",
    ),
    Template(
        "A rope is {a} meters long. {name} cuts off {b} meters. How many meters of rope are left?",
        ("a - b",),
        lambda rng: _pair_sub(rng, 3, 30),
        "meters",
    ),
    Template(
        "{name} reads {a} pages every day. How many pages does {name} read in {b} days?",
        ("a * b",),
        lambda rng: {"a": rng.randint(2, 10), "b": rng.randint(2, 7)},
        "pages",
    ),
    Template(
        "A movie lasts {a} hours. How many minutes long is the movie?",
        ("a * 60",),
        lambda rng: {"a": rng.randint(2, 5)},
        "minutes",
    ),
    Template(
        "{name} trains for {a} weeks. How many days is that?",
        ("a * 7",),
        lambda rng: {"a": rng.randint(2, 8)},
        "days",
    ),
    Template(
        "{name} has ${a} and buys a {gift} for ${b}. How many dollars does {name} have left?",
        ("a - b",),
        lambda rng: _pair_sub(rng, 5, 40),
        "dollars",
    ),
)

TWO_STEP = (
    Template(
        "{name} buys {a} {containers} of {items} with {b} {items} in each {container}, "
        "then gives away {c} {items}. How many {items} does {name} have now?",
        ("a * b", "r0 - c"),
        lambda rng: (lambda a, b: {"a": a, "b": b, "c": rng.randint(1, a * b - 1)})(
            rng.randint(2, 8), rng.randint(2, 10)
        ),
        "{items}",
    ),
    Template(
        "{name} has {a} {items} and buys {b} more, then splits all of them equally into "
        "{c} groups. How many {items} are in each group?",
        ("a + b", "r0 / c"),
        lambda rng: _split_groups(rng),
        "{items}",
    ),
    Template(
        "A {item} costs ${a} and a {gift} costs ${b}. "
        "How many dollars do {c} {items} and one {gift} cost together?",
        ("a * c", "r0 + b"),
        lambda rng: {"a": rng.randint(1, 9), "b": rng.randint(2, 20), "c": rng.randint(2, 6)},
        "dollars",
    ),
    Template(
        "{name} earns ${a} per hour and works {b} hours a day for {c} days. "
        "How many dollars does {name} earn?",
        ("a * b", "r0 * c"),
        lambda rng: {"a": rng.randint(5, 15), "b": rng.randint(2, 8), "c": rng.randint(2, 6)},
        "dollars",
    ),
    Template(
        "{name} walks {a} minutes to school and {b} minutes back every day. "
        "How many minutes does {name} walk in {c} days?",
        ("a + b", "r0 * c"),
        lambda rng: {"a": rng.randint(5, 25), "b": rng.randint(5, 25), "c": rng.randint(2, 7)},
        "minutes",
    ),
    Template(
        "A class has {a} students. {b} of them are absent and the rest sit in groups of {c}. "
        "How many groups are there?",
        ("a - b", "r0 / c"),
        lambda rng: (lambda groups, c, b: {"a": groups * c + b, "b": b, "c": c})(
            rng.randint(2, 8), rng.randint(2, 5), rng.randint(1, 6)
        ),
        "groups",
    ),
    Template(
        "{name} saves ${a} every week. After {b} weeks, {name} spends ${c}. "
        "How many dollars does {name} have left?",
        ("a * b", "r0 - c"),
        lambda rng: (lambda a, b: {"a": a, "b": b, "c": rng.randint(1, a * b - 1)})(
            rng.randint(2, 20), rng.randint(2, 8)
        ),
        "dollars",
    ),
    Template(
        "{name} practices piano for {a} hours on Saturday and {b} hours on Sunday. "
        "How many minutes does {name} practice in total?",
        ("a + b", "r0 * 60"),
        lambda rng: {"a": rng.randint(2, 4), "b": rng.randint(2, 4)},
        "minutes",
    ),
)


PLACEHOLDER_RE = re.compile(r"\{(\w+)\}")


@cache
def _compiled_program(template: Template) -> tuple[tuple[Node, ...], tuple[str, ...]]:
    """Steps over env indices (inputs in text order, then results) and the input names."""
    input_names = tuple(
        dict.fromkeys(k for k in PLACEHOLDER_RE.findall(template.text) if k in ("a", "b", "c"))
    )
    index = {name: i for i, name in enumerate(input_names)}
    index.update({f"r{i}": len(input_names) + i for i in range(len(template.program))})
    steps = tuple(
        map_tree(parse(step), lambda leaf: ("var", index[leaf[1]]) if leaf[0] == "var" else leaf)
        for step in template.program
    )
    return steps, input_names


def instantiate(template: Template, rng: random.Random, problem_id: str = "") -> AtomicProblem:
    """One problem from a template: fill words and numbers, record each number's span. The id
    defaults to a hash of the text, so the same problem has the same id in every pool (what
    keeps an evaluation pool free of training problems)."""
    name, name2 = rng.sample(NAMES, 2)
    item, items = rng.choice(ITEMS)
    container, containers = rng.choice(CONTAINERS)
    words = {
        "name": name, "name2": name2, "item": item, "items": items, "container": container,
        "containers": containers, "gift": rng.choice(GIFTS),
    }  # fmt: skip
    numbers = template.numbers(rng)
    steps, input_names = _compiled_program(template)
    pieces: list[str] = []
    spans: dict[str, tuple[int, int]] = {}
    length = cursor = 0
    for match in PLACEHOLDER_RE.finditer(template.text):
        pieces.append(template.text[cursor : match.start()])
        length += match.start() - cursor
        key = match.group(1)
        value = str(numbers[key]) if key in numbers else words[key]
        if key in numbers:
            spans[key] = (length, length + len(value))
        pieces.append(value)
        length += len(value)
        cursor = match.end()
    pieces.append(template.text[cursor:])
    text = "".join(pieces)
    slots = tuple(Slot(*spans[key], i, True) for i, key in enumerate(input_names))
    inputs = tuple(numbers[key] for key in input_names)
    unit = PLACEHOLDER_RE.sub(lambda m: words[m.group(1)], template.unit)
    answer_index = len(inputs) + len(steps) - 1
    problem_id = (
        problem_id or f"builtin-{hashlib.blake2b(text.encode(), digest_size=6).hexdigest()}"
    )
    return make_problem(problem_id, text, inputs, slots, steps, answer_index, answer_unit=unit)


def generate_pool(n: int, seed: int | str, one_step_fraction: float = 0.5) -> list[AtomicProblem]:
    """n problems, a pure function of (n, seed, one_step_fraction)."""
    rng = random.Random(f"builtin/{seed}")
    pool = []
    for _ in range(n):
        templates = ONE_STEP if rng.random() < one_step_fraction else TWO_STEP
        pool.append(instantiate(rng.choice(templates), rng))
    return pool
