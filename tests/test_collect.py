"""Task making from curriculum choices: seeded per (step, task, level), rebuildable on resume."""

from __future__ import annotations

from curricula import build_curriculum
from rl.collect import Collector
from rl.config import RunConfig
from rl.config_io import load_config
from synth import get_generator


def test_rebuilding_saved_choices_gives_the_same_distinct_tasks():
    config = load_config(RunConfig, None, ["prompts_per_step=6"])
    generators = {"h1": get_generator("h1")}
    curriculum = build_curriculum(config.curriculum, {"h1": generators["h1"].axes()}, seed=0)
    collector = Collector(config, generators, curriculum, scorer=None, pool=None)
    chosen = collector.choose(step=3, count=6)
    assert len({task.id for task in chosen.tasks}) == 6  # repeated levels still differ
    saved = [[name, dict(level)] for name, level in chosen.choices]  # as driver.json holds them
    rebuilt = collector.make_tasks(3, [(name, level) for name, level in saved])
    assert [t.id for t in rebuilt.tasks] == [t.id for t in chosen.tasks]
    assert rebuilt.choices == chosen.choices
