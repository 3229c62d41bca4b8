"""Adapters phi for h1 chains: how the previous answer a becomes the value of the next slot.

Every adapter is phi(a) = a * factor / divisor + offset with exact rationals, in one of four kinds:
identity (a), scale (3a, a/4), unit conversion (a hours -> 60a minutes) and affine (a + 5,
2a - 3). `candidates` yields adapters whose value fits the slot it replaces: a positive
integer within a factor `magnitude_ratio` of the slot's original value, so the rewritten
problem keeps its scale. Kinds are tried in a random order, so no kind dominates; affine is
always available and reaches any target, which is why a link almost never fails.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property

from synth.arith import Number, format_number, normalize

ADAPTER_KINDS = ("identity", "scale", "unit", "affine")
SCALES = (2, 3, 4, 5, 10)
# (larger unit singular, plural, smaller unit singular, plural, how many smaller per larger)
UNITS = (
    ("hour", "hours", "minute", "minutes", 60),
    ("minute", "minutes", "second", "seconds", 60),
    ("day", "days", "hour", "hours", 24),
    ("week", "weeks", "day", "days", 7),
    ("year", "years", "month", "months", 12),
    ("foot", "feet", "inch", "inches", 12),
    ("yard", "yards", "foot", "feet", 3),
    ("meter", "meters", "centimeter", "centimeters", 100),
    ("kilogram", "kilograms", "gram", "grams", 1000),
    ("dollar", "dollars", "cent", "cents", 100),
    ("dozen", "dozens", "item", "items", 12),
    ("gallon", "gallons", "quart", "quarts", 4),
)
AFFINE_TRIES = 4


@dataclass(frozen=True)
class Adapter:
    """phi(a) = a * factor / divisor + offset; `unit` indexes UNITS for a unit conversion."""

    kind: str
    factor: int = 1
    divisor: int = 1
    offset: Number = 0
    unit: int = -1

    @property
    def multiplier(self) -> Number:
        return normalize(Fraction(self.factor, self.divisor))

    def apply(self, previous_answer: Number) -> Number:
        # Integers stay on Python's int fast path: this runs for every candidate of every link.
        if type(previous_answer) is int:
            quotient, remainder = divmod(previous_answer * self.factor, self.divisor)
            if remainder == 0:
                return normalize(quotient + self.offset)
        return normalize(previous_answer * self.multiplier + self.offset)

    def phrase(self, problem_number: int) -> str:
        """How the dependency reads in the rewritten problem ("3 times the answer to ...")."""
        answer = f"the answer to Problem {problem_number}"
        if self.kind == "unit":
            big, bigs, small, smalls, factor = UNITS[self.unit]
            if self.divisor > 1:
                return f"{answer}, converted from {smalls} to {bigs} ({factor} {smalls} = 1 {big})"
            return f"{answer}, converted from {bigs} to {smalls} (1 {big} = {factor} {smalls})"
        if self.factor == self.divisor == 1:
            scaled = answer
        elif self.divisor == 1:
            scaled = f"{self.factor} times {answer}"
        else:
            scaled = f"{answer} divided by {self.divisor}"
        if self.offset == 0:
            return scaled
        if self.factor == self.divisor == 1:
            side = "more" if self.offset > 0 else "less"
            return f"{format_number(abs(self.offset))} {side} than {answer}"
        sign = "plus" if self.offset > 0 else "minus"
        return f"{scaled}, {sign} {format_number(abs(self.offset))}"

    def to_dict(self) -> dict:
        record = {
            "kind": self.kind,
            "multiplier": format_number(self.multiplier),
            "offset": format_number(self.offset),
        }
        if self.kind == "unit":
            record["units"] = list(self.units)
        return record

    @property
    def units(self) -> tuple[str, str]:
        """(from, to) plural unit names of a unit conversion."""
        _, larger, _, smaller, _ = UNITS[self.unit]
        return (smaller, larger) if self.divisor > 1 else (larger, smaller)

    @cached_property
    def json(self) -> str:
        """`to_dict` as compact JSON. Formatted directly: the values are number strings and
        unit names, nothing to escape, and json.dumps per link was a hot spot."""
        units = f',"units":["{self.units[0]}","{self.units[1]}"]' if self.unit >= 0 else ""
        return (
            f'{{"kind":"{self.kind}","multiplier":"{format_number(self.multiplier)}",'
            f'"offset":"{format_number(self.offset)}"{units}}}'
        )


IDENTITY = Adapter("identity")
SCALE_ADAPTERS = tuple(Adapter("scale", factor=k) for k in SCALES) + tuple(
    Adapter("scale", divisor=k) for k in SCALES
)
UNIT_ADAPTERS = tuple(
    Adapter("unit", factor=factor, unit=index) for index, (*_, factor) in enumerate(UNITS)
) + tuple(Adapter("unit", divisor=factor, unit=index) for index, (*_, factor) in enumerate(UNITS))
KIND_ORDERS: dict[tuple[str, ...], tuple[tuple[str, ...], ...]] = {}


def window(original: Number, magnitude_ratio: float) -> tuple[int, int]:
    """The integers a rewritten slot may take: [v / ratio, v * ratio], at least 1."""
    low = max(1, math.ceil(original / magnitude_ratio))
    return low, max(low, math.floor(original * magnitude_ratio))


def candidates(
    previous_answer: Number,
    original: Number,
    rng: random.Random,
    magnitude_ratio: float,
    kinds: tuple[str, ...] = ADAPTER_KINDS,
    step: int = 1,
) -> Iterator[Adapter]:
    """Adapters whose value is a multiple of `step` inside the slot's window, kinds shuffled.

    `step` (see atomic.granularity) steers values towards those the program divides evenly.
    """
    low, high = window(original, magnitude_ratio)

    integral_answer = type(previous_answer) is int

    def fits(adapter: Adapter) -> bool:
        if integral_answer and adapter.offset == 0:
            scaled = previous_answer * adapter.factor
            if scaled % adapter.divisor:
                return False
            value = scaled // adapter.divisor
            return low <= value <= high and value % step == 0
        value = adapter.apply(previous_answer)
        return type(value) is int and low <= value <= high and value % step == 0

    if kinds not in KIND_ORDERS:
        KIND_ORDERS[kinds] = tuple(itertools.permutations(kinds))
    orders = KIND_ORDERS[kinds]
    for kind in orders[rng.randrange(len(orders))]:
        if kind == "identity":
            if fits(IDENTITY):
                yield IDENTITY
        elif kind in ("scale", "unit"):
            pool = SCALE_ADAPTERS if kind == "scale" else UNIT_ADAPTERS
            fitting = [adapter for adapter in pool if fits(adapter)]
            if fitting:
                # A random rotation: as fair for the first pick as a shuffle, and cheaper.
                start = rng.randrange(len(fitting))
                yield from fitting[start:] + fitting[:start]
        else:
            yield from _affine(previous_answer, low, high, step, rng)


def _affine(
    previous_answer: Number, low: int, high: int, step: int, rng: random.Random
) -> Iterator[Adapter]:
    # A fractional answer is first scaled to an integer, so the offset keeps the value integral.
    multiplier = 1 if type(previous_answer) is int else previous_answer.denominator
    base = previous_answer * multiplier
    first, last = -(-low // step), high // step
    spacing = step if first <= last else 1
    lowest, highest = (step * first, step * last) if first <= last else (low, high)
    for _ in range(AFFINE_TRIES):
        target = rng.randrange(lowest, highest + 1, spacing)
        if target == base:  # an offset of 0 adds nothing: take a neighbour in the window instead
            if target + spacing <= highest:
                target += spacing
            elif target - spacing >= lowest:
                target -= spacing
        offset = normalize(target - base)
        # With nothing else in the window, "9 times the answer" (a fraction made whole) still fits.
        if offset != 0 or multiplier != 1:
            yield Adapter("affine", factor=multiplier, offset=offset)
