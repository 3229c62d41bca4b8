"""Rolling reward windows per (task, level), with GRPO's zero-variance evidence.

Each observed prompt group becomes one entry: the step it arrived, its mean reward, its size
and its kind. A group whose rewards are all equal gives GRPO no gradient; it is `solved`
(all equal and at least 0.5: too easy) or `failed` (all equal and below 0.5: too hard).
A group of one completion has no variance to speak of and is `single`.

The window keeps the last `window` groups (unit "group") or the fewest trailing groups that
hold at least `window` completions (unit "completion", as reasoning-gym counts samples).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

# A tolerance rather than ==, because partial-credit rewards are floats.
ZERO_VARIANCE_SPREAD = 1e-9


@dataclass(frozen=True)
class GroupEntry:
    step: int
    mean: float
    size: int
    kind: str  # "solved" | "failed" | "mixed" | "single"


def group_entry(step: int, rewards: list[float]) -> GroupEntry:
    mean = sum(rewards) / len(rewards)
    if len(rewards) == 1:
        kind = "single"
    elif max(rewards) - min(rewards) <= ZERO_VARIANCE_SPREAD:
        kind = "solved" if mean >= 0.5 else "failed"
    else:
        kind = "mixed"
    return GroupEntry(step=step, mean=mean, size=len(rewards), kind=kind)


@dataclass(frozen=True)
class WindowStats:
    """Summary of some window entries; `amount` is in the window's unit."""

    amount: int
    groups: int
    mean: float
    solved_frac: float
    failed_frac: float

    @property
    def zero_var_frac(self) -> float:
        return self.solved_frac + self.failed_frac


EMPTY = WindowStats(amount=0, groups=0, mean=0.0, solved_frac=0.0, failed_frac=0.0)


class LevelWindow:
    """The rolling window of one (task, level) plus lifetime totals for the dashboard."""

    def __init__(self, window: int, unit: str) -> None:
        self.window = window
        self.unit = unit
        self.entries: deque[GroupEntry] = deque()
        self.total_groups = 0
        self.total_zero_var = 0

    def _amount(self, entries) -> int:
        return sum(entry.size for entry in entries) if self.unit == "completion" else len(entries)

    def add(self, entry: GroupEntry) -> None:
        self.entries.append(entry)
        self.total_groups += 1
        self.total_zero_var += entry.kind in ("solved", "failed")
        # Drop the oldest group while the rest still fill the window.
        while len(self.entries) > 1:
            oldest = self.entries[0]
            rest = self._amount(self.entries) - (oldest.size if self.unit == "completion" else 1)
            if rest < self.window:
                break
            self.entries.popleft()

    def stats(self, since_step: int = 0) -> WindowStats:
        """Stats over the window's entries recorded at or after `since_step`."""
        entries = [entry for entry in self.entries if entry.step >= since_step]
        if not entries:
            return EMPTY
        completions = sum(entry.size for entry in entries)
        if self.unit == "completion":
            mean = sum(entry.mean * entry.size for entry in entries) / completions
        else:
            mean = sum(entry.mean for entry in entries) / len(entries)
        # Zero-variance shares are over groups that could have had variance (size > 1).
        multi = [entry for entry in entries if entry.kind != "single"]
        solved = sum(entry.kind == "solved" for entry in multi)
        failed = sum(entry.kind == "failed" for entry in multi)
        return WindowStats(
            amount=self._amount(entries),
            groups=len(entries),
            mean=mean,
            solved_frac=solved / len(multi) if multi else 0.0,
            failed_frac=failed / len(multi) if multi else 0.0,
        )

    def state_dict(self) -> dict[str, Any]:
        return {
            "entries": [[e.step, e.mean, e.size, e.kind] for e in self.entries],
            "total_groups": self.total_groups,
            "total_zero_var": self.total_zero_var,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.entries = deque(
            GroupEntry(step=int(step), mean=float(mean), size=int(size), kind=str(kind))
            for step, mean, size, kind in state["entries"]
        )
        self.total_groups = int(state["total_groups"])
        self.total_zero_var = int(state["total_zero_var"])
