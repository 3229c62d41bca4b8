"""An executable atomic problem: question text, its numeric slots, and a program over them.

Every source (GSM8K-schema data, the built-in procedural problems) produces `AtomicProblem`s;
h1 chains them. The program is a list of steps (arith trees) over an environment that holds
the input values first (q0, q1, ...) and then each step's result (r0, r1, ...), so changing
one input and re-running the steps recomputes the answer exactly.

Slots are character spans of the text. A slot is *rewritable* when it is a plain positive
integer that appears once in the text and is read by the steps that lead to the answer: only
then can its number be replaced by a dependency on an earlier answer while the program stays
the program of the rewritten text.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass, field
from fractions import Fraction

from synth.arith import (
    MAX_ABS_VALUE,
    ArithError,
    Node,
    Number,
    compile_tree,
    evaluate,
    evaluate_compiled,
    format_number,
    render,
    variables,
)

# A number in running text: 1,000 / 12 / 3.5 / .5 (commas only in thousands groups).
NUMBER_RE = re.compile(r"(?<![\w.])(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\w])|(?<![\w.])\.\d+\b")
VARIABLE_LETTERS = ("X", "Y", "Z", "N", "M", "K")


@dataclass(frozen=True)
class Slot:
    """A number in the text: its character span, the input variable it feeds, rewritable or not."""

    start: int
    end: int
    input_index: int
    rewritable: bool


@dataclass(frozen=True)
class AtomicProblem:
    """One question whose answer is `steps` run on `inputs`; see the module docstring."""

    id: str
    text: str
    inputs: tuple[Number, ...]
    slots: tuple[Slot, ...]
    steps: tuple[Node, ...]
    answer_index: int
    """Index in the environment (inputs then step results) of the answer."""
    step_values: tuple[Number, ...] = ()
    """The original result of each step; filled by `make_problem`."""
    target_slots: tuple[int, ...] = ()
    """Indices into `slots` that may carry a dependency: rewritable and feeding the answer."""
    program_text: tuple[str, ...] = ()
    """The steps as "r0 = q0 / 2" lines, recorded in chain traces for re-verification."""
    letter: str = "X"
    """The placeholder for a rewritten slot, chosen not to clash with the text."""
    answer_unit: str = ""
    """What the answer counts, when the source knows it (built-in problems)."""
    input_text: tuple[str, ...] = ()
    """The inputs as plain number strings, recorded in chain traces."""
    extra: dict = field(default_factory=dict, compare=False)
    compiled: tuple = field(default=(), compare=False, repr=False)
    """`steps` as closures (arith.compile_tree), for re-running the program in a chain."""
    step_checks: tuple[tuple[bool, bool], ...] = field(default=(), compare=False, repr=False)
    """Per step (was positive, was integral): what a rewritten input must preserve."""
    target_steps: tuple[int, ...] = field(default=(), compare=False)
    """Per target slot, the `granularity` of its input: new values are drawn as multiples."""

    @property
    def answer(self) -> Number:
        return (
            self.inputs[self.answer_index]
            if self.answer_index < len(self.inputs)
            else (self.step_values[self.answer_index - len(self.inputs)])
        )

    def env_names(self) -> list[str]:
        names = [f"q{i}" for i in range(len(self.inputs))]
        return names + [f"r{i}" for i in range(len(self.steps))]


def make_problem(
    problem_id: str,
    text: str,
    inputs: tuple[Number, ...],
    slots: tuple[Slot, ...],
    steps: tuple[Node, ...],
    answer_index: int,
    answer_unit: str = "",
    extra: dict | None = None,
) -> AtomicProblem:
    """An AtomicProblem with its derived fields (step values, targets, program text) filled."""
    env = list(inputs)
    for step in steps:
        env.append(evaluate(step, env))
    needed = _inputs_feeding(steps, len(inputs), answer_index)
    target_slots = tuple(
        i for i, slot in enumerate(slots) if slot.rewritable and slot.input_index in needed
    )
    names = [f"q{i}" for i in range(len(inputs))] + [f"r{i}" for i in range(len(steps))]
    program_text = tuple(f"r{i} = {render(step, names)}" for i, step in enumerate(steps))
    letter = next(
        (c for c in VARIABLE_LETTERS if not re.search(rf"\b{c}\b", text, flags=re.IGNORECASE)), "X"
    )
    problem = AtomicProblem(
        id=problem_id,
        text=text,
        inputs=tuple(inputs),
        slots=tuple(slots),
        steps=tuple(steps),
        answer_index=answer_index,
        step_values=tuple(env[len(inputs) :]),
        target_slots=target_slots,
        program_text=program_text,
        letter=letter,
        answer_unit=answer_unit,
        input_text=tuple(format_number(value) for value in inputs),
        compiled=tuple(compile_tree(step) for step in steps),
        step_checks=tuple((value > 0, type(value) is int) for value in env[len(inputs) :]),
        extra=extra or {},
    )
    steps_of_targets = tuple(granularity(problem, slots[i].input_index) for i in target_slots)
    return dataclasses.replace(problem, target_steps=steps_of_targets)


def _inputs_feeding(steps: tuple[Node, ...], input_count: int, answer_index: int) -> set[int]:
    """Input indices the answer depends on, following step results back to the inputs."""
    needed: set[int] = set()
    frontier = [answer_index]
    seen: set[int] = set()
    while frontier:
        index = frontier.pop()
        if index in seen:
            continue
        seen.add(index)
        if index < input_count:
            needed.add(index)
        else:
            frontier.extend(variables(steps[index - input_count]))
    return needed


def run_with_input(problem: AtomicProblem, input_index: int, value: Number) -> Number | None:
    """The answer with one input replaced, or None when the result is not well-posed.

    Well-posed: every step that was positive stays positive and every step that was integral
    stays integral (no 23.5 clips), and no step divides by zero.
    """
    env = list(problem.inputs)
    env[input_index] = value
    try:
        # Inlined (not evaluate_compiled): this loop is most of the time spent sampling chains.
        for step, (was_positive, was_integral) in zip(
            problem.compiled, problem.step_checks, strict=True
        ):
            result = step(env)
            if type(result) is Fraction:
                if result.denominator != 1:
                    if was_integral:
                        return None
                else:
                    result = result.numerator
            elif was_integral and type(result) is not int:
                return None
            if was_positive and result <= 0:
                return None
            env.append(result)
    except (ArithError, ZeroDivisionError):
        return None
    answer = env[problem.answer_index]
    return answer if abs(answer) <= MAX_ABS_VALUE else None


def granularity(problem: AtomicProblem, input_index: int) -> int:
    """The smallest step m (a divisor of the input) such that multiples of m keep it integral.

    A heuristic for choosing new values, e.g. 4 when the program divides the input by 4;
    `run_with_input` still checks every value actually used.
    """
    original = problem.inputs[input_index]
    bound = math.gcd(original, 5040)  # 5040 = 7!: covers the divisors word problems use
    for step in (m for m in range(1, bound + 1) if bound % m == 0):
        if all(_stays_integral(problem, input_index, original + k * step) for k in (1, 2, 3)):
            return step
    return original


def _stays_integral(problem: AtomicProblem, input_index: int, value: Number) -> bool:
    env = list(problem.inputs)
    env[input_index] = value
    try:
        for step, original in zip(problem.compiled, problem.step_values, strict=True):
            result = evaluate_compiled(step, env)
            if type(original) is int and type(result) is not int:
                return False
            env.append(result)
    except (ArithError, ZeroDivisionError):
        return False
    return True


def rewrite_slot(text: str, slot: Slot, replacement: str) -> str:
    """The text with exactly the slot's span replaced; every other character is kept."""
    return text[: slot.start] + replacement + text[slot.end :]


@dataclass(frozen=True)
class TextNumber:
    """A number found in running text by `find_numbers`."""

    start: int
    end: int
    literal: str
    plain_integer: bool
    """An integer written without decimals, not part of a fraction, time, percentage or year."""


def find_numbers(text: str) -> list[TextNumber]:
    """The numbers in `text`, left to right, with the context that decides if they are plain."""
    found = []
    for match in NUMBER_RE.finditer(text):
        start, end = match.span()
        literal = match.group()
        before = text[max(0, start - 1) : start]
        after = text[end : end + 1]
        plain = (
            "." not in literal
            and before not in ("/", ":", "-")
            and after not in ("/", ":", "%")
            and not text[end : end + 8].startswith(" percent")
            and not (len(literal) == 4 and literal.isdigit() and 1900 <= int(literal) <= 2100)
            and int(literal.replace(",", "")) > 0
        )
        found.append(TextNumber(start, end, literal, plain))
    return found
