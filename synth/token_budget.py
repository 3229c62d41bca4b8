"""Exact prompt token counts built from per-document counts, and filling a prompt to a budget.

A long-context prompt is `prefix + Σ (header_i + body_i) + suffix`, with
`header_i = "\\n\\nPassage {i}:\\n"` and `body_i = "{title}\\n{text}"` (no outer whitespace).
A body's count is taken *in context*: `tok(":\\n" + body + "\\n\\nPassage")` minus the two
sentinels' own counts, so that whatever the tokenizer does at a body's edges (a GPT-2 style
pre-tokenizer splits there; Llama 3 and Qwen fold punctuation into the following newlines)
is counted once. Text inserted inside a body (a key-value pair after a sentence end) costs
`tok(left + insert + right) - tok(left + right)` on windows of `window_chars` each side: a
bounded correction that never looks at the rest of the prompt. The prompt total is then a sum,
and filler documents are counted once per corpus and cached; nothing re-tokenises the whole
context in a loop. `prompt_tokens` tokenises a finished prompt once, to check the sum.

Simplification: the sum is exact when the tokenizer's behaviour at a junction depends only on
the sentinels and windows (true of byte-level BPE with regex pre-tokenizers, e.g. SmolLM2,
Llama 3, Qwen). Generators check it with `prompt_tokens` and correct any difference.
"""

from __future__ import annotations

import functools
import itertools
import logging
import random
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

BODY_LEFT = ":\n"  # the end of every header line
BODY_RIGHT = "\n\nPassage"  # the start of every next header
CHUNK = 64  # filler documents counted per batch, on first use


def passage_header(number: int) -> str:
    return f"\n\nPassage {number}:\n"


@functools.lru_cache(maxsize=4)
def load_counting_tokenizer(name: str):
    """The tokenizer of model `name` ("embedded", "tiny", a path or a Hub id), fast only."""
    from transformers import AutoTokenizer

    from models import resolve_model

    tokenizer = AutoTokenizer.from_pretrained(resolve_model(name))
    if getattr(tokenizer, "backend_tokenizer", None) is None:
        raise ValueError(f"tokenizer {name!r} has no fast (Rust) backend; token budgets need one")
    # This copy only counts tokens and is never fed to the model, so prompts longer than the
    # model's context are expected: lift the limit that triggers the per-call length warning.
    tokenizer.model_max_length = sys.maxsize
    return tokenizer


class TokenCounter:
    """Token counts with one tokenizer's Rust backend, no special tokens added (a chat
    template writes them as text)."""

    def __init__(self, tokenizer, window_chars: int = 48):
        self.tokenizer = tokenizer
        self._backend = tokenizer.backend_tokenizer
        self.window_chars = window_chars
        self._left, self._right = self.counts([BODY_LEFT, BODY_RIGHT])
        self._header_totals = [0]  # [n] = tokens of headers 1..n

    def counts(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        return [
            len(e.ids) for e in self._backend.encode_batch(list(texts), add_special_tokens=False)
        ]

    def count(self, text: str) -> int:
        return len(self._backend.encode(text, add_special_tokens=False).ids)

    def bodies(self, bodies: Sequence[str]) -> list[int]:
        """In-context counts of document bodies (see the module docstring)."""
        wrapped = [BODY_LEFT + body + BODY_RIGHT for body in bodies]
        return [n - self._left - self._right for n in self.counts(wrapped)]

    def prefix(self, text: str) -> int:
        """Tokens of the prompt's start, followed by the first header."""
        return self.count(text + BODY_RIGHT) - self._right

    def headers(self, number_of_documents: int) -> int:
        """Tokens of headers 1..n together."""
        totals = self._header_totals
        if number_of_documents >= len(totals):
            numbers = range(len(totals), max(number_of_documents + 1, 2 * len(totals)))
            for tokens in self.counts([passage_header(i) for i in numbers]):
                totals.append(totals[-1] + tokens)
        return totals[number_of_documents]

    def insertion_costs(self, insertions: Sequence[tuple[str, int, str]]) -> list[int]:
        """Tokens that each (body, char offset, text) insertion adds to its body's count.

        Offsets in one body must lie at least 2 * window_chars apart so that windows never
        overlap; all windows are tokenised in one batch.
        """
        window = self.window_chars
        texts = []
        for body, offset, text in insertions:
            wrapped = BODY_LEFT + body + BODY_RIGHT
            at = offset + len(BODY_LEFT)
            left, right = wrapped[max(0, at - window) : at], wrapped[at : at + window]
            texts += [left + text + right, left + right]
        counts = self.counts(texts)
        return [
            with_text - without
            for with_text, without in zip(counts[::2], counts[1::2], strict=True)
        ]

    def cut(self, body: str, max_tokens: int, keep_chars: int) -> tuple[str, int] | None:
        """The longest prefix of `body` ended at a word boundary whose in-context count is at
        most max_tokens, with that count; None when it would keep `keep_chars` chars or fewer."""
        encoding = self._backend.encode(BODY_LEFT + body, add_special_tokens=False)
        end_token = self._left + max_tokens
        if len(encoding.ids) <= end_token and (whole := self.bodies([body])[0]) <= max_tokens:
            return body, whole
        limit = encoding.offsets[min(end_token, len(encoding.ids) - 1)][0] - len(BODY_LEFT)
        for _ in range(8):  # each round cuts one word more; two rounds are the usual worst
            limit = body.rfind(" ", 0, limit)
            if limit <= keep_chars:
                return None
            piece = body[:limit].rstrip()
            if (tokens := self.bodies([piece])[0]) <= max_tokens:
                return piece, tokens
        return None

    def prompt_tokens(self, messages: list[dict[str, str]]) -> int:
        """A full tokenisation of the chat prompt, as a model would receive it."""
        text = self.tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=False
        )
        return self.count(text)


def lazy_permutation(rng: random.Random, n: int) -> Iterator[int]:
    """A uniform random permutation of range(n), drawn one element at a time (O(k) for k)."""
    displaced: dict[int, int] = {}
    for i in range(n):
        j = rng.randrange(i, n)
        yield displaced.get(j, j)
        displaced[j] = displaced.get(i, i)


@dataclass
class FillerPool:
    """Filler documents as bodies, with in-context counts cached on first use."""

    documents: list[tuple[str, str]]
    counter: TokenCounter
    bodies: list[str] = field(init=False)
    titles: list[str] = field(init=False)
    _tokens: list[int] = field(init=False)

    def __post_init__(self) -> None:
        self.bodies = [f"{title}\n{text}" for title, text in self.documents]
        self.titles = [title for title, _ in self.documents]
        self._tokens = [-1] * len(self.bodies)

    def __len__(self) -> int:
        return len(self.bodies)

    def draw(self, rng: random.Random, exclude_titles: set[str]) -> Iterator[tuple[int, int]]:
        """(index, tokens) of documents in random order, counting each chunk on first use."""
        order = (
            i for i in lazy_permutation(rng, len(self)) if self.titles[i] not in exclude_titles
        )
        while chunk := [i for _, i in zip(range(CHUNK), order, strict=False)]:
            missing = [i for i in chunk if self._tokens[i] < 0]
            for i, tokens in zip(
                missing, self.counter.bodies([self.bodies[i] for i in missing]), strict=True
            ):
                self._tokens[i] = tokens
            yield from ((i, self._tokens[i]) for i in chunk)

    def count_all(self) -> None:
        """Count every document now (a dataset run pays this once instead of per record)."""
        missing = [i for i, tokens in enumerate(self._tokens) if tokens < 0]
        for start in range(0, len(missing), 1024):
            part = missing[start : start + 1024]
            for i, tokens in zip(
                part, self.counter.bodies([self.bodies[i] for i in part]), strict=True
            ):
                self._tokens[i] = tokens


@dataclass
class Fill:
    """Whole filler documents for one prompt, and the first one that did not fit."""

    indices: list[int]
    tokens: list[int]
    overflow: int | None


def fill_whole(
    draws: Iterator[tuple[int, int]], available: int, documents_before: int, counter: TokenCounter
) -> Fill:
    """Whole filler documents (with their headers) while they fit in `available` tokens."""
    fill = Fill([], [], None)
    spent = 0
    for index, tokens in draws:
        number = documents_before + len(fill.indices) + 1
        header = counter.headers(number) - counter.headers(number - 1)
        if spent + header + tokens > available:
            fill.overflow = index
            break
        fill.indices.append(index)
        fill.tokens.append(tokens)
        spent += header + tokens
    return fill


# ---------------------------------------------------------------- one prompt at a budget

DOCUMENTS_MARKER = "\x00longhorizon-documents\x00"
SENTENCE_END = re.compile(r"[.!?][\"'\u201d\u2019)\]]*(?=\s|$)")


MIN_SLACK_TOKENS = 32  # a passage header and a title: what a cut document cannot go below


def lowest_fill(target: int, tolerance: float) -> float:
    """The fewest tokens a prompt for `target` may hold: `tolerance` below it, but never less
    than MIN_SLACK_TOKENS below (1 % of a 1,024-token budget is shorter than one header)."""
    return target - max(tolerance * target, MIN_SLACK_TOKENS)


class ItemTooLong(ValueError):
    """The item's own documents alone do not fit the budget (a counted skip, not an error)."""

    def __init__(self, tokens: int) -> None:
        super().__init__(f"own documents take {tokens} tokens")
        self.tokens = tokens


class NoInsertionPoints(ValueError):
    """Too few sentence ends in the documents for the inserts (a counted skip, not an error)."""


@dataclass
class Context:
    messages: list[dict[str, str]]
    prompt_tokens: int
    """The incremental count of the whole chat prompt (template, system, instructions)."""
    own_passages: list[int]
    """Passage numbers (1-based) of the item's own documents, in the item's order."""
    num_passages: int


def _insertion_points(
    rng: random.Random, bodies: list[str], starts: list[int], count: int, spacing: int
) -> list[tuple[int, int]]:
    """`count` distinct (document, char offset) sentence ends, documents drawn by length,
    offsets in one document at least `spacing` chars apart."""
    if not bodies:  # a budget too small for any document: nothing to insert into
        raise NoInsertionPoints(f"no documents to insert {count} items into")
    chosen: dict[int, list[int]] = {}
    cumulative = list(itertools.accumulate(len(body) for body in bodies))
    points: list[tuple[int, int]] = []
    for _ in range(50 * count + 50):
        if len(points) == count:
            return points
        doc = rng.choices(range(len(bodies)), cum_weights=cumulative)[0]
        taken = chosen.setdefault(doc, [])
        ends = [
            m.end()
            for m in SENTENCE_END.finditer(bodies[doc], starts[doc])
            if all(abs(m.end() - t) >= spacing for t in taken)
        ]
        if ends:
            offset = rng.choice(ends)
            taken.append(offset)
            points.append((doc, offset))
    raise NoInsertionPoints(f"found only {len(points)} free sentence ends for {count} insertions")


def _place(rng: random.Random, own: int, filler: int, placement: str, sigma: float) -> list[int]:
    """The order of documents 0..own+filler-1 (own ones first in the input)."""
    if placement == "uniform":
        order = list(range(own + filler))
        rng.shuffle(order)
        return order
    fillers = list(range(own, own + filler))
    rng.shuffle(fillers)
    # Own documents gather around the middle (LoongRL's later data): slot ~ N(0.5, sigma).
    slots = sorted(
        (round(min(max(rng.gauss(0.5, sigma), 0.0), 1.0) * filler), i) for i in range(own)
    )
    order, taken = [], 0
    for slot, i in slots:
        order += fillers[taken:slot] + [i]
        taken = max(taken, slot)
    return order + fillers[taken:]


def _insert(
    counter: TokenCounter,
    rng: random.Random,
    bodies: list[str],
    tokens: list[int],
    inserts: list[str],
) -> set[int]:
    """Write `inserts` after random sentence ends of `bodies` (in place), add their token
    costs to `tokens`, and return the documents that received one."""
    starts = [len(body.split("\n", 1)[0]) + 1 for body in bodies]  # after the title line
    points = _insertion_points(rng, bodies, starts, len(inserts), 2 * counter.window_chars)
    costs = counter.insertion_costs(
        [(bodies[doc], offset, text) for (doc, offset), text in zip(points, inserts, strict=True)]
    )
    by_document: dict[int, list[tuple[int, str]]] = {}
    for (doc, offset), text, cost in zip(points, inserts, costs, strict=True):
        by_document.setdefault(doc, []).append((offset, text))
        tokens[doc] += cost
    for doc, doc_inserts in by_document.items():
        for offset, text in sorted(doc_inserts, reverse=True):  # later offsets stay valid
            bodies[doc] = bodies[doc][:offset] + text + bodies[doc][offset:]
    return set(by_document)


def build_context(
    counter: TokenCounter,
    pool: FillerPool,
    rng: random.Random,
    *,
    system: str,
    head: str,
    tail: str,
    own: list[tuple[str, str]],
    inserts: list[str],
    target: int,
    tolerance: float,
    placement: str = "uniform",
    sigma: float = 0.3,
) -> Context:
    """A [system, user] prompt `head + passages + "\\n\\n" + tail` whose token count lies in
    [lowest_fill(target, tolerance), target]; `inserts` go after distinct random sentence
    ends."""
    skeleton = [
        {"role": "system", "content": system},
        {"role": "user", "content": head + DOCUMENTS_MARKER + "\n\n" + tail},
    ]
    rendered = counter.tokenizer.apply_chat_template(
        skeleton, add_generation_prompt=True, tokenize=False
    )
    prefix, suffix = rendered.split(DOCUMENTS_MARKER)
    fixed = counter.prefix(prefix) + counter.count(suffix)
    reserve = sum(counter.counts(inserts)) + 2 * len(inserts)
    if fixed + reserve >= target:
        raise ValueError(
            f"context_tokens={target} cannot hold the instructions and {len(inserts)} key-value "
            f"pairs ({fixed + reserve} tokens): raise context_tokens or lower num_chains"
        )
    bodies = [f"{title}\n{text}" for title, text in own]
    tokens = counter.bodies(bodies)
    spent = fixed + counter.headers(len(bodies)) + sum(tokens)
    if spent + reserve > target:
        raise ItemTooLong(spent - fixed)
    draws = pool.draw(rng, {title for title, _ in own})
    fill = fill_whole(draws, target - spent - reserve, len(bodies), counter)
    bodies += [pool.bodies[i] for i in fill.indices]
    tokens += fill.tokens
    with_inserts = _insert(counter, rng, bodies, tokens, inserts)

    def total() -> int:
        return fixed + counter.headers(len(bodies)) + sum(tokens)

    returned = []  # whole fillers given back when the pairs cost more than reserved
    while total() > target and len(bodies) > len(own) and len(bodies) - 1 not in with_inserts:
        returned.append(fill.indices[len(bodies) - len(own) - 1])
        bodies.pop(), tokens.pop()
    overflow = [] if fill.overflow is None else [fill.overflow]
    candidates = itertools.chain(returned[::-1], overflow, (index for index, _ in draws))
    for index in itertools.islice(candidates, 64):
        # Top up with documents that fit whole, and end with one cut at a word boundary.
        room = target - total() - (counter.headers(len(bodies) + 1) - counter.headers(len(bodies)))
        title_chars = len(pool.titles[index]) + 1
        cut = counter.cut(pool.bodies[index], room, title_chars) if room > 0 else None
        if cut is None:
            break
        bodies.append(cut[0])
        tokens.append(cut[1])
        if cut[0] != pool.bodies[index]:
            break
    prompt_tokens = total()
    if not lowest_fill(target, tolerance) <= prompt_tokens <= target:
        raise ValueError(
            f"prompt holds {prompt_tokens} tokens for a target of {target} (filler has "
            f"{len(pool)} documents): give a larger filler corpus or lower context_tokens"
        )
    order = _place(rng, len(own), len(bodies) - len(own), placement, sigma)
    passages = "".join(passage_header(n) + bodies[doc] for n, doc in enumerate(order, 1))
    number_of = {doc: n for n, doc in enumerate(order, 1)}
    messages = [skeleton[0], {"role": "user", "content": head + passages + "\n\n" + tail}]
    return Context(messages, prompt_tokens, [number_of[i] for i in range(len(own))], len(bodies))
