"""A run directory read while the run writes it: metrics.jsonl and rollouts.jsonl, by byte offset.

`MetricsTail` keeps what the live dashboard plots as columns (one entry per record, None where
a record lacks the key) and reads only the bytes appended since its last look; a client asks
for the rows after the ones it holds (`since`). `SamplesTail` keeps the latest few sample
groups per task and level from the files the driver writes (rl/rollout_log.py). Nothing here
writes to the run directory: files are opened read-only.

A rewritten file (a resumed run truncates metrics.jsonl to its checkpoint) is detected by the
bytes just before the offset changing, and read again from the start under a new generation
number, so a client holding older rows starts over.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from curricula.base import TASK_COUNTERS

METRICS_FILE = "metrics.jsonl"
SAMPLES_FILE = "rollouts.jsonl"
SAMPLES_ROTATED = "rollouts.1.jsonl"
# The numeric keys the page plots; everything else in a record (task ids, timings, clip
# fractions, per-level window stats) stays on disk.
PLOTTED = re.compile(
    r"^(reward/(.+/)?mean"
    r"|zero_var/.+|zero_var_frac"
    r"|response_length/(mean|max|truncated_frac)"
    r"|words/[^/]+|eval/longen/score"
    r"|train/(loss|kl_mean|entropy_mean)"
    r"|eval(_base)?/[^/]+/pass@1|eval/select"
    r"|curriculum/[^/]+/[^/]+)$"
)
NOT_AXES = {*TASK_COUNTERS}
FINGERPRINT_BYTES = 64


def plotted(key: str) -> bool:
    """Whether the page plots `key` (a frontier axis, a reward, an eval score, ...)."""
    if not PLOTTED.match(key):
        return False
    if key.startswith("curriculum/"):
        task, name = key.split("/")[1:]
        # curriculum/hard_subset/* are the hard-subset counters, not a task's axes.
        return name not in NOT_AXES and task != "hard_subset"
    return True


def compact(value: float) -> float:
    """Five significant digits: what a chart can show, at a third of the JSON."""
    return float(f"{value:.5g}")


@dataclass
class FileCursor:
    """Where a tail stands in one file: offset, the bytes before it, a dangling last line."""

    offset: int = 0
    fingerprint: bytes = b""
    inode: int | None = None
    signature: tuple[int, int, int] | None = None  # (inode, size, mtime_ns) at the last look
    partial_bytes: int = 0

    def new_bytes(self, path: Path) -> bytes | None:
        """Complete lines appended since the last call; None when the file was rewritten or
        replaced (the caller starts over). A last line without its newline waits."""
        stat = path.stat()
        signature = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        if signature == self.signature:
            return b""
        with path.open("rb") as handle:
            if self.offset:
                if stat.st_size < self.offset or stat.st_ino != self.inode:
                    return None
                handle.seek(self.offset - len(self.fingerprint))
                if handle.read(len(self.fingerprint)) != self.fingerprint:
                    return None
            data = handle.read(stat.st_size - self.offset)
        self.signature, self.inode = signature, stat.st_ino
        cut = data.rfind(b"\n") + 1
        self.partial_bytes = len(data) - cut
        complete = data[:cut]
        if complete:
            self.offset += cut
            self.fingerprint = (self.fingerprint + complete)[-FINGERPRINT_BYTES:]
        return complete


@dataclass
class Skipped:
    """Lines that were not JSON records: how many, and the first one."""

    count: int = 0
    first_line: int = 0
    first_text: str = ""

    def add(self, number: int, raw: bytes) -> None:
        if not self.count:
            self.first_line = number
            self.first_text = raw[:60].decode("utf-8", "replace")
        self.count += 1


def parse_line(raw: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return record if isinstance(record, dict) else None


@dataclass
class MetricsTail:
    """metrics.jsonl as plotted columns, read incrementally."""

    path: Path
    generation: int = 1  # a client that holds nothing sends 0
    rewrites: int = 0
    cursor: FileCursor = field(default_factory=FileCursor)
    lines: int = 0
    steps: list[int] = field(default_factory=list)
    columns: dict[str, list[float | None]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    axes: dict[str, list[str]] = field(default_factory=dict)  # task -> axis names
    skipped: Skipped = field(default_factory=Skipped)
    _wanted: dict[str, bool] = field(default_factory=dict)

    def reset(self) -> None:
        self.generation += 1
        self.cursor = FileCursor()
        self.lines = 0
        self.steps, self.columns, self.events, self.axes = [], {}, [], {}
        self.skipped = Skipped()

    def refresh(self) -> None:
        """Read what was appended; start over when the file was rewritten or removed."""
        if not self.path.is_file():
            if self.cursor.offset:
                self.reset()
            return
        data = self.cursor.new_bytes(self.path)
        if data is None:
            self.rewrites += 1
            self.reset()
            data = self.cursor.new_bytes(self.path) or b""
        for raw in data.splitlines():
            self.lines += 1
            if raw.strip():
                self.ingest(raw)

    def ingest(self, raw: bytes) -> None:
        record = parse_line(raw)
        if record is None:
            self.skipped.add(self.lines, raw)
            return
        if record.get("event") in ("promote", "demote"):  # an event written as its own line
            self.events.append(record)
            return
        row = len(self.steps)
        step = record.get("step", record.get("curriculum/step", row))
        self.steps.append(int(step) if isinstance(step, int | float) else row)
        for key, value in record.items():
            wanted = self._wanted.get(key)
            if wanted is None:
                wanted = self._wanted[key] = plotted(key)
            if wanted and _finite_number(value):
                column = self.columns.setdefault(key, [])
                if len(column) < row:
                    column.extend([None] * (row - len(column)))
                column.append(compact(value))
            elif key.startswith("frontier/") and isinstance(value, dict):
                self.axes[key[len("frontier/") :]] = list(value)
        for event in record.get("curriculum/events") or []:
            if isinstance(event, dict):
                # An event's own step counts the curriculum's observe calls (the driver's step
                # + 1); the chart places it at the record that reported it.
                self.events.append({**event, "step": self.steps[-1]})

    def since(self, generation: int, rows: int, events: int) -> dict[str, Any]:
        """The rows and events a client holding `rows` rows and `events` events lacks; all of
        them (`reset`) when it holds another generation's."""
        reset = generation != self.generation or rows > len(self.steps)
        if reset:
            rows = events = 0
        total = len(self.steps)
        columns = {}
        for key, column in self.columns.items():
            piece = column[rows:]
            columns[key] = piece + [None] * (total - rows - len(piece))
        return {
            "generation": self.generation,
            "reset": reset,
            "start": rows,
            "steps": self.steps[rows:],
            "columns": columns,
            "events": self.events[events:],
            "event_count": len(self.events),
            "axes": self.axes,
        }

    def notices(self) -> list[dict[str, str]]:
        name = self.path.name
        notes = []
        if self.skipped.count:
            notes.append(
                _warn(
                    f"{name}: {self.skipped.count} line(s) skipped that are not JSON records "
                    f"(first: line {self.skipped.first_line}, {self.skipped.first_text!r})"
                )
            )
        if self.cursor.partial_bytes:
            notes.append(
                _warn(
                    f"{name} ends in an incomplete line ({self.cursor.partial_bytes} bytes "
                    "without a newline): a write in progress, or a run stopped mid-write; "
                    "it shows once complete"
                )
            )
        if self.rewrites:
            notes.append(
                _info(
                    f"{name} was rewritten (a resumed run truncates it): read again from the start"
                )
            )
        return notes


def _finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _warn(text: str) -> dict[str, str]:
    return {"level": "warn", "text": text}


def _info(text: str) -> dict[str, str]:
    return {"level": "info", "text": text}


@dataclass
class SamplesTail:
    """The latest `keep` sample groups per (task, level) from rollouts.jsonl (and, read once at
    start, the rotated rollouts.1.jsonl before it)."""

    run_dir: Path
    keep: int = 6
    seq: int = 0
    cursor: FileCursor = field(default_factory=FileCursor)
    latest: dict[tuple[str, str], deque] = field(default_factory=dict)
    skipped: Skipped = field(default_factory=Skipped)
    _read_rotated: bool = False

    def refresh(self) -> None:
        path = self.run_dir / SAMPLES_FILE
        if not self._read_rotated and path.is_file():
            self._read_rotated = True
            rotated = self.run_dir / SAMPLES_ROTATED
            if rotated.is_file():
                self._ingest_all(FileCursor().new_bytes(rotated) or b"")
        if not path.is_file():
            return
        data = self.cursor.new_bytes(path)
        if data is None:  # rotated: the new file starts empty; what we hold stays valid
            self.cursor = FileCursor()
            data = self.cursor.new_bytes(path) or b""
        self._ingest_all(data)

    def _ingest_all(self, data: bytes) -> None:
        for number, raw in enumerate(data.splitlines(), 1):
            record = parse_line(raw) if raw.strip() else None
            if record is None or not isinstance(record.get("completions"), list):
                if raw.strip():
                    self.skipped.add(number, raw)
                continue
            key = (str(record.get("task")), str(record.get("level_key")))
            if key not in self.latest:
                self.latest[key] = deque(maxlen=self.keep)
            self.latest[key].append(record)
            self.seq += 1

    def index(self) -> dict[str, dict[str, int]]:
        """task -> level -> newest step held, for the page's selectors."""
        out: dict[str, dict[str, int]] = {}
        for (task, level), records in sorted(self.latest.items()):
            out.setdefault(task, {})[level] = records[-1].get("step", 0)
        return out

    def samples(self, task: str, level: str) -> list[dict[str, Any]]:
        """Newest first."""
        return list(reversed(self.latest.get((task, level), ())))


def run_paths(path: Path) -> tuple[Path, Path]:
    """(run directory, metrics file) for a run directory or a path to its metrics.jsonl."""
    if path.suffix == ".jsonl":
        return path.parent, path
    return path, path / METRICS_FILE


def describe_missing(run_dir: Path, metrics: Path) -> list[dict[str, str]]:
    """The notice for a run that has not written anything yet (or a mistyped path)."""
    if not run_dir.is_dir():
        return [_warn(f"{run_dir} does not exist (yet): waiting for the run to create it")]
    if not metrics.is_file():
        return [_info(f"{run_dir} has no {metrics.name} yet: the first step has not finished")]
    if not os.access(metrics, os.R_OK):
        return [_warn(f"{metrics} is not readable")]
    return []
