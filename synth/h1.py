"""h1: grade-school problems composed into dependency chains of any horizon, answers recomputed.

After "Bootstrapping LLMs to Reason over Longer Horizons via RL" (2025): a chain of h atomic
problems where the answer of problem j-1 feeds a number of problem j; only the final answer is
rewarded, and the horizon h is the curriculum axis.

    gen = synth.get_generator("h1", source="gsm8k:../shared/data/gsm8k/train.jsonl")
    tasks = gen.sample({"horizon": 3}, n=8, seed=0)
    python -m synth h1 --horizon 5 --n 1000 --seed 0 --source builtin --out DIR

For each j >= 2 a slot of problem j (a plain integer that feeds its answer) is replaced by a
letter, "Let X be <adapter of the answer to Problem j-1>." is put in front, and problem j's
program is re-run on the new value; the link is kept only when every step stays positive and
integral where it was (see synth/atomic.py), and, with `typed_links`, only between
quantities of one type and unit (synth/h1_units.py). `meta` holds the full trace;
`synth.h1_verify.verify_chain` re-executes it without the source.

Sources: "builtin" (procedural, offline), "gsm8k:PATH" or a plain PATH (local JSONL with
question/answer), "hub:ID" or "hub:ID:CONFIG" (`datasets.load_dataset`). Split policy:
purpose="train" refuses test splits (file names or Hub splits containing "test");
evaluation chains need purpose="eval". Departures from the paper: the adapters, the type and
unit rules and the re-execution of programs from calculator notes are our own construction
(the paper's code is not public); the built-in source is ours.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from synth.arith import Number, format_number
from synth.atomic import AtomicProblem, rewrite_slot, run_with_input
from synth.base import Axis, check_level
from synth.h1_adapters import ADAPTER_KINDS, Adapter, candidates
from synth.h1_source import LoadedSource, check_source, load_source
from synth.h1_units import QuantityType, TypedPool, accepts, adapter_fits
from synth.task import Task

log = logging.getLogger(__name__)

LINK_ATTEMPTS = 40
CHAIN_RESTARTS = 8
# A system message that shows the answer format by example: the embedded 135M model boxes 24 %
# of its answers with it and 0 % without (docs/log.md, 2026-11-30). Not the paper's (none).
FORMAT_PROMPT = (
    "You are a math solver. Answer in one line: the calculation, then the result in \\boxed{}.\n"
    "Example question: Sara has 10 stickers and gives away 3. How many are left?\n"
    "Example answer: 10 - 3 = 7. \\boxed{7}"
)
AdapterKind = Literal["identity", "scale", "unit", "affine"]


class H1Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    source: str = "builtin"
    """"builtin", "gsm8k:PATH" or a plain JSONL path, "hub:ID" or "hub:ID:CONFIG"."""
    purpose: Literal["train", "eval"] = "train"
    """"train" refuses test splits; "eval" is required to build chains from a test split."""
    split: str | None = None
    """Hub split; defaults to "train" for purpose train and "test" for purpose eval."""
    max_horizon: int = Field(8, ge=1)
    """The largest horizon on the curriculum axis (sample() accepts any horizon >= 1)."""
    problem_steps_values: tuple[int, ...] | None = None
    """When set, `problem_steps` becomes an axis raised before the horizon: every problem of a
    chain takes at most that many operations (built-in problems take 1 or 2, GSM8K's 2 to 8).
    (problem_steps=1, horizon=1) is then one operation on small numbers."""
    limit: int | None = Field(None, ge=1)
    """Read only the first `limit` source rows (quick runs and tests); None reads all."""
    builtin_pool_size: int = Field(5000, ge=1)
    """How many procedural problems the built-in source draws from."""
    builtin_one_step_fraction: float = Field(0.5, ge=0.0, le=1.0)
    """Share of one-operation problems in the built-in pool (the rest take two steps)."""
    builtin_seed: int = 0
    """Seed of the built-in pool; purpose eval draws a different pool from it."""
    magnitude_ratio: float = Field(3.0, gt=1.0)
    """A rewritten slot takes a value within [v / ratio, v * ratio] of its original v."""
    adapter_kinds: tuple[AdapterKind, ...] = ADAPTER_KINDS
    """Which adapters may link problems; "affine" keeps links from failing."""
    typed_links: bool = True
    """Link only quantities of one type and unit (synth/h1_units.py): a count feeds a count,
    minutes feed minutes, a unit conversion runs from the answer's unit to the slot's and never
    on a count; a problem whose answer's unit the text does not name only ends chains.
    False: any adapter on any slot, as before."""
    max_answer: int = Field(10**7, ge=1)
    """Links whose recomputed answer exceeds this in magnitude are not used."""
    system_prompt: str | None = None
    """An optional system message before the user message that holds the chain."""

    @field_validator("source")
    @classmethod
    def _known_source(cls, source: str) -> str:
        if not source.strip():
            raise ValueError("source is empty: use builtin, gsm8k:PATH, hub:ID or a JSONL path")
        return source

    @field_validator("adapter_kinds")
    @classmethod
    def _some_adapter(cls, kinds: tuple[str, ...]) -> tuple[str, ...]:
        if not kinds:
            raise ValueError("adapter_kinds is empty: list at least one, e.g. ['affine']")
        return tuple(dict.fromkeys(kinds))


class H1Level(BaseModel):
    """One point on h1's axis."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    horizon: int = Field(ge=1)
    """Problems per chain; each one after the first uses the previous answer."""
    problem_steps: int | None = Field(None, ge=1)
    """Most operations per problem (an axis only when `problem_steps_values` is set)."""


@dataclass(frozen=True)
class Link:
    """Problem j of a chain: which slot took the previous answer, through which adapter."""

    problem: AtomicProblem
    slot_index: int
    adapter: Adapter
    value: Number
    answer: Number


def link(
    problem: AtomicProblem,
    previous: Number,
    rng: random.Random,
    config: H1Config,
    types: tuple[QuantityType | None, tuple[QuantityType, ...]] | None = None,
) -> Link | None:
    """A well-posed Link of `problem` to the previous answer, or None if no slot works.
    `types`: (the previous answer's type, the type of each target slot) to link by type."""
    count = len(problem.target_slots)
    start = rng.randrange(count)
    for target in range(start, start + count):
        slot_index = problem.target_slots[target % count]
        step = problem.target_steps[target % count]
        input_index = problem.slots[slot_index].input_index
        original = problem.inputs[input_index]
        if types is not None and not accepts(types[0], types[1][target % count]):
            continue
        for adapter in candidates(
            previous, original, rng, config.magnitude_ratio, config.adapter_kinds, step
        ):
            if types is not None and not adapter_fits(types[0], types[1][target % count], adapter):
                continue
            value = adapter.apply(previous)
            answer = run_with_input(problem, input_index, value)
            if answer is not None and abs(answer) <= config.max_answer:
                return Link(problem, slot_index, adapter, value, answer)
    return None


class H1Generator:
    """Chains of atomic problems; a pure function of (config, level, n, seed).

    Building one is cheap: the source is checked (file, split) but read on first use.
    """

    name = "h1"
    config_class = H1Config
    level_class = H1Level
    description = (
        "Chains of grade-school math problems: problem j uses the answer to problem j-1 "
        "through an adapter (identity, a scale, a unit conversion or an affine map), and only "
        "the final answer is asked for and rewarded (reward `math`). Every answer is recomputed "
        "by executing the problems' programs with the new values; `meta` holds the trace that "
        "re-verifies a record without the source (`synth.h1_verify.verify_chain`)."
    )
    paper = (
        "h1: Bootstrapping LLMs to Reason over Longer Horizons via Reinforcement Learning "
        "(2025), https://arxiv.org/abs/2510.07312"
    )
    task_categories = ("question-answering", "text-generation")
    tags = ("math", "reasoning", "long-horizon", "curriculum")

    def __init__(self, config: H1Config | None = None, **fields) -> None:
        self.config = config if config is not None else H1Config(**fields)
        check_source(self.config)
        self._fragments: dict[str, str] = {}
        self._by_steps: dict[int, tuple[tuple, tuple]] = {}
        self._typed: dict[int | None, TypedPool] = {}
        head = {"generator": "h1", "source": self.config.source, "purpose": self.config.purpose}
        self._meta_head = _compact(head)[1:-1]

    @cached_property
    def source(self) -> LoadedSource:
        """The source's problems, read (and cached per process) on first use."""
        source = load_source(self.config)
        if not source.targets and self.config.max_horizon > 1:
            raise ValueError(
                f"h1 source {self.config.source!r} has no problem with a dependency slot; "
                "chains need one: use a larger source or set max_horizon=1"
            )
        return source

    @property
    def stats(self):
        """The source's acceptance statistics (None for the built-in source)."""
        return self.source.stats

    def summary(self) -> str:
        stats = self.source.stats
        return f"h1 source {stats.summary() if stats else self.source.tag}"

    def sources(self) -> list:
        """What the chains are made from, with licences (synth/provenance.py)."""
        from synth.provenance import builtin_source, describe_source

        if self.config.source == "builtin":
            return [builtin_source("procedural grade-school problems")]
        return [describe_source(self.config.source, kind="gsm8k")]

    def skip_counts(self) -> dict[str, int]:
        """Source rows refused, by reason (chains themselves are never skipped: a link that
        cannot be made raises)."""
        stats = self.source.stats
        rejected = stats.rejected if stats else {}
        return {f"source: {reason}": count for reason, count in rejected.items()}

    def axes(self) -> list[Axis]:
        horizon = Axis("horizon", tuple(range(1, self.config.max_horizon + 1)))
        if self.config.problem_steps_values is None:
            return [horizon]
        return [Axis("problem_steps", self.config.problem_steps_values), horizon]

    def source_ids(self) -> set[str]:
        """Ids of every source problem a chain of this generator may use."""
        return {problem.id for problem in self.source.problems}

    def _pools(self, max_steps: int | None) -> tuple[tuple, tuple]:
        """(problems, targets) of at most `max_steps` operations (all of them for None)."""
        if max_steps is None:
            return self.source.problems, self.source.targets
        if max_steps not in self._by_steps:
            problems = tuple(p for p in self.source.problems if len(p.steps) <= max_steps)
            targets = tuple(p for p in problems if p.target_slots)
            if not problems or not targets:
                raise ValueError(
                    f"h1: source {self.config.source!r} has no problem of at most {max_steps} "
                    "operations that can carry a dependency; raise problem_steps"
                )
            self._by_steps[max_steps] = (problems, targets)
        return self._by_steps[max_steps]

    def _typed_pool(self, max_steps: int | None) -> TypedPool | None:
        """The type index of a pool (None when links are untyped)."""
        if not self.config.typed_links:
            return None
        if max_steps not in self._typed:
            self._typed[max_steps] = TypedPool(*self._pools(max_steps))
        return self._typed[max_steps]

    def sample(self, level: dict[str, int], n: int, seed: int) -> list[Task]:
        return self.sample_range(level, 0, n, seed)

    def iter_tasks(self, level: dict[str, int], n: int, seed: int) -> Iterator[Task]:
        """`sample` one task at a time (the CLI shows progress on it)."""
        for start in range(0, n, 100):
            yield from self.sample_range(level, start, min(n, start + 100), seed)

    def sample_range(self, level: dict[str, int], start: int, stop: int, seed: int) -> list[Task]:
        """Tasks start..stop-1 of the (level, seed) stream; sample(n) is the range 0..n."""
        check_level(self, level)
        if "horizon" not in level:
            raise ValueError(f"h1 level needs a horizon, got {level}")
        steps_axis = self.config.problem_steps_values is not None
        if steps_axis and "problem_steps" not in level:
            raise ValueError(f"h1 level needs problem_steps (an axis here), got {level}")
        horizon, max_steps = level["horizon"], level.get("problem_steps")
        return [self.make_chain(horizon, seed, index, max_steps) for index in range(start, stop)]

    def make_chain(self, horizon: int, seed: int, index: int, max_steps: int | None = None) -> Task:
        """Chain `index` of the (horizon, seed) stream: a pure function of its arguments.
        `max_steps` limits every problem to that many operations (the problem_steps axis)."""
        steps_key = "" if max_steps is None else f"/p{max_steps}"
        for restart in range(CHAIN_RESTARTS):
            # A typed chain can run into an answer that nothing in the pool takes within its
            # magnitude window; it is then drawn again from the next stream of the same index.
            rng = random.Random(
                f"h1/{seed}/{horizon}/{index}{steps_key}" + f"/r{restart}" * bool(restart)
            )
            try:
                first, links = self._draw_chain(horizon, rng, max_steps)
            except RuntimeError:
                if restart == CHAIN_RESTARTS - 1:
                    raise
                continue
            return self._task(first, links, horizon, seed, index, max_steps)
        raise AssertionError("unreachable")

    def _draw_chain(
        self, horizon: int, rng: random.Random, max_steps: int | None
    ) -> tuple[AtomicProblem, list[Link]]:
        problems, targets = self._pools(max_steps)
        typed = self._typed_pool(max_steps)
        first = rng.choice(typed.first_problems(horizon > 1) if typed else problems)
        links: list[Link] = []
        previous, used = first.answer, {first.id}
        previous_type = typed.answer_type(first) if typed else None
        for position in range(2, horizon + 1):
            chosen = None
            pool = typed.next_problems(previous_type, position < horizon) if typed else targets
            for attempt in range(LINK_ATTEMPTS if pool else 0):
                problem = rng.choice(pool)
                if problem.id in used and attempt < LINK_ATTEMPTS // 2:
                    continue
                types = (previous_type, typed.slot_types(problem)) if typed else None
                chosen = link(problem, previous, rng, self.config, types)
                if chosen is not None:
                    previous_type = typed.answer_type(problem) if typed else None
                    break
            if chosen is None:
                raise RuntimeError(
                    f"h1: no well-posed link for problem {position} after {LINK_ATTEMPTS} tries "
                    f"(previous answer {previous}); widen magnitude_ratio or enable 'affine'"
                )
            links.append(chosen)
            used.add(chosen.problem.id)
            previous = chosen.answer
        return first, links

    def _task(
        self, first: AtomicProblem, links: list[Link], horizon, seed, index, max_steps=None
    ) -> Task:
        texts = [f"Problem 1: {first.text}"]
        # meta is assembled from per-problem JSON fragments serialised once: encoding the
        # static programs for every chain was a third of the sampling time.
        trace = [f"{{{self._static_json(first)}}}"]
        answers = [format_number(first.answer)]
        for position, chain_link in enumerate(links, start=2):
            problem = chain_link.problem
            slot = problem.slots[chain_link.slot_index]
            body = rewrite_slot(problem.text, slot, problem.letter)
            clause = f"Let {problem.letter} be {chain_link.adapter.phrase(position - 1)}."
            texts.append(f"Problem {position}: {clause} {body}")
            # Every value here is a number string, a unit name or "q<i>": nothing to escape,
            # so the record is formatted directly (json.dumps per link was a hot spot).
            record = (
                f'"link":{{"input":"q{slot.input_index}","span":[{slot.start},{slot.end}],'
                f'"original":"{problem.input_text[slot.input_index]}",'
                f'"adapter":{chain_link.adapter.json},'
                f'"value":"{format_number(chain_link.value)}"}}'
            )
            trace.append(f"{{{self._static_json(problem)},{record}}}")
            answers.append(format_number(chain_link.answer))
        answers_json = '","'.join(answers)
        meta = (
            f'{{{self._meta_head},"horizon":{horizon},"seed":{seed},"index":{index},'
            f'"problems":[{",".join(trace)}],"answers":["{answers_json}"]}}'
        )
        level = {"horizon": horizon}
        steps_tag = ""
        if max_steps is not None:
            level["problem_steps"] = max_steps
            steps_tag = f"-p{max_steps}"
        return Task(
            id=f"h1-{self.source.tag}-h{horizon}{steps_tag}-s{seed}-{index}",
            task="h1",
            level=level,
            prompt=self._messages(texts),
            answer=answers[-1],
            reward="math",
            meta=meta,
        )

    def _static_json(self, problem: AtomicProblem) -> str:
        fragment = self._fragments.get(problem.id)
        if fragment is None:
            fragment = _compact(_trace_entry(problem))[1:-1]
            self._fragments[problem.id] = fragment
        return fragment

    def _messages(self, texts: list[str]) -> list[dict[str, str]]:
        if len(texts) == 1:
            head, tail = "Solve the following problem.", "Put the final answer in \\boxed{}."
            texts = [texts[0].removeprefix("Problem 1: ")]
        else:
            head = (
                "Solve the following problems in order. Each problem after the first uses the "
                "answer to the problem before it."
            )
            tail = f"Give the final answer, the answer to Problem {len(texts)}, in \\boxed{{}}."
        user = "\n\n".join([head, *texts, tail])
        messages = [{"role": "user", "content": user}]
        if self.config.system_prompt:
            messages.insert(0, {"role": "system", "content": self.config.system_prompt})
        return messages

    def state_dict(self) -> dict:
        """Sampling is stateless (a pure function of seed and index); only the config is kept."""
        return {"config": self.config.model_dump()}

    def load_state_dict(self, state: dict) -> None:
        if H1Config(**state["config"]) != self.config:
            raise ValueError(
                "h1 state was saved with a different config; build the generator from it"
            )


def _compact(value) -> str:
    return json.dumps(value, separators=(",", ":"))


def _trace_entry(problem: AtomicProblem) -> dict:
    return {
        "source_id": problem.id,
        "program": list(problem.program_text),
        "inputs": list(problem.input_text),
        "answer_var": problem.env_names()[problem.answer_index],
    }
