"""Types and units of h1's quantities: what an answer measures, what a slot of a problem holds.

A quantity's type is (dimension, unit): time, length, money, mass, volume or percent with a
canonical plural unit ("minutes", "feet", "dollars", ...), or ("count", "items") for anything
counted ("40 kids", "3 times"). An answer's type is read from its question sentence ("How many
minutes ...", "How much money ...", "..., in feet?"), or from `answer_unit` when the source
gives one (the built-in problems); a slot's type from the text around its number ("$4", "5
hours", "20%"). An answer whose question measures something in a unit we cannot tell ("How
long ...?" with no unit named, "How much flour ...?") has no type, and its problem never feeds
another one.

The rules h1 links by (`adapter_fits`), after the paper's well-posedness filters on type and
unit (its exact rules are not published):
- identity, scale and affine adapters keep the type: a count feeds a count, a time in minutes a
  time in minutes, money in dollars money in dollars;
- a unit conversion goes from the answer's unit to the slot's, both measured and of the same
  dimension (hours -> minutes, feet -> inches, dollars -> cents); never on a count (so the
  dozen -> items conversion is never used on GSM8K-style text).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from synth.atomic import AtomicProblem
from synth.h1_adapters import Adapter

QuantityType = tuple[str, str]
COUNT: QuantityType = ("count", "items")

_UNIT_GROUPS = {
    "time": {
        "seconds": ("second", "seconds", "sec", "secs"),
        "minutes": ("minute", "minutes", "min", "mins"),
        "hours": ("hour", "hours", "hr", "hrs"),
        "days": ("day", "days"),
        "weeks": ("week", "weeks"),
        "months": ("month", "months"),
        "years": ("year", "years"),
    },
    "length": {
        "inches": ("inch", "inches"),
        "feet": ("foot", "feet", "ft"),
        "yards": ("yard", "yards"),
        "miles": ("mile", "miles"),
        "centimeters": ("centimeter", "centimeters", "centimetre", "centimetres", "cm"),
        "meters": ("meter", "meters", "metre", "metres"),
        "kilometers": ("kilometer", "kilometers", "kilometre", "kilometres", "km"),
    },
    "money": {"dollars": ("dollar", "dollars"), "cents": ("cent", "cents")},
    "mass": {
        "grams": ("gram", "grams"),
        "kilograms": ("kilogram", "kilograms", "kg"),
        "pounds": ("pound", "pounds", "lb", "lbs"),
        "ounces": ("ounce", "ounces", "oz"),
    },
    "volume": {
        "gallons": ("gallon", "gallons"),
        "quarts": ("quart", "quarts"),
        "liters": ("liter", "liters", "litre", "litres"),
        "milliliters": ("milliliter", "milliliters", "ml"),
        "cups": ("cup", "cups"),
    },
    "percent": {"percent": ("percent", "percentage", "%")},
}
UNIT_WORDS: dict[str, QuantityType] = {
    word: (dimension, unit)
    for dimension, units in _UNIT_GROUPS.items()
    for unit, words in units.items()
    for word in words
}
# Words between a number and its unit that do not change what it measures ("5 more minutes").
_FILLERS = {"more", "fewer", "less", "additional", "extra", "whole", "full", "total", "of"}
_WORD = re.compile(r"[a-z%]+")
_QUESTION_SPLIT = re.compile(r"(?<=[.?!])\s+")
_HOW_MANY = re.compile(r"\bhow many\s+((?:[a-z%]+\s+){0,2})")
_IN_UNIT = re.compile(r"\bin\s+([a-z]+)\b")
_MONEY = re.compile(
    r"\bhow much (?:money|did|does|do|will|would|is|was|are|were|should|can|could|has|had|have)"
    r"\b.*\b(?:cost|costs|spend|spent|pay|paid|earn|earned|earns|make|made|makes|save|saved|"
    r"charge|charged|owe|owes|lose|lost|profit|worth|left|change|total)\b"
    r"|\bhow much money\b|\bhow many dollars\b|\b(?:total )?(?:cost|price|profit|revenue|"
    r"budget|bill)\b.*\?$|\$"
)
_MEASURED_UNKNOWN = re.compile(r"\bhow (?:long|far|fast|heavy|tall|much)\b|\bwhat (?:speed|time)\b")


def unit_of(word: str) -> QuantityType | None:
    """The measured type a unit word names, or None.

    >>> unit_of("Hours"), unit_of("apples")
    (('time', 'hours'), None)
    """
    return UNIT_WORDS.get(word.lower())


def question_sentence(text: str) -> str:
    """The sentence that asks: the last one ending in `?`, else the last sentence."""
    sentences = [s for s in _QUESTION_SPLIT.split(text.strip()) if s]
    asking = [s for s in sentences if s.rstrip().endswith("?")]
    return (asking or sentences or [""])[-1]


def answer_type(question_text: str, answer_unit: str = "") -> QuantityType | None:
    """What the answer of a problem measures; None when it measures something in a unit that
    the text does not name.

    >>> answer_type("Tom runs 3 miles a day. How many miles does he run in 5 days?")
    ('length', 'miles')
    >>> answer_type("A toy costs $4. How much does Ann spend on 3 toys?")
    ('money', 'dollars')
    >>> answer_type("There were 40 kids. How many kids went rafting?")
    ('count', 'items')
    >>> answer_type("He drives at 60 miles per hour. How long does the trip take?") is None
    True
    """
    if answer_unit:
        return unit_of(answer_unit) or COUNT
    question = question_sentence(question_text).lower()
    how_many = _HOW_MANY.search(question)
    if how_many:
        for word in how_many.group(1).split():
            if word in _FILLERS:
                continue
            return unit_of(word) or COUNT
        return COUNT
    for named in _IN_UNIT.finditer(question):  # "..., in feet?", "price per ounce in cents"
        if unit_of(named.group(1)):
            return unit_of(named.group(1))
    if re.search(r"\bwhat percent(?:age)?\b", question):
        return UNIT_WORDS["percent"]
    if re.search(r"\bhow old\b", question):
        return UNIT_WORDS["years"]
    if _MONEY.search(question):
        return UNIT_WORDS["dollars"]
    if _MEASURED_UNKNOWN.search(question):
        return None
    return None


def slot_type(text: str, start: int, end: int) -> QuantityType:
    """What the number at text[start:end] holds: `$4` dollars, `5 hours`, `20%`, else a count.

    >>> text = "Each bar costs $4. She works 5 more hours for 20% of 30 kids."
    >>> [slot_type(text, m.start(), m.end()) for m in re.finditer(r"\\d+", text)]
    [('money', 'dollars'), ('time', 'hours'), ('percent', 'percent'), ('count', 'items')]
    """
    if text[max(0, start - 1) : start] == "$":
        return UNIT_WORDS["dollars"]
    following = text[end : end + 40].lower().lstrip("-")
    if following.startswith("%"):
        return UNIT_WORDS["%"]
    for word in _WORD.findall(following)[:3]:
        if word in _FILLERS:
            continue
        return unit_of(word) or COUNT
    return COUNT


def adapter_fits(answer: QuantityType | None, slot: QuantityType, adapter: Adapter) -> bool:
    """Whether `adapter` may turn an answer of type `answer` into the value of a `slot`.

    >>> from synth.h1_adapters import IDENTITY, UNIT_ADAPTERS
    >>> to_minutes = next(a for a in UNIT_ADAPTERS if a.units == ("hours", "minutes"))
    >>> adapter_fits(("time", "hours"), ("time", "minutes"), to_minutes)
    True
    >>> adapter_fits(COUNT, ("time", "minutes"), to_minutes), adapter_fits(COUNT, COUNT, IDENTITY)
    (False, True)
    """
    if answer is None:
        return False
    if adapter.kind != "unit":
        return answer == slot
    if COUNT in (answer, slot) or answer[0] != slot[0]:
        return False
    return adapter.units == (answer[1], slot[1])


def accepts(answer: QuantityType | None, slot: QuantityType) -> bool:
    """Whether some adapter may carry an answer of this type into this slot."""
    if answer is None:
        return False
    return answer == slot or (COUNT not in (answer, slot) and answer[0] == slot[0])


@dataclass
class TypedPool:
    """The link targets that can take an answer of each type, and the problems whose answer
    some target can take (only those may feed the next problem of a chain)."""

    problems: Sequence[AtomicProblem]
    targets: Sequence[AtomicProblem]
    _answers: dict[str, QuantityType | None] = field(default_factory=dict)
    _takers: dict[QuantityType | None, tuple[AtomicProblem, ...]] = field(default_factory=dict)
    _slots: dict[str, tuple[QuantityType, ...]] = field(default_factory=dict)
    _next: dict = field(default_factory=dict)
    _feeders: tuple[AtomicProblem, ...] | None = None

    def answer_type(self, problem: AtomicProblem) -> QuantityType | None:
        if problem.id not in self._answers:
            self._answers[problem.id] = answer_type(problem.text, problem.answer_unit)
        return self._answers[problem.id]

    def slot_types(self, problem: AtomicProblem) -> tuple[QuantityType, ...]:
        """The type of each of `problem.target_slots`, in that order."""
        if problem.id not in self._slots:
            spans = [problem.slots[index] for index in problem.target_slots]
            self._slots[problem.id] = tuple(slot_type(problem.text, s.start, s.end) for s in spans)
        return self._slots[problem.id]

    def takers(self, answer: QuantityType | None) -> tuple[AtomicProblem, ...]:
        """Targets with at least one slot that an answer of this type may fill."""
        if answer not in self._takers:
            self._takers[answer] = tuple(
                problem
                for problem in self.targets
                if any(accepts(answer, slot) for slot in self.slot_types(problem))
            )
        return self._takers[answer]

    def feeds(self, problem: AtomicProblem) -> bool:
        """Whether the answer of `problem` can feed some target."""
        return bool(self.takers(self.answer_type(problem)))

    def next_problems(self, answer: QuantityType | None, must_feed: bool) -> Sequence:
        """Targets an answer of this type may link into; `must_feed`: only those whose own
        answer can feed a further problem (every position of a chain but the last)."""
        key = (answer, must_feed)
        if key not in self._next:
            takers = self.takers(answer)
            self._next[key] = tuple(p for p in takers if self.feeds(p)) if must_feed else takers
        return self._next[key]

    def first_problems(self, must_feed: bool) -> Sequence:
        """Problems a chain may start with."""
        if not must_feed:
            return self.problems
        if self._feeders is None:
            self._feeders = tuple(p for p in self.problems if self.feeds(p))
        return self._feeders
