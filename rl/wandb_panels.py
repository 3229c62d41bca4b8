"""The curriculum's signals in wandb, next to what the live dashboard shows.

- Every metric family is plotted against `step` (the driver's step, logged with each record):
  the frontier level per task and axis (`curriculum/<task>/<axis>`), success and zero-variance
  share by level (`reward/<task>/<level>/mean`, `zero_var/<task>/<level>`, the curriculum's
  window stats `curriculum/<task>/<label>/success`), rewards, held-out scores, lengths and the
  learner's signals.
- Promotions and demotions are a wandb Table (`curriculum/events`: step, task, event, from, to,
  reason), logged again with every new event (a logged table is immutable).
- At the end, success by level over the steps is one line chart per task
  (`curriculum/<task>/success_by_level`).

wandb runs offline without an API key; its files then lie under runs/<name>/wandb/.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

from rl.step_metrics import level_key

STEP = "step"
FAMILIES = (
    "curriculum/*",
    "reward/*",
    "zero_var/*",
    "zero_var_frac",
    "eval/*",
    "eval_base/*",
    "response_length/*",
    "train/*",
    "time/*",
    "tokens_per_s/*",
    "groups/*",
    "samples/*",
    "policy_version",
)
EVENT_COLUMNS = ["step", "task", "event", "from", "to", "reason"]
LEVEL_REWARD = re.compile(r"^reward/([^/]+)/([^/]+)/mean$")


class CurriculumPanels:
    """Defines the metrics on a wandb run, then logs the events table and the level charts."""

    def __init__(self, run: Any) -> None:
        self.run = run
        self.events: list[list[Any]] = []
        # task -> level -> ([steps], [success])
        self.success: dict[str, dict[str, tuple[list[int], list[float]]]] = defaultdict(dict)
        run.define_metric(STEP)
        for family in FAMILIES:
            run.define_metric(family, step_metric=STEP)
        run.define_metric("eval/select", step_metric=STEP, summary="max")

    def log(self, step: int, record: dict[str, Any]) -> None:
        """Called after each record's numbers are logged: tables for what is new."""
        for key, value in record.items():
            match = LEVEL_REWARD.match(key)
            if match and isinstance(value, int | float):
                steps, values = self.success[match[1]].setdefault(match[2], ([], []))
                steps.append(step)
                values.append(float(value))
        new = [event for event in record.get("curriculum/events") or [] if isinstance(event, dict)]
        if not new:
            return
        import wandb

        for event in new:
            self.events.append(
                [
                    step,
                    event.get("task"),
                    event.get("event"),
                    level_key(event.get("from") or {}),
                    level_key(event.get("to") or {}),
                    event.get("reason", ""),
                ]
            )
        table = wandb.Table(columns=EVENT_COLUMNS, data=[list(row) for row in self.events])
        self.run.log({"curriculum/events": table}, step=step)

    def close(self) -> None:
        """Success by level over steps, one chart per task."""
        if not self.success:
            return
        import wandb

        charts = {}
        for task, levels in self.success.items():
            names = sorted(levels)
            charts[f"curriculum/{task}/success_by_level"] = wandb.plot.line_series(
                xs=[levels[name][0] for name in names],
                ys=[levels[name][1] for name in names],
                keys=names,
                title=f"{task}: success by level",
                xname=STEP,
            )
        self.run.log(charts)
