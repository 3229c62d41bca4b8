"""Hard-subset mode: items solved in all n recent samples drop out; the rest stay."""

from __future__ import annotations

from curricula import build_curriculum
from curricula.config import CurriculumConfig, HardSubsetConfig
from curricula.hard_subset import HardSubset
from synth.base import Axis


def test_keeps_items_not_solved_in_all_samples():
    hard = HardSubset(HardSubsetConfig(enabled=True, samples_per_item=4))
    hard.observe("easy", [1.0, 1.0, 1.0, 1.0])
    hard.observe("hard", [1.0, 1.0, 0.0, 1.0])
    hard.observe("few", [1.0, 1.0])
    assert hard.keep(["unseen", "easy", "hard", "few"]) == ["unseen", "hard", "few"]


def test_judges_by_the_most_recent_samples():
    hard = HardSubset(HardSubsetConfig(enabled=True, samples_per_item=3))
    hard.observe("item", [0.0, 0.0, 0.0])
    assert hard.keep(["item"]) == ["item"]
    hard.observe("item", [1.0, 1.0, 1.0])
    assert hard.keep(["item"]) == []
    hard.new_stage()
    assert hard.keep(["item"]) == ["item"]


def test_partial_credit_counts_only_at_the_threshold():
    hard = HardSubset(HardSubsetConfig(enabled=True, samples_per_item=2, solve_threshold=0.8))
    hard.observe("a", [0.9, 0.8])
    hard.observe("b", [0.9, 0.5])
    assert hard.keep(["a", "b"]) == ["b"]


def test_curriculum_forwards_item_ids_and_reports_counts():
    config = CurriculumConfig(hard_subset=HardSubsetConfig(enabled=True, samples_per_item=4))
    curriculum = build_curriculum(config, {"h1": [Axis("horizon", (1, 2, 3))]}, seed=0)
    curriculum.observe(
        [
            {"task": "h1", "level": {"horizon": 1}, "rewards": [1.0] * 4, "item_id": "h1-a"},
            {
                "task": "h1",
                "level": {"horizon": 1},
                "rewards": [1.0, 0.0, 1.0, 1.0],
                "item_id": "h1-b",
            },
            {"task": "h1", "level": {"horizon": 1}, "rewards": [1.0] * 4},
        ]
    )
    assert curriculum.hard_subset.keep(["h1-a", "h1-b", "h1-c"]) == ["h1-b", "h1-c"]
    metrics = curriculum.metrics()
    assert metrics["curriculum/hard_subset/tracked"] == 2.0
    assert metrics["curriculum/hard_subset/easy"] == 1.0


def test_disabled_tracking_keeps_everything():
    curriculum = build_curriculum(CurriculumConfig(), {"h1": [Axis("horizon", (1, 2))]}, seed=0)
    curriculum.observe(
        [{"task": "h1", "level": {"horizon": 1}, "rewards": [1.0] * 8, "item_id": "x"}]
    )
    assert curriculum.hard_subset.keep(["x"]) == ["x"]
    assert "curriculum/hard_subset/tracked" not in curriculum.metrics()


def test_state_round_trip():
    hard = HardSubset(HardSubsetConfig(enabled=True, samples_per_item=2))
    hard.observe("a", [1.0, 1.0])
    hard.observe("b", [0.0])
    copy = HardSubset(HardSubsetConfig(enabled=True, samples_per_item=2))
    copy.load_state_dict(hard.state_dict())
    assert copy.outcomes == hard.outcomes
    assert copy.keep(["a", "b"]) == ["b"]
