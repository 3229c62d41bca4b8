"""Self-Lengthen's text rules: word counts, the quality filter, length-biased sampling, paragraph
splits for the extender, the acceptance rule and the extender's line-dropped training input.

All pure functions of their inputs (and a `random.Random` where they draw), so the generator
(synth/self_lengthen.py) stays about model calls and bookkeeping. Constants are the released
code's (QwenLM/Self-Lengthen `utils.py`, `step2_ext_responses.py`, `mk_data.py`).
"""

from __future__ import annotations

import random
import re

# CJK ideographs plus CJK and full-width punctuation count one word each (the code's count_words).
_CJK_WORD = re.compile(r"[\u4e00-\u9fff\u3000-\u303f\uff00-\uffef]")
# What a finished text may end with: the Qwen and LLaMA sets less , ; : - (which end nothing).
TERMINAL = frozenset(".!?\"')]}>`。！？”’）】…》」』*")
WORD_NGRAM = 10
"""A repeated run of this many whitespace words rejects a text (the LLaMA variant)."""
CHAR_NGRAM = 13
"""A repeated run of this many characters, ASCII runs merged, rejects a text (the Qwen variant)."""
GROWTH = 1.2
"""An extension is accepted only with more than this many times the initial words."""


def count_words(text: str) -> int:
    """CJK characters and CJK punctuation plus whitespace-separated tokens of the rest.

    >>> count_words("Two words"), count_words("我们用 GPU 训练。")
    (2, 7)
    """
    return len(_CJK_WORD.findall(text)) + len(_CJK_WORD.sub(" ", text).split())


def _repeats(units: list[str], size: int) -> bool:
    seen: set[tuple[str, ...]] = set()
    for start in range(len(units) - size + 1):
        gram = tuple(units[start : start + size])
        if gram in seen:
            return True
        seen.add(gram)
    return False


def char_units(text: str) -> list[str]:
    """The Qwen n-gram units: each non-ASCII character alone, each run of ASCII ones merged."""
    units: list[str] = []
    previous_ascii = False
    for char in text:
        if char.isascii() and previous_ascii:
            units[-1] += char
        else:
            units.append(char)
        previous_ascii = char.isascii()
    return units


def quality_problem(text: str) -> str | None:
    """Why `text` fails the quality filter, or None when it passes: empty, no terminal
    punctuation at the end, a repeated 10-word or 13-character n-gram.

    >>> quality_problem("It ends well."), quality_problem("It trails off")
    (None, 'no terminal punctuation')
    """
    text = text.rstrip()
    if not text:
        return "empty"
    if text[-1] not in TERMINAL:
        return "no terminal punctuation"
    if _repeats(text.split(), WORD_NGRAM):
        return f"repeated {WORD_NGRAM}-word n-gram"
    if _repeats(char_units(text), CHAR_NGRAM):
        return f"repeated {CHAR_NGRAM}-character n-gram"
    return None


def trimmed_to_sentence(text: str) -> str:
    """`text` cut after its last sentence end (terminal punctuation then whitespace): what is
    left of an answer that the token budget cut mid-sentence; '' when there is none."""
    text = text.rstrip()
    for end in range(len(text) - 1, 0, -1):
        if text[end - 1] in TERMINAL and text[end].isspace():
            return text[:end]
    return ""


def keep_probability(index: int, total: int) -> float:
    """P(keep) of the item at sorted position `index` (shortest 0) of `total`: rank = 1 - k/N,
    kept iff U(0,1) > 2 rank^3. The shortest ~21 % (rank > 2^(-1/3)) are always dropped."""
    rank = 1 - index / total
    return max(0.0, 1.0 - 2 * rank**3)


def length_biased_keep(lengths: list[int], rng: random.Random) -> list[bool]:
    """Which items survive the length-biased draw, in input order. Ties share the position of
    the first of them in sorted order, as in the released `drop_short`."""
    first_position: dict[int, int] = {}
    for position, length in enumerate(sorted(lengths)):
        first_position.setdefault(length, position)
    total = len(lengths)
    return [rng.random() > 2 * (1 - first_position[n] / total) ** 3 for n in lengths]


def paragraphs(text: str) -> list[str]:
    """Paragraphs by blank lines; by single newlines when that gives two or fewer."""
    parts = text.split("\n\n")
    return text.split("\n") if len(parts) <= 2 else parts


def former_half(text: str) -> str:
    """The first half of the paragraphs (what the extender expands first); '' for one."""
    parts = paragraphs(text)
    return "\n\n".join(parts[: len(parts) // 2])


def first_two_thirds(text: str) -> str:
    """The first 2/3 of the extender's expanded first half (by blank-line paragraphs): the end
    of an expansion tends to wrap up, and the whole text's continuation follows it."""
    parts = text.split("\n\n")
    return "\n\n".join(parts[: len(parts) * 2 // 3])


def accepted(initial_words: int, extended_words: int, growth: float = GROWTH) -> bool:
    """The extension rule: strictly more than `growth` times the initial words."""
    return extended_words > growth * initial_words


def drop_lines(text: str, rate: float, rng: random.Random) -> str:
    """The extender's training input: each line of `text` dropped with probability `rate`."""
    return "\n".join(line for line in text.split("\n") if rng.random() >= rate)
