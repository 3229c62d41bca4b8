"""A stage schedule: fixed spans of steps, each with its own task mix, and LoongRL's hard subset.

    steps: 328
    stages:
      - {name: warmup, steps: 42, tasks: {multihop: 1, ruler: 0.2}}
      - {name: stage1, steps: 168, tasks: {keychain: 1, multihop: 1, ruler: 0.2}}
      - {name: stage2, steps: 118, tasks: {keychain: 1, multihop: 1, ruler: 0.2}, hard_subset: true}

The stage of a step is fixed by the step alone (the spans in order), so a resumed run is in the
stage it left. Entering a stage sets the curriculum's task weights to the stage's (a task left
out draws nothing); the curriculum still picks each task's level. A `hard_subset` stage draws,
from each of its tasks (`records` sources, synth/records.py), only the items the policy did not
solve in all of their last `curriculum.hard_subset.samples_per_item` completions during the
previous stage: the tracker (curricula/hard_subset.py) sees every group's rewards with its item
id through `Curriculum.observe`, and is cleared when a stage starts, so only the previous
stage's outcomes count. Items the previous stage never drew stay in.

Departures from LoongRL (§3.2.2): the paper rolls every item out 8 more times with the best
checkpoint before Stage II; here each item is judged by its latest outcomes during the previous
stage (no extra rollouts). With max_staleness=1 a stage's first prompts are chosen before the
previous stage's last step is observed, so that step's outcomes count for the stage after.
A subset that would be empty keeps the whole data (with a warning) rather than stop the run.
"""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

log = logging.getLogger(__name__)


class StageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    name: str | None = None
    """Shown in the log when the stage starts; None: stage-<number> (the metrics' `stage`)."""
    steps: int = Field(ge=1)
    """Training steps in this stage."""
    tasks: dict[str, float]
    """Task name (of `tasks`) -> weight in this stage's batches; a task left out is not drawn."""
    hard_subset: bool = False
    """Draw only the items not solved in all of their last samples_per_item completions in the
    previous stage (LoongRL's Stage II); every task of the stage must be a `records` source."""

    @field_validator("tasks")
    @classmethod
    def _weights(cls, tasks: dict[str, float]) -> dict[str, float]:
        if any(weight < 0 for weight in tasks.values()) or sum(tasks.values()) <= 0:
            raise ValueError("weights must be >= 0 and at least one above 0")
        return tasks


def tracker_id(task: str, item_id: str) -> str:
    """An item's id in the hard-subset tracker: the task's name and the record's id (two
    datasets made with the same seed share record ids)."""
    return f"{task}/{item_id}"


def check_stages(config: Any) -> None:
    """The stages against the rest of a RunConfig: their tasks exist, their steps are the run's
    (`steps` left out: their sum), a hard-subset stage follows a stage and reads records, and
    the tracker is on. One ValueError line naming the fix."""
    if not config.stages:
        return
    total = sum(stage.steps for stage in config.stages)
    if "steps" not in config.model_fields_set:
        config.steps = total
    elif config.steps != total:
        raise ValueError(
            f"steps={config.steps} but the stages add up to {total}: leave steps out or make "
            "them agree"
        )
    for number, stage in enumerate(config.stages):
        unknown = sorted(set(stage.tasks) - set(config.tasks))
        if unknown:
            raise ValueError(
                f"stages.{number}.tasks: {unknown} are not in tasks ({', '.join(config.tasks)})"
            )
        if not stage.hard_subset:
            continue
        if number == 0:
            raise ValueError("stages.0.hard_subset: the first stage has no stage before it")
        other = [n for n in stage.tasks if config.tasks[n].generator != "records"]
        if other:
            raise ValueError(
                f"stages.{number}.hard_subset: tasks {other} are not `records` sources; a hard "
                "subset keeps items by id, which only a fixed dataset has"
            )
    tracker = config.curriculum.hard_subset
    if any(stage.hard_subset for stage in config.stages):
        if "enabled" in tracker.model_fields_set and not tracker.enabled:
            raise ValueError(
                "curriculum.hard_subset.enabled=false, but a stage has hard_subset: true"
            )
        tracker.enabled = True


def stage_at(stages: list[StageConfig], step: int) -> int:
    """The stage `step` (0-based) falls in; past the last stage's end, the last."""
    end = 0
    for number, stage in enumerate(stages):
        end += stage.steps
        if step < end:
            return number
    return len(stages) - 1


class Stages:
    """Which stage the run is in, and entering one: the curriculum's weights, the hard subset."""

    def __init__(self, stages: list[StageConfig], curriculum: Any, generators: dict[str, Any]):
        self.stages = stages
        self.curriculum = curriculum
        self.generators = generators
        self.index: int | None = None

    def name(self, index: int) -> str:
        return self.stages[index].name or f"stage-{index}"

    def enter(self, step: int) -> None:
        """Make `step`'s stage the current one (nothing when it already is)."""
        if not self.stages or stage_at(self.stages, step) == self.index:
            return
        self.index = stage_at(self.stages, step)
        stage = self.stages[self.index]
        tracker = self.curriculum.hard_subset
        for task in stage.tasks:
            source = self.generators[task]
            if stage.hard_subset:
                self._keep_unsolved(task, source, tracker)
            elif hasattr(source, "restrict"):
                source.restrict(None)
        tracker.new_stage()
        self.curriculum.set_weights(stage.tasks)
        log.info("step %d: %s starts (%s)", step, self.name(self.index), stage.tasks)

    def _keep_unsolved(self, task: str, source: Any, tracker: Any) -> None:
        items = source.pool_ids()  # consecutive hard stages narrow the pool further
        kept = set(tracker.keep(tracker_id(task, item) for item in items))
        if not kept:
            log.warning("%s: every item of %s was solved; the stage keeps all", task, task)
            source.restrict(None)
            return
        source.restrict([item for item in items if tracker_id(task, item) in kept])
        log.info("%s: %d of %d items not yet solved are kept", task, len(kept), len(items))

    def metrics(self, step: int) -> dict[str, Any]:
        """`step`'s stage (the current one may be the next step's, chosen ahead) and how many
        epochs each records source has walked."""
        out: dict[str, Any] = {"stage": stage_at(self.stages, step)} if self.stages else {}
        for task, source in self.generators.items():
            if hasattr(source, "epochs"):
                out[f"records/{task}/epochs"] = source.epochs()
        return out

    def state_dict(self) -> dict[str, Any]:
        """The stage and every stateful source's walk (the tracker is the curriculum's)."""
        sources = {
            task: source.state_dict()
            for task, source in self.generators.items()
            if hasattr(source, "state_dict")
        }
        return {"index": self.index, "sources": sources}

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        """Back where `state_dict` was taken: the stage's weights, the sources' walks (the
        stage is not entered again: its subset is in the sources' state)."""
        if state is None:
            return
        for task, source_state in state["sources"].items():
            self.generators[task].load_state_dict(source_state)
        self.index = state["index"]
        if self.index is not None:
            self.curriculum.set_weights(self.stages[self.index].tasks)
