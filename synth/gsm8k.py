"""GSM8K-schema sources: rows of {"question", "answer"} turned into executable atomic problems.

Rows come from a local JSONL file or a Hub dataset (`datasets.load_dataset`); both go through
`problems_from_rows`. The program is built from the solution's calculator notes
(`<<48/2=24>>`): every number in a note must be a number of the question, an earlier note's
result, a percentage of a question number, or a constant that the question states in words
("half", "dozen", "three", "hours"...). A row is accepted only when its program reproduces the
gold `#### N` exactly; every other row is counted under one rejection reason, never raised.

Run `python -m synth.gsm8k ../shared/data/gsm8k/train.jsonl` for the acceptance report.

Split policy: building *training* chains from a test split is refused. A local file whose
name contains "test", or a Hub split named "test*", is only read with purpose="eval".
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from synth.arith import ArithError, Node, Number, evaluate, map_tree, parse, to_number
from synth.atomic import AtomicProblem, Slot, find_numbers, make_problem
from synth.jsonl import SHOWN_LINES, BadLine, format_skips, read_jsonl

log = logging.getLogger(__name__)

ANNOTATION_RE = re.compile(r"<<([^<>]*)>>")
ALWAYS_ALLOWED = {0, 1, 2, 100, Fraction(1, 2), Fraction(1, 100)}
# Constants a question may state in words; a note may use them without a digit in the text.
WORD_CONSTANTS: dict[str, tuple[Number, ...]] = {
    "one": (1,), "two": (2,), "three": (3,), "four": (4,), "five": (5,), "six": (6,),
    "seven": (7,), "eight": (8,), "nine": (9,), "ten": (10,), "eleven": (11,),
    "twelve": (12,), "thirteen": (13,), "fourteen": (14,), "fifteen": (15,),
    "sixteen": (16,), "seventeen": (17,), "eighteen": (18,), "nineteen": (19,),
    "twenty": (20,), "thirty": (30,), "forty": (40,), "fifty": (50,), "sixty": (60,),
    "seventy": (70,), "eighty": (80,), "ninety": (90,), "hundred": (100,),
    "thousand": (1000,), "million": (1000000,), "half": (Fraction(1, 2),),
    "halves": (Fraction(1, 2),), "twice": (2,), "double": (2,), "triple": (3,),
    "thrice": (3,), "quarter": (4, Fraction(1, 4)), "third": (3, Fraction(1, 3)),
    "fourth": (4,), "fifth": (5,), "dozen": (12,), "score": (20,), "pair": (2,), "both": (2,), "twin": (2,),
    "week": (7, 52), "day": (24, 7, 30, 365), "hour": (60, 24), "minute": (60,),
    "second": (60, 2), "month": (12, 30, 4), "year": (12, 52, 365), "foot": (12,),
    "feet": (12,), "yard": (3, 36), "pound": (16,), "gallon": (4, 128), "quart": (4,),
    "cent": (100,), "dollar": (100,), "decade": (10,), "century": (100,), "inch": (12,),
    "percent": (100,), "%": (100,), "nickel": (5,), "dime": (10,), "quarters": (25,),
}  # fmt: skip
WORD_RE = re.compile(r"[a-z]+|%")
ORDINAL_RE = re.compile(r"\b(?:first|second|third|fourth|fifth|sixth|last)\b", re.IGNORECASE)
SMALL_COUNT = 10


@dataclass
class SourceStats:
    """How many rows were read, accepted, and rejected for which reason."""

    name: str
    rows: int = 0
    accepted: int = 0
    with_targets: int = 0
    """Accepted problems that have a slot able to carry a chain dependency."""
    opaque: int = 0
    """Accepted problems whose notes use a constant the question does not state (say a result
    computed without a note): their program reproduces the gold answer, so they serve as
    Problem 1 of a chain, but no slot of theirs is rewritten since the off-note step would not
    follow the new value."""
    rejected: Counter = field(default_factory=Counter)
    lines: dict[str, list[int]] = field(default_factory=dict)
    """The first few line (row) numbers, from 1, of each rejection reason."""

    def reject(self, reason: str, row_number: int) -> None:
        self.rejected[reason] += 1
        shown = self.lines.setdefault(reason, [])
        if len(shown) < SHOWN_LINES:
            shown.append(row_number)

    @property
    def acceptance_rate(self) -> float:
        return self.accepted / self.rows if self.rows else 0.0

    def summary(self) -> str:
        reasons = format_skips(self.rejected, self.lines)
        return (
            f"{self.name}: accepted {self.accepted}/{self.rows} ({100 * self.acceptance_rate:.1f} %),"
            f" {self.with_targets} with a dependency slot, {self.opaque} with off-note constants;"
            f" rejected: {reasons}"
        )

    def to_dict(self) -> dict:
        return {
            "name": self.name,
            "rows": self.rows,
            "accepted": self.accepted,
            "with_targets": self.with_targets,
            "opaque": self.opaque,
            "acceptance_rate": self.acceptance_rate,
            "rejected": dict(self.rejected),
        }


class Rejected(Exception):
    """A row that cannot become a problem; `reason` is the counter key."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def check_split_allowed(name: str, purpose: str) -> None:
    """Refuse a test split for training chains (one clear line naming the fix)."""
    if purpose == "train" and "test" in name.lower():
        raise ValueError(
            f"{name} looks like a test split; it is for evaluation only. Build training chains "
            "from a train split, or set purpose='eval' to make evaluation chains from it."
        )


def read_jsonl_rows(path: str | Path, stats: SourceStats) -> Iterator[tuple[int, object]]:
    """(line index from 0, parsed object) per non-blank line; a line that is not UTF-8 or not
    JSON is counted with its line number, not raised."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ValueError(f"GSM8K-schema source {path} is not a file; give a JSONL path")
    for line_number, value in read_jsonl(path):
        if isinstance(value, BadLine):
            stats.rows += 1
            stats.reject(value.reason, line_number)
        else:
            yield line_number - 1, value


def read_hub_rows(dataset_id: str, config: str | None, split: str) -> Iterator[tuple[int, object]]:
    """Rows of a Hub dataset with GSM8K's schema, through `datasets.load_dataset`."""
    from synth.hub_source import OFFLINE_FIX, HubSpec, load_hub

    if config is None and dataset_id.rstrip("/").endswith("gsm8k"):
        config = "main"  # openai/gsm8k has two configs; "main" is the plain one.
    spec = HubSpec(dataset_id, config, split)
    yield from enumerate(load_hub(spec, fix=f"{OFFLINE_FIX}, or give a local JSONL path"))


def problems_from_rows(
    rows: Iterable[tuple[int, object]], stats: SourceStats, id_prefix: str
) -> list[AtomicProblem]:
    """Accepted problems of `rows`; each rejection increments `stats.rejected[reason]`."""
    problems = []
    for row_index, row in rows:
        stats.rows += 1
        try:
            problem = problem_from_row(row, f"{id_prefix}#{row_index}")
        except Rejected as rejection:
            stats.reject(rejection.reason, row_index + 1)
            continue
        stats.accepted += 1
        stats.with_targets += bool(problem.target_slots)
        stats.opaque += bool(problem.extra.get("opaque"))
        problems.append(problem)
    return problems


def problem_from_row(row: object, problem_id: str) -> AtomicProblem:
    """The executable problem of one {"question", "answer"} row, or `Rejected`."""
    if not isinstance(row, dict):
        raise Rejected("not_an_object")
    question, solution = row.get("question"), row.get("answer")
    if not isinstance(question, str) or not isinstance(solution, str):
        raise Rejected("missing_field", "question and answer must be strings")
    if not question.strip():
        raise Rejected("empty_question")
    if "####" not in solution:
        raise Rejected("missing_answer_marker")
    try:
        gold = to_number(solution.rsplit("####", 1)[1].strip().rstrip("."))
    except ArithError as error:
        raise Rejected("unparsable_gold", str(error)) from error
    notes = ANNOTATION_RE.findall(solution.rsplit("####", 1)[0])
    if not notes:
        raise Rejected("no_annotations")
    return build_program(question, notes, gold, problem_id)


def build_program(question: str, notes: list[str], gold: Number, problem_id: str) -> AtomicProblem:
    """Bind each note's numbers to question inputs or earlier results; see the module docstring."""
    numbers = find_numbers(question)
    input_of_value: dict[Number, int] = {}
    inputs: list[Number] = []
    occurrences: Counter = Counter()
    for number in numbers:
        value = to_number(number.literal)
        occurrences[value] += 1
        if value not in input_of_value:
            input_of_value[value] = len(inputs)
            inputs.append(value)
    allowed = set(ALWAYS_ALLOWED)
    for word in WORD_RE.findall(question.lower()):
        allowed.update(WORD_CONSTANTS.get(word, WORD_CONSTANTS.get(word.rstrip("s"), ())))
    ambiguous: set[int] = set()
    opaque: set[Number] = set()  # constants the question does not state: computed off-note
    result_index: dict[Number, int] = {}  # value -> env index of its latest step
    steps: list[Node] = []
    env = list(inputs)

    def bind(leaf: Node) -> Node:
        if leaf[0] == "var":
            raise Rejected("unparsable_annotation", f"name {leaf[1]!r} in a note")
        value = leaf[1]
        if value in input_of_value:
            if value in result_index:
                ambiguous.add(input_of_value[value])
            return ("var", input_of_value[value])
        if value in result_index:
            return ("var", result_index[value])
        if value * 100 in input_of_value:  # "20%" in the question, 0.2 in the note
            return ("/", ("var", input_of_value[value * 100]), ("num", 100))
        if value not in allowed:
            opaque.add(value)
        return leaf

    for note in notes:
        expression, stated = _split_note(note)
        step = map_tree(expression, bind)
        try:
            value = evaluate(step, env)
        except ArithError as error:
            raise Rejected("unparsable_annotation", str(error)) from error
        if value != stated:
            raise Rejected("inexact_annotation", f"{note!r} computes {value}")
        result_index[value] = len(env)
        steps.append(step)
        env.append(value)
    answer_index = next((i for i in range(len(env) - 1, len(inputs) - 1, -1) if env[i] == gold), -1)
    if answer_index < 0:
        raise Rejected("answer_mismatch", f"no note computes the gold answer {gold}")
    # "The first two weigh 12 pounds, the third ...": when items are enumerated, a small
    # count is structural (changing it leaves the listed items wrong), so it stays fixed.
    enumerated = len(ORDINAL_RE.findall(question)) >= 2
    slots = tuple(
        Slot(
            n.start,
            n.end,
            input_of_value[to_number(n.literal)],
            n.plain_integer
            and not opaque
            and not (enumerated and to_number(n.literal) <= SMALL_COUNT)
            and occurrences[to_number(n.literal)] == 1
            and input_of_value[to_number(n.literal)] not in ambiguous,
        )
        for n in numbers
    )
    extra = {"opaque": sorted(str(value) for value in opaque)} if opaque else {}
    return make_problem(
        problem_id, question, tuple(inputs), slots, tuple(steps), answer_index, extra=extra
    )


def _split_note(note: str) -> tuple[Node, Number]:
    """A calculator note "48/2=24" as (expression tree, stated result)."""
    if "=" not in note:
        raise Rejected("unparsable_annotation", f"no '=' in {note!r}")
    expression_text, stated_text = note.rsplit("=", 1)
    expression_text = re.sub(r"(?<=\d),(?=\d{3})", "", expression_text.replace("$", ""))
    expression_text = re.sub(r"(\d(?:\.\d+)?)\s*%", r"(\1/100)", expression_text)
    expression_text = expression_text.replace("×", "*").replace("÷", "/")
    try:
        expression = parse(expression_text)
        stated = to_number(stated_text.replace("$", "").strip())
    except ArithError as error:
        raise Rejected("unparsable_annotation", str(error)) from error
    return expression, stated


def main() -> None:
    import argparse

    parser = argparse.ArgumentParser(description="GSM8K-schema acceptance report")
    parser.add_argument("path", help="a local JSONL file with question/answer rows")
    args = parser.parse_args()
    stats = SourceStats(Path(args.path).name)
    problems_from_rows(read_jsonl_rows(args.path, stats), stats, Path(args.path).stem)
    print(stats.summary())


if __name__ == "__main__":
    main()
