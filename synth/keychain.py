"""keychain and multihop: LoongRL's KeyChain long-context tasks and plain multi-hop QA, both
filled to an exact token budget.

KeyChain (LoongRL, 2025): a multi-hop question is hidden at the end of a chain of key-value
pairs, ` {"k1": "k2"}.`, each written after a random sentence end of the documents: the
item's own paragraphs plus filler up to `context_tokens`. Chain 0 runs k1 -> ... -> kK -> the
true question; chains 1..n-1 end in questions of other items. The model gets k1, follows the
chain, finds the question, then answers it from the documents. `multihop` is the same context
without chains, the question asked directly, for mixing.

Level axes: context_tokens, num_chains (keychain only); `keys_per_chain` is a config value
and becomes a third axis when `keys_per_chain_values` is set. Key format and placement are
config values (level values are integers).

Departures from LoongRL's scripts: keys come from the seeded RNG (the same seed, level and
index give the same record); the prompt is filled to within `tolerance` below the target using
cached per-document counts (synth/token_budget.py) instead of re-tokenising the context every
10 documents; the last filler document is cut at a word boundary to land close to the target.

Make a dataset: `python -m synth keychain --source hotpotqa:PATH --context-tokens 16384
--num-chains 16 --n 500 --seed 0 --out DIR` (flags from the config and level models).
"""

from __future__ import annotations

import json
import logging
import random
import string
import uuid
from collections import Counter
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from synth.base import Axis, check_level
from synth.task import Task
from synth.token_budget import ItemTooLong, build_context, lazy_permutation

log = logging.getLogger(__name__)

SYSTEM_PROMPT = (
    "You are a helpful assistant. First reason step by step inside <think> and </think>, "
    "then give only the final answer inside \\boxed{}."
)
KEYCHAIN_HEAD = "Please read the following text."
KEYCHAIN_TAIL = (
    "In the context above, there is one correct question to answer. The correct question can "
    "only be found by following the correct consecutive chain of key:value pairs encoded with "
    '{kind} strings, starting from "{start_key}". Find the correct question first, then '
    "answer it."
)
MULTIHOP_HEAD = "The following are given passages."
MULTIHOP_TAIL = "Answer the question based on the given passages.\n\nQuestion: {question}"
KEY_KINDS = {"uuid4": "UUID", "hex8": "8-digit hexadecimal", "letters32": "32-letter"}


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
    """A prompt holds between (1 - tolerance) * context_tokens and context_tokens tokens."""
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
    system_prompt: str = SYSTEM_PROMPT
    """The system message: reasoning inside <think>, the answer inside \\boxed{}."""


class KeyChainConfig(MultiHopConfig):
    num_chains_values: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    """The num_chains axis (the true chain plus distractors), easiest first."""
    keys_per_chain: int = Field(4, ge=1)
    """Keys in each chain; the last key's value is a question."""
    keys_per_chain_values: tuple[int, ...] | None = None
    """When set, keys_per_chain becomes a third level axis with these values."""
    key_format: Literal["uuid4", "hex8", "letters32"] = "uuid4"
    """uuid4: 36-char UUIDs; hex8: 8 hex digits; letters32: 32 ASCII letters."""


class MultiHopLevel(BaseModel):
    """One point on multihop's axis."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    context_tokens: int = Field(ge=64)
    """Prompt token budget: the item's passages plus filler, within `tolerance` below it."""


class KeyChainLevel(MultiHopLevel):
    """One point on keychain's axes (keys_per_chain comes from the config unless
    `keys_per_chain_values` makes it an axis)."""

    num_chains: int = Field(ge=1)
    """Chains of keys in the context: the true one plus num_chains - 1 distractors."""


class KeyCollision(ValueError):
    """A drawn key also occurs in the document text (possible with short key formats)."""


def draw_key(rng: random.Random, key_format: str) -> str:
    if key_format == "uuid4":
        return str(uuid.UUID(int=rng.getrandbits(128), version=4))
    if key_format == "hex8":
        return f"{rng.getrandbits(32):08x}"
    return "".join(rng.choices(string.ascii_letters, k=32))


def pair_text(key: str, value: str) -> str:
    return f" {{{json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}}}."


def draw_chains(rng: random.Random, questions: list[str], keys_per_chain: int, key_format: str):
    """One chain of distinct keys per question; returns (chains, pairs in random order)."""
    keys: set[str] = set()
    chains = []
    for _ in questions:
        chain = []
        while len(chain) < keys_per_chain:
            key = draw_key(rng, key_format)
            # No key may contain or sit inside another, so each occurs only where placed.
            if all(key not in other and other not in key for other in keys):
                keys.add(key)
                chain.append(key)
        chains.append(chain)
    pairs = [
        pair_text(key, values[i + 1])
        for chain, question in zip(chains, questions, strict=True)
        for values in [chain + [question]]
        for i, key in enumerate(chain)
    ]
    rng.shuffle(pairs)
    return chains, pairs


class MultiHopGenerator:
    """Multi-hop QA over a long context; shares the context builder with keychain."""

    name = "multihop"
    config_class: type[MultiHopConfig] = MultiHopConfig
    level_class: type[MultiHopLevel] = MultiHopLevel

    def __init__(self, config: MultiHopConfig | None = None, **fields: Any):
        self.config = config if config is not None else self.config_class(**fields)
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
        self.items = self.source_load.items
        if len(self.items) < 2:
            raise ValueError(f"source {config.source} gave {len(self.items)} usable items; need 2+")
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
        return f"{self.name}-{point}-s{seed}-{index}"

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
        for attempt in range(len(order)):
            item = self.items[order[(index + attempt) % len(order)]]
            rng = random.Random(f"{self.name}/{seed}/{sorted(level.items())}/{index}/{attempt}")
            try:
                return self._make(level, item, rng, self._task_id(level, seed, index))
            except ItemTooLong:
                self.skipped[f"own documents exceed context_tokens={level['context_tokens']}"] += 1
            except KeyCollision:
                self.skipped["a key occurs in the documents"] += 1
        raise ValueError(f"{self.name}: no item fits context_tokens={level['context_tokens']}")

    def _question_parts(self, level, item, rng) -> tuple[str, str, list[str], dict[str, Any]]:
        """(head, tail, inserts, meta) of the prompt around the documents."""
        return MULTIHOP_HEAD, MULTIHOP_TAIL.format(question=item.question), [], {}

    def _make(self, level: dict[str, int], item, rng: random.Random, task_id: str) -> Task:
        config, target = self.config, level["context_tokens"]
        head, tail, inserts, extra = self._question_parts(level, item, rng)
        own = [(p.title, p.text) for p in item.paragraphs if p.text]
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
                self.counter, self.pool, rng, system=config.system_prompt, head=head,
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
            if (1 - config.tolerance) * target <= exact <= target:
                break
            budget += target - exact  # the count's offset carries over to a rebuilt context
        else:
            raise RuntimeError(
                f"{self.name}: could not fit {target} tokens with tokenizer {config.tokenizer}; "
                "its counts are not additive: set verify_token_count=always and report it"
            )
        supporting = [p.is_supporting for p in item.paragraphs if p.text]
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
            reward="qa_two_way_substring",
            meta=json.dumps(meta, ensure_ascii=False),
        )


class KeyChainGenerator(MultiHopGenerator):
    """LoongRL's KeyChain: follow a chain of keys to the true question, then answer it."""

    name = "keychain"
    config_class = KeyChainConfig
    level_class = KeyChainLevel

    def axes(self) -> list[Axis]:
        axes = super().axes() + [Axis("num_chains", self.config.num_chains_values)]
        if self.config.keys_per_chain_values is not None:
            axes.append(Axis("keys_per_chain", self.config.keys_per_chain_values))
        return axes

    def _question_parts(self, level, item, rng) -> tuple[str, str, list[str], dict[str, Any]]:
        config = self.config
        num_chains = level["num_chains"]
        keys_per_chain = level.get("keys_per_chain", config.keys_per_chain)
        questions = [item.question]
        for other in lazy_permutation(rng, len(self.items)):
            if len(questions) == num_chains:
                break
            question = self.items[other].question
            if question not in questions:
                questions.append(question)
        if len(questions) < num_chains:
            raise ValueError(
                f"keychain: num_chains={num_chains} needs that many distinct questions; the "
                f"source has {len(questions)}"
            )
        chains, pairs = draw_chains(rng, questions, keys_per_chain, config.key_format)
        tail = KEYCHAIN_TAIL.format(kind=KEY_KINDS[config.key_format], start_key=chains[0][0])
        meta = {
            "start_key": chains[0][0],
            "chains": chains,
            "chain_questions": questions,
            "keys_per_chain": keys_per_chain,
            "key_format": config.key_format,
        }
        return KEYCHAIN_HEAD, tail, pairs, meta

    def _make(self, level: dict[str, int], item, rng: random.Random, task_id: str) -> Task:
        task = super()._make(level, item, rng, task_id)
        content, chains = task.prompt[-1]["content"], task.meta_dict()["chains"]
        for chain_number, chain in enumerate(chains):
            for position, key in enumerate(chain):
                # A key is written as its pair's key and as the previous pair's value; the
                # start key once more in the instructions.
                want = (1 if position == 0 else 2) + (chain_number == 0 and position == 0)
                if content.count(key) != want:
                    raise KeyCollision(key)
        return task
