"""keychain: LoongRL's KeyChain long-context QA, built on the multihop context (synth/multihop.py).

KeyChain (LoongRL, 2025): a multi-hop question is hidden at the end of a chain of key-value
pairs, ` {"k1": "k2"}.`, each written after a random sentence end of the documents: the
item's own paragraphs plus filler up to `context_tokens`. Chain 0 runs k1 -> ... -> kK -> the
true question; chains 1..n-1 end in questions of other items (of the same held-out part). The
model gets k1, follows the chain, finds the question, then answers it from the documents.

Level axes: context_tokens, num_chains; `keys_per_chain` is a config value and becomes a third
axis when `keys_per_chain_values` is set. Key format and placement are config values (level
values are integers).

Departures from LoongRL's scripts: keys come from the seeded RNG (the same seed, level and
index give the same record); the budget and placement are multihop's (synth/multihop.py).

Make a dataset: `python -m synth keychain --source hotpotqa:PATH --context-tokens 16384
--num-chains 16 --n 500 --seed 0 --out DIR` (flags from the config and level models).
"""

from __future__ import annotations

import json
import random
import string
import uuid
from typing import Any, Literal

from pydantic import Field

from synth.base import Axis
from synth.multihop import MultiHopConfig, MultiHopGenerator, MultiHopLevel, SkipItem
from synth.task import Task
from synth.token_budget import lazy_permutation

KEYCHAIN_HEAD = "Please read the following text."
KEYCHAIN_TAIL = (
    "In the context above, there is one correct question to answer. The correct question can "
    "only be found by following the correct consecutive chain of key:value pairs encoded with "
    '{kind} strings, starting from "{start_key}". Find the correct question first, then '
    "answer it."
)
KEY_KINDS = {"uuid4": "UUID", "hex8": "8-digit hexadecimal", "letters32": "32-letter"}


class KeyChainConfig(MultiHopConfig):
    num_chains_values: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    """The num_chains axis (the true chain plus distractors), easiest first."""
    keys_per_chain: int = Field(4, ge=1)
    """Keys in each chain; the last key's value is a question."""
    keys_per_chain_values: tuple[int, ...] | None = None
    """When set, keys_per_chain becomes a third level axis with these values."""
    key_format: Literal["uuid4", "hex8", "letters32"] = "uuid4"
    """uuid4: 36-char UUIDs; hex8: 8 hex digits; letters32: 32 ASCII letters."""


class KeyChainLevel(MultiHopLevel):
    """One point on keychain's axes (keys_per_chain comes from the config unless
    `keys_per_chain_values` makes it an axis)."""

    num_chains: int = Field(ge=1)
    """Chains of keys in the context: the true one plus num_chains - 1 distractors."""


class KeyCollision(SkipItem):
    """A drawn key also occurs in the document text (possible with short key formats)."""

    reason = "a key occurs in the documents"


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


class KeyChainGenerator(MultiHopGenerator):
    """LoongRL's KeyChain: follow a chain of keys to the true question, then answer it."""

    name = "keychain"
    config_class = KeyChainConfig
    level_class = KeyChainLevel
    description = (
        "LoongRL's KeyChain: a multi-hop question hidden at the end of a chain of key-value "
        "pairs scattered through a long context (the item's passages plus filler up to "
        "`context_tokens` tokens), among `num_chains - 1` distractor chains that end in other "
        "questions. The model starts from the first key, follows the chain to the true "
        "question, then answers it from the documents (two-way substring reward). `meta` "
        "holds the chains, the start key and the exact prompt token count."
    )
    tags = ("long-context", "multi-hop", "reasoning", "keychain")

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
