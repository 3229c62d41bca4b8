"""Resuming a run: what `--resume` requires, and the run's records cut back to its checkpoint.

A run killed after its checkpoint at step k has already appended records for steps k+1.. to
metrics.jsonl and rollouts.jsonl (and rollouts.1.jsonl after a rotation). The resumed run redoes
those steps, so before anything appends, every record after step k is cut (`cut_records`), and
the files read as one uninterrupted run. wandb is told the same step (rl/rundir.py,
MetricsLogger's `resume_step`). `--resume` refuses a run without a complete checkpoint
(`check_resumable`); `--resume-or-start` starts such a run fresh, its old records cut to nothing.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from rl import checkpoints, rollout_log

log = logging.getLogger(__name__)

# The run's append-only step records: JSON lines with a "step" key.
RECORD_FILES = (
    "metrics.jsonl",
    rollout_log.FILE,
    rollout_log.FILE.removesuffix(".jsonl") + rollout_log.ROTATED_SUFFIX,
)


def resume_step(run_dir: Path) -> int:
    """The step of the run's last complete checkpoint; -1 when it has none (start fresh)."""
    found = checkpoints.checkpoint_dirs(Path(run_dir) / "checkpoints")
    return found[-1][0] if found else -1


def check_resumable(output_dir: str | Path, name: str, needs_checkpoint: bool = True) -> None:
    """What `--resume` needs: runs/<name> exists and (`needs_checkpoint`) holds a complete
    checkpoint. ValueError: one line naming what is missing and the flag that starts fresh."""
    run_dir = Path(output_dir).expanduser() / name
    if not run_dir.is_dir():
        raise ValueError(
            f"--resume: there is no run directory {run_dir}: check name= and output_dir=, or "
            "pass --resume-or-start to start it"
        )
    if needs_checkpoint and resume_step(run_dir) < 0:
        raise ValueError(
            f"--resume: run {run_dir} has no complete checkpoint (checkpoints/step-N/ with "
            "driver.json) to continue from: pass --resume-or-start to start it again from step 0"
        )


def cut_file(path: Path, last_step: int) -> int:
    """Keep the records of `path` up to `last_step` (a torn line goes too); the number cut.
    The file is rewritten under a temporary name and renamed, so a kill leaves old or new."""
    if not path.exists():
        return 0
    kept, cut = [], 0
    for line in path.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            cut += bool(line.strip())
            continue
        if isinstance(record, dict) and isinstance(record.get("step"), int):
            if record["step"] > last_step:
                cut += 1
                continue
        kept.append(line + "\n")
    if cut:
        staging = path.with_name(f".{path.name}.tmp")
        staging.write_text("".join(kept))
        os.replace(staging, path)
    return cut


def cut_records(run_dir: Path, last_step: int) -> dict[str, int]:
    """Cut every record file of the run back to `last_step` (-1: to nothing); {file: cut}."""
    cut = {name: cut_file(Path(run_dir) / name, last_step) for name in RECORD_FILES}
    cut = {name: count for name, count in cut.items() if count}
    if cut:
        log.info("resume: records after step %d cut (%s)", last_step, _counts(cut))
    return cut


def prepare(run_dir: Path) -> int:
    """Before a resumed run starts anything: remove staging leftovers of a killed save and cut
    the records back to the last checkpoint. Returns its step (-1: none, the run starts fresh)."""
    removed = checkpoints.clean_staging(Path(run_dir) / "checkpoints")
    if removed:
        log.info("resume: removed %d unfinished checkpoint(s) of a killed save", removed)
    step = resume_step(run_dir)
    cut_records(run_dir, step)
    best = Path(run_dir) / "best" / "best.json"
    if best.exists() and json.loads(best.read_text()).get("step", -1) > step:
        log.warning(
            "resume: best/ holds the policy after step %s, a step the resumed run redoes; it "
            "stays until the resumed run scores higher",
            json.loads(best.read_text())["step"],
        )
    return step


def _counts(cut: dict[str, int]) -> str:
    return ", ".join(f"{name}: {count}" for name, count in cut.items())
