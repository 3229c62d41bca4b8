"""`format`: the completion thinks in `<think>...</think>`, then gives exactly one `\\boxed{}`.

1.0 or 0.0. Usable alone or as a weighted term (rewards/combine.py). Conditions: the text
opens with `<think>` (only whitespace before it), has one `<think>` and one `</think>`,
thinks something (non-blank), and after `</think>` holds exactly one `\\boxed` whose braces
balance and whose content is not blank. `think_prefilled=True` is for chat templates that
put `<think>` in the prompt: the completion then must not open the tag itself.
"""

from __future__ import annotations

from typing import Any

from rewards.batch import score_each
from rewards.extract import THINK_CLOSE, boxed_contents, completion_texts

THINK_OPEN = "<think>"


def follows_format(text: str, *, think_prefilled: bool = False) -> bool:
    """Whether `text` is `<think>` thoughts `</think>` then exactly one non-empty box.

    >>> follows_format("<think>2+2</think> So \\\\boxed{4}.")
    True
    >>> follows_format("<think>2+2</think> \\\\boxed{4} or \\\\boxed{5}")
    False
    """
    opens = 0 if think_prefilled else 1
    if text.count(THINK_OPEN) != opens or text.count(THINK_CLOSE) != 1:
        return False
    if not think_prefilled and not text.lstrip().startswith(THINK_OPEN):
        return False
    thoughts, answer = text.split(THINK_CLOSE, 1)
    if not thoughts.replace(THINK_OPEN, "", 1).strip():
        return False
    boxes = boxed_contents(answer)
    box_openings = answer.count("\\boxed") + answer.count("\\fbox")
    return len(boxes) == 1 and box_openings == 1 and bool(boxes[0].strip())


def format_reward(
    prompts: Any = None,
    completions: Any = None,
    *,
    think_prefilled: bool = False,
    **columns: Any,
) -> list[float]:
    """1.0 per completion that follows the think-then-one-box format, else 0.0.

    >>> format_reward(completions=["<think>hmm</think> \\\\boxed{Paris}", "\\\\boxed{Paris}"])
    [1.0, 0.0]
    """
    texts = completion_texts(completions)
    return score_each(
        "format", lambda text: follows_format(text, think_prefilled=think_prefilled), texts
    )
