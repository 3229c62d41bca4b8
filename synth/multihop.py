"""multihop: multi-hop QA over a long context filled to an exact token budget (LoongRL's
"standard" long-context QA), and the context builder that keychain (synth/keychain.py)
extends.

The item's own paragraphs plus filler documents up to `context_tokens`, the question asked at
the end. Level axis: context_tokens. Small budgets work: when the item's own paragraphs take
more than `max_own_share` of the budget, its non-supporting paragraphs are left out (the
supporting ones always stay); an item whose supporting paragraphs alone are too long is a
counted skip, and when no item fits the error says how many tokens they take.

Departures from LoongRL's scripts: the prompt is filled to within `tolerance` below the target
using cached per-document counts (synth/token_budget.py) instead of re-tokenising the context
every 10 documents; the last filler document is cut at a word boundary to land close to the
target; sampling is a pure function of (config, level, n, seed).

Make a dataset: `python -m synth multihop --source hotpotqa:PATH --context-tokens 8192 --n 200
--out DIR`.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from synth.base import Axis, check_level
from synth.task import Task
from synth.token_budget import ItemTooLong, NoInsertionPoints, build_context, lowest_fill

log = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You are a helpful assistant. First reason step by step inside <think> and </think>, "
    "then give only the final answer inside \\boxed{}."
)
SYSTEM_PROMPT_NO_THINK = "You are a helpful assistant. Give only the final answer inside \\boxed{}."
REWARD = {True: "qa_two_way_substring", False: "qa_two_way_substring_no_think"}
MULTIHOP_HEAD = "The following are given passages."
MULTIHOP_TAIL = "Answer the question based on the given passages.\n\nQuestion: {question}"


class MultiHopConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    source: str = "hub:hotpotqa/hotpot_qa:distractor@train"
    """Where questions come from: hotpotqa:PATH, hotpotqa-hf:PATH, 2wiki:PATH, musique:PATH
    or hub:ID[:CONFIG][@SPLIT] (see synth/multihop_sources.py)."""
    filler: str | None = None
    """Filler corpus (JSONL with `text`, JSON, .txt or a folder); None: other items' paragraphs."""
    tokenizer: str = "embedded"
    """Whose tokens the budget counts: "embedded", "tiny", a checkpoint path or a Hub id."""
    placement: Literal["uniform", "middle"] = "uniform"
    """uniform: all documents shuffled; middle: the item's own documents near the middle."""
    middle_sigma: float = Field(0.3, gt=0)
    """Spread of own documents under `middle` placement, as a fraction of the context."""
    context_tokens_values: tuple[int, ...] = (4096, 8192, 16384, 32768, 65536, 131072)
    """The context_tokens axis, easiest first."""
    tolerance: float = Field(0.01, gt=0, lt=1)
    """A prompt holds between (1 - tolerance) * context_tokens (at most 32 tokens below it for
    small budgets, synth.token_budget.lowest_fill) and context_tokens tokens."""
    verify_token_count: Literal["always", "first", "never"] = "first"
    """Tokenise finished prompts to check the incremental count: every record, the first of
    each `sample` call (then every record once a difference is seen), or never."""
    min_paragraphs: int = Field(2, ge=1)
    """Items with fewer non-empty paragraphs are skipped as a tiny context."""
    min_context_words: int = Field(50, ge=0)
    """Items whose paragraphs hold fewer words are skipped as a tiny context."""
    min_filler_words: int = Field(20, ge=1)
    """Filler documents shorter than this are left out."""
    max_items: int | None = Field(None, ge=1)
    """Read at most this many usable items from the source (None: all)."""
    purpose: Literal["train", "eval"] = "train"
    """Which part of the source's items to use: a stable hash of each item's id puts
    `eval_fraction` of them in the evaluation part, the rest in the training part, so a training
    stream and an evaluation set made from the same source never share a question, a distractor
    question or an own passage. A source file named like a test split is for "eval" only."""
    eval_fraction: float = Field(0.1, gt=0, lt=1)
    """Share of the source's items held out for evaluation."""
    think: bool = True
    """Ask for reasoning inside <think>...</think> before the boxed answer, and reward only
    answers after `</think>` (qa_two_way_substring); False asks for the boxed answer alone and
    reads the last box anywhere (qa_two_way_substring_no_think), for models that never close a
    think tag (the embedded 135M model)."""
    system_prompt: str | None = None
    """The system message; None: the one that `think` asks for."""
    max_own_share: float = Field(0.4, gt=0, le=1)
    """The item's own paragraphs may take at most this share of context_tokens: beyond it its
    non-supporting paragraphs are left out, last first (the supporting ones always stay), so
    small budgets still fit (a HotpotQA item's 10 paragraphs take ~1,000-1,500 tokens)."""


class SkipItem(ValueError):
    """An item that cannot make a record at this level: a counted skip, never a crash."""

    reason = "the item cannot make a record"


class MultiHopLevel(BaseModel):
    """One point on multihop's axis."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    context_tokens: int = Field(ge=64)
    """Prompt token budget: the item's passages plus filler, within `tolerance` below it."""


def _check_split(config: MultiHopConfig) -> None:
    """A source that is a test split makes evaluation sets only (one line naming the fix)."""
    spec = config.source
    split = spec.partition("@")[2] if spec.startswith("hub:") else Path(spec).name
    if config.purpose == "train" and "test" in split.lower():
        raise ValueError(
            f"source {spec!r} looks like a test split; it is for evaluation only: train on "
            "another split, or set purpose='eval' to make evaluation sets from it"
        )


def in_eval_part(item_id: str, eval_fraction: float) -> bool:
    """Whether a source item belongs to the held-out part: a stable hash of its id, so the
    split never depends on the order or the number of items read."""
    digest = hashlib.blake2b(item_id.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < eval_fraction


class MultiHopGenerator:
    """Multi-hop QA over a long context; shares the context builder with keychain."""

    name = "multihop"
    config_class: type[MultiHopConfig] = MultiHopConfig
    level_class: type[MultiHopLevel] = MultiHopLevel
    description = (
        "Multi-hop questions over a long context: the item's own passages (its supporting "
        "ones always) plus filler documents up to `context_tokens` tokens, the question at the "
        "end; the answer (with its aliases) is rewarded by a two-way substring match. `meta` "
        "names the source item, the passages placed and the exact prompt token count."
    )
    paper = (
        "LoongRL: Reinforcement Learning for Advanced Reasoning over Long Contexts (2025), "
        "https://arxiv.org/abs/2510.19363"
    )
    task_categories = ("question-answering", "text-generation")
    tags = ("long-context", "multi-hop", "reasoning")

    def __init__(self, config: MultiHopConfig | None = None, **fields: Any):
        self.config = config if config is not None else self.config_class(**fields)
        _check_split(self.config)
        self.skipped: Counter = Counter()
        """Items passed over while sampling, by reason (source skips are in `source_load`)."""
        self._ready = False
        self._counts_verified = False
        self._mismatch_seen = False

    def axes(self) -> list[Axis]:
        return [Axis("context_tokens", self.config.context_tokens_values)]

    # ------------------------------------------------------------ lazy heavy state

    def _setup(self) -> None:
        if self._ready:
            return
        from synth.multihop_sources import load_filler, load_source, paragraph_pool
        from synth.token_budget import FillerPool, TokenCounter, load_counting_tokenizer

        config = self.config
        self.counter = TokenCounter(load_counting_tokenizer(config.tokenizer))
        self.source_load = load_source(
            config.source,
            min_paragraphs=config.min_paragraphs,
            min_context_words=config.min_context_words,
            max_items=config.max_items,
        )
        self.items = [
            item
            for item in self.source_load.items
            if in_eval_part(item.id, config.eval_fraction) == (config.purpose == "eval")
        ]
        if len(self.items) < 2:
            raise ValueError(
                f"source {config.source} gave {len(self.items)} usable {config.purpose} items "
                f"(of {len(self.source_load.items)}; eval_fraction={config.eval_fraction}); need 2+"
            )
        documents = (
            load_filler(config.filler, config.min_filler_words)
            if config.filler
            else paragraph_pool(self.items, config.min_filler_words)
        )
        self.pool = FillerPool(documents, self.counter)
        self._ready = True

    def summary(self) -> str:
        """What the source gave and what sampling passed over, in one line."""
        self._setup()
        line = f"{self.name} source {self.config.source}: {self.source_load.summary()}"
        if self.skipped:
            line += f"; items passed over while sampling: {dict(self.skipped)}"
        return line

    def sources(self) -> list:
        """The question source and the filler corpus, with licences (synth/provenance.py)."""
        from synth.provenance import describe_source

        found = [describe_source(self.config.source, kind="hotpotqa")]
        if self.config.filler:
            found.append(describe_source(self.config.filler, kind="filler"))
        return found

    def skip_counts(self) -> dict[str, int]:
        """Source records skipped or malformed, and items passed over while sampling."""
        self._setup()
        counts = {f"source: {reason}": count for reason, count in self.source_load.skipped.items()}
        if self.source_load.errors:
            counts["source: malformed record"] = len(self.source_load.errors)
        counts.update({f"sampling: {reason}": count for reason, count in self.skipped.items()})
        return counts

    def prepare(self) -> None:
        """Load the source, the tokenizer and count all filler now (before a long run)."""
        self._setup()
        self.pool.count_all()

    # ------------------------------------------------------------ sampling

    def _level(self, level: dict[str, int]) -> dict[str, int]:
        check_level(self, level)
        level = dict(level)
        if "keys_per_chain" in {axis.name for axis in self.axes()}:
            level.setdefault("keys_per_chain", getattr(self.config, "keys_per_chain", 0))
        missing = [axis.name for axis in self.axes() if axis.name not in level]
        if missing:
            raise ValueError(f"{self.name}: level {level} lacks {missing}; give every axis")
        return dict(level)

    def _task_id(self, level: dict[str, int], seed: int, index: int) -> str:
        point = "-".join(f"{key}{value}" for key, value in sorted(level.items()))
        part = "-eval" if self.config.purpose == "eval" else ""
        return f"{self.name}{part}-{point}-s{seed}-{index}"

    def source_ids(self) -> set[str]:
        """Ids of every source item this generator may put in a prompt (its part only)."""
        self._setup()
        return {item.id for item in self.items}

    def sample(self, level: dict[str, int], n: int, seed: int) -> list[Task]:
        return list(self.iter_tasks(level, n, seed))

    def iter_tasks(self, level: dict[str, int], n: int, seed: int) -> Iterator[Task]:
        """`sample` one task at a time (the CLI shows progress on it)."""
        level = self._level(level)
        self._setup()
        self._counts_verified = False
        order = list(range(len(self.items)))
        random.Random(f"{self.name}/items/{seed}").shuffle(order)
        for index in range(n):
            yield self._task_at(level, seed, index, order)

    def _task_at(self, level: dict[str, int], seed: int, index: int, order: list[int]) -> Task:
        target = level["context_tokens"]
        smallest = None  # tokens of the shortest supporting passages seen, for the error
        for attempt in range(len(order)):
            item = self.items[order[(index + attempt) % len(order)]]
            rng = random.Random(f"{self.name}/{seed}/{sorted(level.items())}/{index}/{attempt}")
            try:
                return self._make(level, item, rng, self._task_id(level, seed, index))
            except ItemTooLong as error:
                self.skipped[f"passages, instructions and pairs exceed {target} tokens"] += 1
                smallest = min(error.tokens, smallest or error.tokens)
            except NoInsertionPoints:
                self.skipped["too few sentence ends for the key-value pairs"] += 1
            except SkipItem as error:
                self.skipped[error.reason] += 1
        raise ValueError(
            f"{self.name}: no item fits context_tokens={target} (skipped: {dict(self.skipped)}"
            + (f"; the shortest supporting passages take {smallest} tokens" if smallest else "")
            + "): raise context_tokens"
        )

    def _own_passages(self, item, target: int) -> tuple[list[tuple[str, str]], list[bool]]:
        """(title, text) of the item's passages and their supporting flags, non-supporting ones
        left out (last first) while they take more than max_own_share of the budget."""
        own = [(p.title, p.text, p.is_supporting) for p in item.paragraphs if p.text]
        tokens = self.counter.bodies([f"{title}\n{text}" for title, text, _ in own])
        limit = self.config.max_own_share * target
        for index in reversed(range(len(own))):
            if sum(tokens) <= limit:
                break
            if not own[index][2]:
                del own[index], tokens[index]
        return [(title, text) for title, text, _ in own], [flag for *_, flag in own]

    def _question_parts(self, level, item, rng) -> tuple[str, str, list[str], dict[str, Any]]:
        """(head, tail, inserts, meta) of the prompt around the documents."""
        return MULTIHOP_HEAD, MULTIHOP_TAIL.format(question=item.question), [], {}

    def _make(self, level: dict[str, int], item, rng: random.Random, task_id: str) -> Task:
        config, target = self.config, level["context_tokens"]
        head, tail, inserts, extra = self._question_parts(level, item, rng)
        own, supporting = self._own_passages(item, target)
        system = config.system_prompt or (SYSTEM_PROMPT if config.think else SYSTEM_PROMPT_NO_THINK)
        state = rng.getstate()
        verify = (
            config.verify_token_count == "always"
            or self._mismatch_seen
            or (config.verify_token_count == "first" and not self._counts_verified)
        )
        budget = target
        for _ in range(4):
            rng.setstate(state)
            context = build_context(
                self.counter, self.pool, rng, system=system, head=head,
                tail=tail, own=own, inserts=inserts, target=budget,
                tolerance=config.tolerance, placement=config.placement,
                sigma=config.middle_sigma,
            )  # fmt: skip
            if not verify:
                break
            exact = self.counter.prompt_tokens(context.messages)
            self._counts_verified = True
            if exact != context.prompt_tokens and not self._mismatch_seen:
                log.warning(
                    "%s: incremental count %d != full tokenisation %d with tokenizer %s; "
                    "verifying every record from now on",
                    self.name, context.prompt_tokens, exact, config.tokenizer,
                )  # fmt: skip
                self._mismatch_seen = True
            context.prompt_tokens = exact
            if lowest_fill(target, config.tolerance) <= exact <= target:
                break
            budget += target - exact  # the count's offset carries over to a rebuilt context
        else:
            raise RuntimeError(
                f"{self.name}: could not fit {target} tokens with tokenizer {config.tokenizer}; "
                "its counts are not additive: set verify_token_count=always and report it"
            )
        meta = {
            "source": item.source,
            "source_id": item.id,
            "question": item.question,
            **extra,
            "own_passages": context.own_passages,
            "supporting_passages": [
                n for n, s in zip(context.own_passages, supporting, strict=True) if s
            ],
            "num_passages": context.num_passages,
            "prompt_tokens": context.prompt_tokens,
            "context_tokens": target,
            "tokenizer": config.tokenizer,
            "placement": config.placement,
            "filler": config.filler or "source paragraphs",
            "token_count_verified": verify,
        }
        return Task(
            id=task_id,
            task=self.name,
            level=level,
            prompt=context.messages,
            answer=list(item.answers),
            reward=REWARD[config.think],
            meta=json.dumps(meta, ensure_ascii=False),
        )
