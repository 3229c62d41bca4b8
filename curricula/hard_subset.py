"""Hard-subset mode (LoongRL stage II): keep only the items the current policy does not solve.

The tracker keeps, per item id, the outcomes of its last `samples_per_item` completions
(solved when reward >= `solve_threshold`). An item is *easy* when it has that many recent
outcomes and every one is solved; every other item, unseen ones included, is kept.

How a driver uses it (ids come from `Task.id`, which generators make deterministic):
1. During a stage, pass `"item_id": task.id` in each result given to `Curriculum.observe`;
   the curriculum forwards the rewards here when `hard_subset.enabled` is set.
2. At the stage boundary, optionally score the stage's pool once more with n samples per
   item (so every item is judged by the *current* policy), then call
   `curriculum.hard_subset.keep(ids)` and keep those rows of the stage's dataset.
3. In the next stage, draw prompts from that filtered pool; keep passing item ids, so an item
   the policy learns to solve in all n samples drops out at the next `keep` call.
`new_stage()` forgets old outcomes when the policy has moved on.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from curricula.config import HardSubsetConfig


class HardSubset:
    """Recent per-item outcomes and the filter they imply."""

    def __init__(self, config: HardSubsetConfig) -> None:
        self.config = config
        # item id -> recent outcomes, oldest first, at most samples_per_item of them.
        self.outcomes: dict[str, list[bool]] = {}

    def observe(self, item_id: str, rewards: Iterable[float]) -> None:
        recent = self.outcomes.setdefault(item_id, [])
        recent.extend(reward >= self.config.solve_threshold for reward in rewards)
        del recent[: max(0, len(recent) - self.config.samples_per_item)]

    def is_easy(self, item_id: str) -> bool:
        """Solved in every one of its last `samples_per_item` completions."""
        recent = self.outcomes.get(item_id, [])
        return len(recent) >= self.config.samples_per_item and all(recent)

    def keep(self, item_ids: Iterable[str]) -> list[str]:
        """The ids, in their order, that are not easy (unseen or under-sampled ids stay)."""
        return [item_id for item_id in item_ids if not self.is_easy(item_id)]

    def new_stage(self) -> None:
        """Forget all outcomes: the next stage judges items by the policy it then has."""
        self.outcomes.clear()

    def metrics(self) -> dict[str, float]:
        judged = [
            item
            for item, recent in self.outcomes.items()
            if len(recent) >= self.config.samples_per_item
        ]
        easy = sum(self.is_easy(item) for item in judged)
        return {
            "curriculum/hard_subset/tracked": float(len(self.outcomes)),
            "curriculum/hard_subset/judged": float(len(judged)),
            "curriculum/hard_subset/easy": float(easy),
        }

    def state_dict(self) -> dict[str, Any]:
        # Outcomes as "1"/"0" strings keep checkpoints of large pools small.
        return {
            item: "".join("1" if ok else "0" for ok in recent)
            for item, recent in self.outcomes.items()
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.outcomes = {item: [flag == "1" for flag in flags] for item, flags in state.items()}
