"""Reading a completion: its text, the part after `</think>`, its boxed answers, its final answer.

Every function here takes arbitrary model output (huge, binary-looking, unbalanced braces)
and returns in time linear in its length; none raises on a string.

Simplifications: `\\boxed` needs braces (`\\boxed 42` is not read); `\\fbox{}` counts as a box;
nested boxes (`\\boxed{\\boxed{42}}`) are one box whose content is unwrapped to `42`.
"""

from __future__ import annotations

import re
from typing import Any

THINK_CLOSE = "</think>"
# One token stream finds box openings, escaped braces (ignored) and plain braces in one pass.
_BRACE_TOKENS = re.compile(r"\\(?:boxed|fbox)\s*\{|\\[{}]|[{}]")
_HASH_ANSWER = re.compile(r"####[ \t]*([^\n]*)")
_ANSWER_IS = re.compile(r"\bthe\s+(?:final\s+)?answer\s+is\b[ \t:]*([^\n]*)", re.IGNORECASE)
# A box holding more than this many characters is not an answer; it also bounds the work
# spent on one opened box whose closing brace never comes.
MAX_BOX_CHARS = 10_000
_MAX_UNWRAP = 8


def completion_text(completion: Any) -> str:
    """The text of one completion: a string, or TRL chat messages whose assistant contents
    are joined (content may itself be a list of `{"type": "text", "text": ...}` parts).

    >>> completion_text([{"role": "assistant", "content": "The answer is 4."}])
    'The answer is 4.'
    """
    if completion is None:
        return ""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, bytes | bytearray):
        return bytes(completion).decode("utf-8", errors="replace")
    if isinstance(completion, dict):
        completion = [completion]
    if isinstance(completion, list | tuple):
        parts = []
        for message in completion:
            if isinstance(message, dict):
                if message.get("role", "assistant") != "assistant":
                    continue
                parts.append(_content_text(message.get("content")))
            else:
                parts.append(completion_text(message))
        return "\n".join(parts)
    return str(completion)


def completion_texts(completions: Any) -> list[str]:
    """The text of each completion in a batch (None is an empty batch).

    >>> completion_texts(["a", [{"role": "assistant", "content": "b"}]])
    ['a', 'b']
    """
    if completions is None:
        return []
    return [completion_text(completion) for completion in completions]


def _content_text(content: Any) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", "")) if isinstance(part, dict) else str(part) for part in content
        )
    return str(content)


def answer_aliases(answer: Any) -> list[str]:
    """Gold answers as a list of strings: one string, or a list of aliases.

    >>> answer_aliases(["Paris", "paris, France"])
    ['Paris', 'paris, France']
    """
    if answer is None:
        return []
    if isinstance(answer, str):
        return [answer]
    if isinstance(answer, list | tuple):
        return [str(alias) for alias in answer if alias is not None]
    return [str(answer)]


def after_think(text: str) -> str | None:
    """The text after the last `</think>`; None when the completion never closes its thinking.

    >>> after_think("<think>hmm</think> \\\\boxed{4}")
    ' \\\\boxed{4}'
    >>> after_think("no thinking here") is None
    True
    """
    index = text.rfind(THINK_CLOSE)
    if index < 0:
        return None
    return text[index + len(THINK_CLOSE) :]


def boxed_contents(text: str) -> list[str]:
    """The contents of every outermost, balanced `\\boxed{...}` in order, nested boxes unwrapped.

    >>> boxed_contents(r"so \\boxed{\\frac{7}{2}} or \\boxed{\\boxed{42}}")
    ['\\\\frac{7}{2}', '42']
    """
    found: list[str] = []
    stack: list[tuple[bool, int]] = []  # (opens a box, where its content starts)
    boxes_open = 0
    for token in _BRACE_TOKENS.finditer(text):
        lexeme = token.group()
        if lexeme[0] == "\\" and len(lexeme) == 2:
            continue  # \{ or \}: a literal brace inside LaTeX, not grouping
        if lexeme == "}":
            if not stack:
                continue
            is_box, start = stack.pop()
            if is_box:
                boxes_open -= 1
                if boxes_open == 0 and token.start() - start <= MAX_BOX_CHARS:
                    found.append(_unwrap_box(text[start : token.start()]))
            continue
        if stack and token.start() - stack[0][1] > MAX_BOX_CHARS:
            # An opening left unclosed this long is garbage: forget it so that one stray
            # brace cannot make the rest of a huge string one group.
            stack.clear()
            boxes_open = 0
        is_box = lexeme != "{"
        stack.append((is_box, token.end()))
        boxes_open += is_box
    return found


def _unwrap_box(content: str) -> str:
    """`\\boxed{\\boxed{x}}` -> `x`, a few levels deep; anything else is returned stripped."""
    content = content.strip()
    for _ in range(_MAX_UNWRAP):
        opening = re.match(r"\\(?:boxed|fbox)\s*\{", content)
        if opening is None or not content.endswith("}"):
            return content
        depth = 0
        for token in _BRACE_TOKENS.finditer(content):
            lexeme = token.group()
            if lexeme[0] == "\\" and len(lexeme) == 2:
                continue
            depth += -1 if lexeme == "}" else 1
            if depth == 0:
                break
        if depth != 0 or token.end() != len(content):
            return content  # two boxes side by side, or text after the box
        content = content[opening.end() : -1].strip()
    return content


def last_boxed(text: str) -> str | None:
    """The content of the last balanced `\\boxed{}`, or None.

    >>> last_boxed(r"first \\boxed{1} then \\boxed{2}")
    '2'
    """
    boxes = boxed_contents(text)
    return boxes[-1] if boxes else None


def final_answer(text: str) -> str | None:
    """The final answer: the last `\\boxed{...}`, else the last `#### N`, else the last
    "the answer is N" (up to the end of its line, a trailing full stop dropped); else None.

    >>> final_answer("48/2 = 24 clips\\n#### 72")
    '72'
    >>> final_answer("So the answer is $18.")
    '$18'
    """
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    for pattern in (_HASH_ANSWER, _ANSWER_IS):
        last = None
        for last in pattern.finditer(text):  # noqa: B007 - only the last match is wanted
            pass
        if last is not None:
            candidate = last.group(1).strip().rstrip(".").strip()
            if candidate:
                return candidate
    return None
