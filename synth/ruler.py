"""ruler: RULER-style needle retrieval and variable tracking over book filler, at exact token budgets.

After RULER (Hsieh et al., 2024), as LoongRL mixes it into training ("Book-RULER": multi-key
and multi-value retrieval over books) and as a long-context evaluation set. Each record hides
short statements after random sentence ends of book paragraphs filled to `context_tokens`
tokens (synth/token_budget.py, the budget machinery of keychain and multihop) and asks:
- `niah_multikey`: `num_keys` needles "One of the special magic numbers for {key} is: {value}."
  with distinct keys; what is the number for one of them?
- `niah_multivalue`: `num_values` needles for one key with different numbers; what are all of
  them?
- `variable_tracking`: `vt_chains` chains of `vt_hops` assignments, "VAR ABCDE = 12345." then
  "VAR FGHIJ = VAR ABCDE." and so on; which variables hold the first chain's value?
The answer is the list of every gold item; reward `ruler_match_all` (rewards/ruler.py). Each
record draws one kind from `kinds`. Level axis: context_tokens. `purpose: eval` uses the filler
paragraphs that a stable hash puts in the held-out part (`eval_fraction`) and its own random
streams, so an evaluation set shares no filler paragraph with a training stream.

Departures from RULER: needles go after random sentence ends of whole paragraphs (RULER places
one needle at a set depth of an essay haystack); the variable assignments are scattered in
random order, not in chain order; keys are adjective-noun pairs ("quiet-harbor"), values 7
digits; answers are boxed.

Make a dataset: `python -m synth ruler --filler ../shared/data/prose/gutenberg_paragraphs.jsonl
--context-tokens 16384 --n 200 --seed 0 --out DIR`.
"""

from __future__ import annotations

import json
import logging
import random
import string
from collections import Counter
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from synth.base import Axis, check_level
from synth.multihop import SYSTEM_PROMPT, SYSTEM_PROMPT_NO_THINK, in_eval_part
from synth.task import Task
from synth.token_budget import NoInsertionPoints, build_context, lowest_fill

log = logging.getLogger(__name__)

RulerKind = Literal["niah_multikey", "niah_multivalue", "variable_tracking"]
REWARD = {True: "ruler_match_all", False: "ruler_match_all_no_think"}
ATTEMPTS = 8
NIAH_HEAD = (
    "Some special magic numbers are hidden within the following text. Make sure to memorize "
    "them. I will quiz you about the numbers afterwards."
)
VT_HEAD = "Memorize and track the chains of variable assignments hidden in the following text."
ADJECTIVES = (
    "quiet amber brave calm dusty eager faint gentle hollow icy jolly kind lively misty noble "
    "odd pale quick rusty silent tame upper vivid wild young zesty bold crisp deep early"
).split()
NOUNS = (
    "harbor meadow lantern river falcon garden island kettle ladder mirror needle orchard "
    "pepper quarry raven saddle temple valley window willow anchor basket candle desert "
    "engine feather glacier hammer"
).split()


class RulerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    filler: str | None = None
    """Book filler (JSONL with `text`, JSON, .txt or a folder), e.g. Gutenberg paragraphs;
    required to sample."""
    tokenizer: str = "embedded"
    """Whose tokens the budget counts: "embedded", "tiny", a checkpoint path or a Hub id."""
    kinds: tuple[RulerKind, ...] = ("niah_multikey", "niah_multivalue", "variable_tracking")
    """The tasks records are drawn from, one per record."""
    num_keys: int = Field(4, ge=1)
    """niah_multikey: needles with distinct keys (one is asked for)."""
    num_values: int = Field(4, ge=1)
    """niah_multivalue: needles of the one key (all are asked for)."""
    vt_hops: int = Field(4, ge=1)
    """variable_tracking: variables in each chain (the first takes the number)."""
    vt_chains: int = Field(2, ge=1)
    """variable_tracking: chains (the asked one plus distractors with other numbers)."""
    context_tokens_values: tuple[int, ...] = (4096, 8192, 16384, 32768, 65536, 131072)
    """The context_tokens axis, easiest first."""
    tolerance: float = Field(0.01, gt=0, lt=1)
    """A prompt holds between (1 - tolerance) * context_tokens (at most 32 tokens below it for
    small budgets) and context_tokens tokens."""
    verify_token_count: Literal["always", "first", "never"] = "first"
    """Tokenise finished prompts to check the incremental count: every record, the first of
    each `sample` call (then every record once a difference is seen), or never."""
    min_filler_words: int = Field(20, ge=1)
    """Filler paragraphs shorter than this are left out."""
    purpose: Literal["train", "eval"] = "train"
    """Which part of the filler to use: a stable hash of each paragraph puts `eval_fraction` of
    them in the evaluation part; the random streams differ too."""
    eval_fraction: float = Field(0.1, gt=0, lt=1)
    """Share of the filler paragraphs held out for evaluation."""
    think: bool = True
    """Ask for reasoning in <think>...</think> before the boxed answer (reward
    `ruler_match_all`); False asks for the box alone (`ruler_match_all_no_think`)."""
    system_prompt: str | None = None
    """The system message; None: the one that `think` asks for."""


class RulerLevel(BaseModel):
    """One point on ruler's axis."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    context_tokens: int = Field(ge=64)
    """Prompt token budget: filler plus the hidden statements, within `tolerance` below it."""


class Collision(ValueError):
    """A drawn key, value or variable also occurs in the filler text: draw again."""


def _distinct(rng: random.Random, count: int, draw) -> list[str]:
    found: list[str] = []
    while len(found) < count:
        value = draw(rng)
        if all(value not in other and other not in value for other in found):
            found.append(value)
    return found


def _number(rng: random.Random, digits: int = 7) -> str:
    return str(rng.randrange(10 ** (digits - 1), 10**digits))


def _key(rng: random.Random) -> str:
    return f"{rng.choice(ADJECTIVES)}-{rng.choice(NOUNS)}"


def _variable(rng: random.Random) -> str:
    return "".join(rng.choices(string.ascii_uppercase, k=5))


def _needle(key: str, value: str) -> str:
    return f" One of the special magic numbers for {key} is: {value}."


def multikey(rng: random.Random, config: RulerConfig) -> dict[str, Any]:
    keys = _distinct(rng, config.num_keys, _key)
    values = _distinct(rng, config.num_keys, _number)
    asked = rng.randrange(len(keys))
    counts = {key: 1 + (i == asked) for i, key in enumerate(keys)} | {v: 1 for v in values}
    return {
        "head": NIAH_HEAD,
        "tail": f"What is the special magic number for {keys[asked]} mentioned in the provided "
        "text? Put the number in \\boxed{}.",
        "inserts": [_needle(k, v) for k, v in zip(keys, values, strict=True)],
        "answer": [values[asked]],
        "counts": counts,
        "meta": {"keys": keys, "values": values, "asked_key": keys[asked]},
    }


def multivalue(rng: random.Random, config: RulerConfig) -> dict[str, Any]:
    key = _key(rng)
    values = _distinct(rng, config.num_values, _number)
    return {
        "head": NIAH_HEAD,
        "tail": f"What are all the special magic numbers for {key} mentioned in the provided "
        "text? Put all of them in \\boxed{}, separated by commas.",
        "inserts": [_needle(key, value) for value in values],
        "answer": values,
        "counts": {key: len(values) + 1} | {value: 1 for value in values},
        "meta": {"keys": [key], "values": values, "asked_key": key},
    }


def variable_tracking(rng: random.Random, config: RulerConfig) -> dict[str, Any]:
    hops, chains = config.vt_hops, config.vt_chains
    names = _distinct(rng, hops * chains, _variable)
    numbers = _distinct(rng, chains, lambda r: _number(r, 5))
    chain_names = [names[c * hops : (c + 1) * hops] for c in range(chains)]
    inserts, counts = [], {}
    for chain, number in zip(chain_names, numbers, strict=True):
        inserts.append(f" VAR {chain[0]} = {number}.")
        inserts += [
            f" VAR {name} = VAR {before}." for before, name in zip(chain, chain[1:], strict=False)
        ]
        counts.update({name: 1 + (i < hops - 1) for i, name in enumerate(chain)})
        counts[number] = 1
    counts[numbers[0]] = 2
    rng.shuffle(inserts)
    return {
        "head": VT_HEAD,
        "tail": f"Question: Find all variables that are assigned the value {numbers[0]} in the "
        "text above. Put their names in \\boxed{}, separated by commas.",
        "inserts": inserts,
        "answer": list(chain_names[0]),
        "counts": counts,
        "meta": {"chains": chain_names, "values": numbers},
    }


KINDS = {
    "niah_multikey": multikey,
    "niah_multivalue": multivalue,
    "variable_tracking": variable_tracking,
}


class RulerGenerator:
    """Needles and variable chains in book filler; a pure function of (config, level, n, seed)."""

    name = "ruler"
    config_class = RulerConfig
    level_class = RulerLevel
    description = (
        "RULER-style long-context tasks over book paragraphs filled to `context_tokens` "
        "tokens: multi-key needle retrieval (the number of one of several keys), multi-value "
        "retrieval (every number of one key) and variable tracking (every variable that holds "
        "a value through a chain of assignments). The answer lists every gold item; reward "
        "`ruler_match_all`. `meta` holds the statements hidden and the exact prompt token count."
    )
    paper = (
        "RULER: What's the Real Context Size of Your Long-Context Language Models? (2024), "
        "https://arxiv.org/abs/2404.06654; used in LoongRL (2025), "
        "https://arxiv.org/abs/2510.19363"
    )
    task_categories = ("question-answering", "text-generation")
    tags = ("long-context", "retrieval", "ruler", "needle-in-a-haystack")

    def __init__(self, config: RulerConfig | None = None, **fields: Any) -> None:
        self.config = config if config is not None else RulerConfig(**fields)
        if not self.config.kinds:
            raise ValueError("ruler: kinds is empty; list at least one, e.g. ['niah_multikey']")
        self.skipped: Counter = Counter()
        """Draws passed over while sampling, by reason."""
        self._ready = False
        self._counts_verified = False
        self._mismatch_seen = False

    def axes(self) -> list[Axis]:
        return [Axis("context_tokens", self.config.context_tokens_values)]

    def _setup(self) -> None:
        if self._ready:
            return
        from synth.multihop_sources import load_filler
        from synth.token_budget import FillerPool, TokenCounter, load_counting_tokenizer

        config = self.config
        if config.filler is None:
            raise ValueError(
                "ruler needs book filler: set filler to a corpus (JSONL with text, .txt or a "
                "folder), e.g. ../shared/data/prose/gutenberg_paragraphs.jsonl"
            )
        documents = load_filler(config.filler, config.min_filler_words)
        held_out = config.purpose == "eval"
        part = [d for d in documents if in_eval_part(d[1], config.eval_fraction) == held_out]
        if len(part) < 2:
            raise ValueError(
                f"filler {config.filler} gave {len(part)} {config.purpose} paragraphs of "
                f"{len(documents)} (eval_fraction={config.eval_fraction}): give a larger corpus"
            )
        self.counter = TokenCounter(load_counting_tokenizer(config.tokenizer))
        self.pool = FillerPool(part, self.counter)
        self._ready = True

    def summary(self) -> str:
        self._setup()
        line = (
            f"ruler filler {self.config.filler}: {len(self.pool)} {self.config.purpose} paragraphs"
        )
        return line + (f"; passed over: {dict(self.skipped)}" if self.skipped else "")

    def sources(self) -> list:
        from synth.provenance import describe_source

        return [describe_source(self.config.filler, kind="filler")] if self.config.filler else []

    def skip_counts(self) -> dict[str, int]:
        return {f"sampling: {reason}": count for reason, count in self.skipped.items()}

    def prepare(self) -> None:
        """Load the filler and the tokenizer and count every paragraph now."""
        self._setup()
        self.pool.count_all()

    def sample(self, level: dict[str, int], n: int, seed: int) -> list[Task]:
        return list(self.iter_tasks(level, n, seed))

    def iter_tasks(self, level: dict[str, int], n: int, seed: int) -> Iterator[Task]:
        """`sample` one task at a time (the CLI shows progress on it)."""
        check_level(self, level)
        if "context_tokens" not in level:
            raise ValueError(f"ruler: level {level} lacks context_tokens")
        self._setup()
        self._counts_verified = False
        for index in range(n):
            yield self._task_at(level["context_tokens"], seed, index)

    def _task_at(self, target: int, seed: int, index: int) -> Task:
        part = "-eval" if self.config.purpose == "eval" else ""
        for attempt in range(ATTEMPTS):
            rng = random.Random(f"ruler/{self.config.purpose}/{seed}/{target}/{index}/{attempt}")
            kind = rng.choice(self.config.kinds)
            try:
                return self._make(
                    kind, target, rng, f"ruler{part}-context_tokens{target}-s{seed}-{index}"
                )
            except NoInsertionPoints:
                self.skipped["too few sentence ends for the statements"] += 1
            except Collision:
                self.skipped["a drawn key or value occurs in the filler"] += 1
        raise ValueError(
            f"ruler: no record fits context_tokens={target} after {ATTEMPTS} draws "
            f"(passed over: {dict(self.skipped)}): raise context_tokens or lower num_keys"
        )

    def _make(self, kind: str, target: int, rng: random.Random, task_id: str) -> Task:
        config = self.config
        parts = KINDS[kind](rng, config)
        system = config.system_prompt or (SYSTEM_PROMPT if config.think else SYSTEM_PROMPT_NO_THINK)
        context, verified = self._fit(rng, system, parts, target)
        content = context.messages[-1]["content"]
        for token, want in parts["counts"].items():
            if content.count(token) != want:
                raise Collision(token)
        meta = {
            "kind": kind,
            **parts["meta"],
            "num_passages": context.num_passages,
            "prompt_tokens": context.prompt_tokens,
            "context_tokens": target,
            "tokenizer": config.tokenizer,
            "filler": config.filler,
            "purpose": config.purpose,
            "token_count_verified": verified,
        }
        return Task(
            id=task_id,
            task=self.name,
            level={"context_tokens": target},
            prompt=context.messages,
            answer=parts["answer"],
            reward=REWARD[config.think],
            meta=json.dumps(meta, ensure_ascii=False),
        )

    def _fit(self, rng: random.Random, system: str, parts: dict, target: int):
        """The context at the budget, checked by a full tokenisation as multihop does."""
        config = self.config
        verify = (
            config.verify_token_count == "always"
            or self._mismatch_seen
            or (config.verify_token_count == "first" and not self._counts_verified)
        )
        state, budget = rng.getstate(), target
        for _ in range(4):
            rng.setstate(state)
            context = build_context(
                self.counter, self.pool, rng, system=system, head=parts["head"],
                tail=parts["tail"], own=[], inserts=parts["inserts"], target=budget,
                tolerance=config.tolerance,
            )  # fmt: skip
            if not verify:
                return context, False
            exact = self.counter.prompt_tokens(context.messages)
            self._counts_verified = True
            if exact != context.prompt_tokens and not self._mismatch_seen:
                log.warning(
                    "ruler: incremental count %d != full tokenisation %d with tokenizer %s; "
                    "verifying every record from now on",
                    context.prompt_tokens, exact, config.tokenizer,
                )  # fmt: skip
                self._mismatch_seen = True
            context.prompt_tokens = exact
            if lowest_fill(target, config.tolerance) <= exact <= target:
                return context, True
            budget += target - exact
        raise RuntimeError(
            f"ruler: could not fit {target} tokens with tokenizer {config.tokenizer}; its "
            "counts are not additive: set verify_token_count=always and report it"
        )
