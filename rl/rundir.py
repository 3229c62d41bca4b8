"""A run directory and its metrics: `runs/<name>/{config.yaml, metrics.jsonl, checkpoints/}`.

Metrics go to `metrics.jsonl` (one JSON object per line, always) and to wandb. wandb is on
by default: online when WANDB_API_KEY is set, otherwise offline (files under the run
directory, `wandb sync` uploads them later); `logging.wandb=disabled` turns it off. The
curriculum's panels there (metrics against the step, the events table, success by level)
come from rl/wandb_panels.py.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def default_run_name(prefix: str = "run") -> str:
    return f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"


def make_run_dir(output_dir: str | Path, name: str, resume: bool) -> Path:
    """Create runs/<name>/; an existing directory is reused only when resuming."""
    path = Path(output_dir) / name
    if path.exists() and not resume and any(path.iterdir()):
        raise FileExistsError(
            f"run directory {path} already exists: pass --resume to continue it or set name=<new>"
        )
    (path / "checkpoints").mkdir(parents=True, exist_ok=True)
    return path


def wandb_mode(setting: str) -> str:
    """`auto` means online with an API key, offline without one; others pass through."""
    if setting != "auto":
        return setting
    return "online" if os.environ.get("WANDB_API_KEY") else "offline"


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # JSON has no NaN/inf; keep the fact instead of dropping the key
    if hasattr(value, "item"):
        return _jsonable(value.item())
    return value


class MetricsLogger:
    """Appends one record per step to metrics.jsonl and mirrors it to wandb."""

    def __init__(
        self, run_dir: Path, config: dict[str, Any], wandb_setting: str, project: str, name: str
    ):
        self.path = Path(run_dir) / "metrics.jsonl"
        self._wandb = None
        self._panels = None
        mode = wandb_mode(wandb_setting)
        if mode != "disabled":
            import wandb

            self._wandb = wandb.init(
                project=project,
                name=name,
                dir=str(run_dir),
                mode=mode,
                config=config,
                resume="allow",
                id=name.replace("/", "-"),
            )
            from rl.wandb_panels import CurriculumPanels

            self._panels = CurriculumPanels(self._wandb)
            log.info("wandb: %s mode, files under %s", mode, run_dir / "wandb")

    def log(self, step: int, metrics: dict[str, Any]) -> None:
        record = {"step": step, **{key: _jsonable(value) for key, value in metrics.items()}}
        with self.path.open("a") as handle:
            handle.write(json.dumps(record) + "\n")
        if self._wandb is not None:
            numeric = {k: v for k, v in record.items() if isinstance(v, int | float)}
            self._wandb.log(numeric, step=step)  # `step` too: the x axis of every panel
            self._panels.log(step, record)

    def close(self) -> None:
        if self._wandb is not None:
            self._panels.close()
            self._wandb.finish()
            self._wandb = None


def read_metrics(path: str | Path) -> list[dict[str, Any]]:
    """All records of a metrics.jsonl; a torn last line (a killed run) is skipped and logged."""
    records = []
    lines = Path(path).read_text().splitlines()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            log.warning("%s:%d: unreadable metrics line skipped", path, number)
    return records
