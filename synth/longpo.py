"""longpo: short-to-long preference pairs from long documents (LongPO, ICLR 2025).

A long document x_L is cut into chunks of whole paragraphs. For each chunk the short model
writes 4 questions ("1:" .. "4:"); one is kept, prefixed with a phrase such as "Based on the
preceding descriptions,". The chosen answer y_S is the short model's answer given that chunk
alone (x_S); the rejected y_L is its answer given the whole document. Several turns per
document form one multi-turn pair (the released code keeps 2). Level axis: chunk_tokens.

    python -m synth longpo --source ../shared/data/prose/gutenberg_paragraphs.jsonl \
        --text-group-by book_id --chunk-tokens 512 --n 32 --seed 0 --out data/longpo-512

Every model call goes through the `complete` function the caller passes (the Ray rollout pool,
see rl/completions.py), batched over many documents. Filters count what they drop and why
(`summary()`): chunks whose questions do not parse into exactly 4, empty chosen answers, and
rejected answers that are empty, meaningless (under half of their words unique, or fewer than
two words of 3+ letters) or refusals. Records (synth/preference.py) carry the long prompt, each
turn's short prompt, chunk offsets into the long prompt (each short prompt's chunk is a verbatim
slice of it: `verify_pair`) and exact token counts with the configured tokenizer.

Departures from the released code: chunks are 1x to `max_chunk_factor`x chunk_tokens instead of
16,384-30,000 tokens (the level sets the size); answers are sampled at T=0 (the paper's greedy;
the code samples at T=1.0); a paragraph longer than a chunk is split at sentence ends (the code
never meets one at its sizes); the short model's RoPE scaling is left to the model option.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Callable
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from synth.base import Axis, check_level
from synth.documents import Document, load_documents
from synth.preference import PreferencePair

QUERY_PROMPT = (
    "Please generate 4 comprehensive English questions that test a reader's comprehension, "
    "analytical skills, and ability to extract and interconnect key themes of the context "
    "above. Format them from \u201c1:\u201d to \u201c4:\u201d, one question per line."
)
PHRASES = (
    "Based on the preceding descriptions,", "As described in the preceding text,",
    "According to the text above,", "Referring to the passage above,",
    "Given the context above,", "From the preceding text,", "In light of the text above,",
    "Considering the passage above,", "Drawing on the preceding text,",
    "With reference to the above passage,", "Based on the passage above,",
    "As the preceding text describes,", "Following the text above,",
    "Relying on the preceding passage,", "As stated in the text above,",
    "Taking the preceding text into account,", "Based on what is written above,",
    "As the passage above explains,", "According to the preceding passage,",
    "Using the text above,",
)  # fmt: skip
REFUSALS = (
    "i'm sorry", "i am sorry", "i apologize", "as an ai", "i cannot", "i can't", "i can not",
    "i'm not able", "i am not able", "i'm unable", "i am unable", "cannot answer",
    "can't answer", "not possible to answer", "does not provide", "doesn't provide",
    "does not mention", "doesn't mention", "no information", "not mentioned",
    "is not specified", "not enough information",
)  # fmt: skip
QUESTION_LINE = re.compile(r"^\s*(?:Q(?:uestion)?\s*)?([1-4])\s*[:.)]\s*(.+?)\s*$", re.MULTILINE)
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


class LongPOConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    source: str = "hub:emozilla/pg19"
    """Long documents: a folder of .txt files, a JSONL with a `text` field, a saved dataset or
    hub:ID[:CONFIG][@SPLIT] (synth/documents.py)."""
    text_group_by: str | None = None
    """Rows sharing this field make one document, in order (e.g. `book_id` for paragraphs)."""
    tokenizer: str = "embedded"
    """Whose tokens chunk sizes and counts are in: embedded, tiny, a path or a Hub id."""
    chunk_tokens_values: tuple[int, ...] = (256, 512, 1024, 2048, 4096, 8192, 16384)
    """The chunk_tokens axis, easiest (shortest documents) first."""
    max_chunk_factor: float = Field(1.9, gt=1)
    """A chunk holds whole paragraphs, from chunk_tokens up to this factor times it."""
    chunks_per_document: int = Field(4, ge=1)
    """Chunks in one long document x_L (the paper: at most 4)."""
    turns: int = Field(2, ge=1)
    """Questions (turns) per pair, each about another chunk (the released code: 2)."""
    question_temperature: float = Field(0.7, ge=0)
    """Sampling of the question-writing call (the paper: T 0.7, top-p 0.9)."""
    question_top_p: float = Field(0.9, gt=0, le=1)
    """Nucleus mass of the question-writing call."""
    question_max_tokens: int = Field(512, ge=16)
    """Most tokens for the four questions."""
    answer_temperature: float = Field(0.0, ge=0)
    """Sampling of both answers (0: greedy, as the paper)."""
    answer_max_tokens: int = Field(512, ge=1)
    """Most tokens per answer."""
    min_unique_word_ratio: float = Field(0.5, ge=0, le=1)
    """A rejected answer with a smaller share of unique words is dropped as meaningless."""
    batch_documents: int = Field(16, ge=1)
    """Documents handled per round of model calls."""
    system_prompt: str | None = None
    """An optional system message before every prompt."""

    def model_post_init(self, _: Any) -> None:
        if self.turns > self.chunks_per_document:
            raise ValueError(
                f"turns={self.turns} > chunks_per_document={self.chunks_per_document}: each turn "
                "asks about another chunk; lower turns or raise chunks_per_document"
            )


class LongPOLevel(BaseModel):
    """One point on longpo's axis."""

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    chunk_tokens: int = Field(ge=16)
    """Tokens per chunk (the short context); the long document holds chunks_per_document."""


def chunk_document(
    document: Document, count: Callable[[str], int], low: int, high: int
) -> list[str]:
    """Consecutive chunks of whole paragraphs holding [low, high) tokens each; a paragraph of
    `high` tokens or more is split at sentence ends first; the short tail is dropped."""
    pieces: list[tuple[str, int]] = []
    for paragraph in document.paragraphs:
        tokens = count(paragraph)
        if tokens < high:
            pieces.append((paragraph, tokens))
            continue
        for sentence in SENTENCE_END.split(paragraph):  # a paragraph longer than a chunk
            pieces.append((sentence, count(sentence)))
    chunks, current, size = [], [], 0
    for text, tokens in pieces:
        if tokens >= high:  # one sentence longer than a chunk: start over after it
            current, size = [], 0
            continue
        if size + tokens >= high:
            current, size = [], 0
        current.append(text)
        size += tokens
        if size >= low:
            chunks.append("\n\n".join(current))
            current, size = [], 0
    return chunks


def parse_questions(text: str) -> list[str] | None:
    """The four questions of a "1: ... 4: ..." answer, or None when it is not exactly that."""
    found = {int(number): question for number, question in QUESTION_LINE.findall(text)}
    if sorted(found) != [1, 2, 3, 4] or len(QUESTION_LINE.findall(text)) != 4:
        return None
    return [found[number] for number in (1, 2, 3, 4)]


def rejected_problem(text: str, min_unique_ratio: float) -> str | None:
    """Why a rejected answer is dropped (empty, meaningless, a refusal), or None to keep it."""
    words = text.split()
    if not words:
        return "rejected answer empty"
    if len({w.lower() for w in words}) / len(words) < min_unique_ratio:
        return "rejected answer repetitive"
    if sum(len(w.strip(".,;:!?\"'")) >= 3 for w in words) < 2:
        return "rejected answer meaningless"
    lowered = text.lower()
    if any(phrase in lowered for phrase in REFUSALS):
        return "rejected answer a refusal"
    return None


def verify_pair(pair: PreferencePair) -> None:
    """Raise ValueError unless each short prompt's chunk is a verbatim slice of the long prompt
    at the recorded offsets."""
    meta, long_text = pair.meta_dict(), pair.prompt[-1]["content"]
    for turn, (start, end) in enumerate(meta["chunk_spans"]):
        chunk = long_text[start:end]
        short = pair.short_prompts[turn][-1]["content"]
        if not chunk or not short.startswith(chunk + "\n\n"):
            raise ValueError(
                f"{pair.id}: turn {turn}'s chunk is not the long prompt's [{start}:{end}]"
            )


class LongPOGenerator:
    """Short-to-long preference pairs; needs a model (`complete`) to write questions and answers."""

    name = "longpo"
    config_class = LongPOConfig
    level_class = LongPOLevel
    needs_model = True

    def __init__(
        self, config: LongPOConfig | None = None, complete: Callable | None = None, **fields: Any
    ) -> None:
        self.config = config if config is not None else LongPOConfig(**fields)
        self.complete = complete
        self.skipped: Counter = Counter()
        """Turns and pairs dropped while sampling, by reason."""
        self._windows: dict[int, list[tuple[str, int, list[str]]]] = {}

    def axes(self) -> list[Axis]:
        return [Axis("chunk_tokens", self.config.chunk_tokens_values)]

    @cached_property
    def documents(self):
        return load_documents(self.config.source, self.config.text_group_by)

    @cached_property
    def counter(self):
        from synth.token_budget import TokenCounter, load_counting_tokenizer

        return TokenCounter(load_counting_tokenizer(self.config.tokenizer))

    def summary(self) -> str:
        dropped = ", ".join(f"{n} {why}" for why, n in self.skipped.items()) or "none"
        return f"longpo source {self.config.source}: {self.documents.summary()}; dropped: {dropped}"

    def windows(self, chunk_tokens: int) -> list[tuple[str, int, list[str]]]:
        """(document id, window, its chunks): every run of chunks_per_document chunks."""
        if chunk_tokens not in self._windows:
            per = self.config.chunks_per_document
            high = int(chunk_tokens * self.config.max_chunk_factor)
            found = []
            for document in self.documents.documents:
                chunks = chunk_document(document, self.counter.count, chunk_tokens, high)
                found += [
                    (document.id, w, chunks[w * per : (w + 1) * per])
                    for w in range(len(chunks) // per)
                ]
            if not found:
                raise ValueError(
                    f"longpo: no document of {self.config.source} holds {per} chunks of "
                    f"{chunk_tokens}-{high} tokens ({self.documents.summary()}): use longer "
                    "documents, a smaller chunk_tokens or fewer chunks_per_document"
                )
            self._windows[chunk_tokens] = found
        return self._windows[chunk_tokens]

    def sample(self, level: dict[str, int], n: int, seed: int) -> list[PreferencePair]:
        check_level(self, level)
        if self.complete is None:
            raise ValueError("longpo needs a model: build it with complete=<a completion function>")
        chunk_tokens = level["chunk_tokens"]
        windows = self.windows(chunk_tokens)
        order = list(range(len(windows)))
        random.Random(f"longpo/{seed}/{chunk_tokens}").shuffle(order)
        pairs: list[PreferencePair] = []
        size = self.config.batch_documents
        for round_, start in enumerate(range(0, len(order), size)):
            if len(pairs) >= n:
                break
            batch = [windows[i] for i in order[start : start + size]]
            pairs += self._round(batch, chunk_tokens, seed, round_, len(pairs))
        if len(pairs) < n:
            raise ValueError(
                f"longpo: only {len(pairs)} of {n} pairs from {len(windows)} documents at "
                f"chunk_tokens={chunk_tokens} ({self.summary()})"
            )
        return pairs[:n]

    # ------------------------------------------------------------ one round of model calls
    def _messages(self, user: str) -> list[dict[str, str]]:
        messages = [{"role": "user", "content": user}]
        if self.config.system_prompt:
            messages.insert(0, {"role": "system", "content": self.config.system_prompt})
        return messages

    def _questions(self, batch, chunk_tokens: int, seed: int, round_: int) -> list[list]:
        """Per window, its turns: (chunk index, phrase, question), after the question filter."""
        config, plans = self.config, []
        for document_id, window, _ in batch:
            rng = random.Random(f"longpo/{seed}/{chunk_tokens}/{document_id}/{window}")
            plans.append((rng, sorted(rng.sample(range(config.chunks_per_document), config.turns))))
        prompts = [
            self._messages(f"Context:\n{chunks[i]}\n\n{QUERY_PROMPT}")
            for (_, _, chunks), (_, picks) in zip(batch, plans, strict=True)
            for i in picks
        ]
        sampling = {"n": 1, "temperature": config.question_temperature, "top_p": config.question_top_p,
                    "max_tokens": config.question_max_tokens, "seed": seed * 1000 + 2 * round_}  # fmt: skip
        outputs = iter(self.complete(prompts, sampling))
        turns = []
        for rng, picks in plans:
            kept = []
            for index in picks:
                questions = parse_questions(next(outputs)[0])
                if questions is None:
                    self.skipped["questions did not parse into 4"] += 1
                    continue
                kept.append((index, rng.choice(PHRASES), rng.choice(questions)))
            turns.append(kept)
        return turns

    def _round(self, batch, chunk_tokens: int, seed: int, round_: int, first_index: int) -> list:
        turns = self._questions(batch, chunk_tokens, seed, round_)
        short, long = [], []
        for (_, _, chunks), kept in zip(batch, turns, strict=True):
            document = "\n\n\n".join(chunks)
            for index, phrase, question in kept:
                short.append(self._messages(f"{chunks[index]}\n\n{phrase} {question}"))
                long.append(self._messages(f"{document}\n\n{phrase} {question}"))
        sampling = {"n": 1, "temperature": self.config.answer_temperature,
                    "max_tokens": self.config.answer_max_tokens, "seed": seed * 1000 + 2 * round_ + 1}  # fmt: skip
        answers = iter(self.complete(short + long, sampling))
        chosen = [next(answers)[0].strip() for _ in short]
        rejected = [next(answers)[0].strip() for _ in long]
        pairs, cursor = [], 0
        for (document_id, window, chunks), kept in zip(batch, turns, strict=True):
            good = []
            answered = zip(
                chosen[cursor : cursor + len(kept)],
                rejected[cursor : cursor + len(kept)],
                strict=True,
            )
            for turn, (y_short, y_long) in zip(kept, answered, strict=True):
                why = "chosen answer empty" if not y_short else rejected_problem(
                    y_long, self.config.min_unique_word_ratio)  # fmt: skip
                if why:
                    self.skipped[why] += 1
                else:
                    good.append((*turn, y_short, y_long))
            cursor += len(kept)
            if not good:
                self.skipped["document left without a turn"] += 1
                continue
            index = first_index + len(pairs)
            pairs.append(self._pair(document_id, window, chunks, good, chunk_tokens, seed, index))
        return pairs

    def _pair(
        self, document_id, window, chunks, turns, chunk_tokens, seed, index
    ) -> PreferencePair:
        document = "\n\n\n".join(chunks)
        starts = [sum(len(c) + 3 for c in chunks[:i]) for i in range(len(chunks))]
        first = turns[0]
        prompt = self._messages(f"{document}\n\n{first[1]} {first[2]}")
        chosen, rejected = [], []
        for number, (_, phrase, question, y_short, y_long) in enumerate(turns):
            if number:
                chosen.append({"role": "user", "content": f"{phrase} {question}"})
                rejected.append({"role": "user", "content": f"{phrase} {question}"})
            chosen.append({"role": "assistant", "content": y_short})
            rejected.append({"role": "assistant", "content": y_long})
        short_prompts = [self._messages(f"{chunks[i]}\n\n{p} {q}") for i, p, q, *_ in turns]
        count = self.counter
        meta = {
            "source": self.config.source,
            "document_id": document_id,
            "window": window,
            "chunk_indices": [turn[0] for turn in turns],
            "chunk_spans": [[starts[i], starts[i] + len(chunks[i])] for i, *_ in turns],
            "chunk_tokens": [count.count(chunks[i]) for i, *_ in turns],
            "document_tokens": count.count(document),
            "prompt_tokens": count.prompt_tokens(prompt),
            "short_prompt_tokens": [count.prompt_tokens(p) for p in short_prompts],
            "questions": [turn[2] for turn in turns],
            "tokenizer": self.config.tokenizer,
        }
        return PreferencePair(
            id=f"longpo-c{chunk_tokens}-s{seed}-{index}",
            task="longpo",
            level={"chunk_tokens": chunk_tokens},
            prompt=prompt,
            chosen=chosen,
            rejected=rejected,
            short_prompts=short_prompts,
            meta=json.dumps(meta, ensure_ascii=False),
        )
