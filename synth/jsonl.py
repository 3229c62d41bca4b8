"""Reading the sources' files line by line, so one bad line costs one record, not the file.

A JSONL line that is not UTF-8 or not JSON comes back as a `BadLine` with its reason; the
caller counts it as a skip (with the line number) and goes on. A whole-file format (a JSON
list, a .txt corpus) that cannot be decoded raises one ValueError naming the file and where.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SHOWN_LINES = 5  # line numbers kept per skip reason, for the report


@dataclass(frozen=True)
class BadLine:
    """A line that is no record; `reason` is the skip counter's key."""

    reason: str
    detail: str = ""


def decode_line(raw: bytes) -> str | BadLine:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        return BadLine("not_utf8", f"byte {raw[error.start]:#04x} at column {error.start + 1}")


def read_jsonl(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number from 1, parsed value or BadLine) for every non-blank line of `path`."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            line = decode_line(raw)
            if isinstance(line, BadLine):
                yield number, line
                continue
            if not line.strip():
                continue
            try:
                yield number, json.loads(line)
            except (json.JSONDecodeError, RecursionError) as error:
                detail = error.msg if isinstance(error, json.JSONDecodeError) else "nested too deep"
                yield number, BadLine("invalid_json", detail)


def read_text_lines(path: Path, skips: SkipTally) -> str:
    """The UTF-8 lines of a text file joined again; undecodable lines are counted skips."""
    kept = []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            line = decode_line(raw)
            if isinstance(line, BadLine):
                skips.add(line.reason, number)
            else:
                kept.append(line)
    return "".join(kept)


def read_json_file(path: Path) -> Any:
    """A whole JSON file; ValueError naming the file and the place when it is not one."""
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: not UTF-8 text (byte offset {error.start})") from None
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{path}: not JSON ({error.msg} at line {error.lineno}, column {error.colno})"
        ) from None
    except RecursionError:
        raise ValueError(f"{path}: JSON nested too deep") from None


@dataclass
class SkipTally:
    """Skips by reason, with the first few line numbers of each, for one file."""

    counts: Counter = field(default_factory=Counter)
    lines: dict[str, list[int]] = field(default_factory=dict)

    def add(self, reason: str, line: int) -> None:
        self.counts[reason] += 1
        shown = self.lines.setdefault(reason, [])
        if len(shown) < SHOWN_LINES:
            shown.append(line)

    def summary(self) -> str:
        return format_skips(self.counts, self.lines)


def format_skips(counts: Counter, lines: dict[str, list[int]]) -> str:
    """`not_utf8 2 (lines 3, 9), invalid_json 1 (line 5)`, or "none"."""
    parts = []
    for reason, count in counts.most_common():
        shown = lines.get(reason, [])
        more = ", ..." if count > len(shown) else ""
        where = f" (line{'s' if len(shown) > 1 else ''} {', '.join(map(str, shown))}{more})"
        parts.append(f"{reason} {count}{where if shown else ''}")
    return ", ".join(parts) or "none"
