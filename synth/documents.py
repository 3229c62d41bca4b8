"""Long documents for generators that read whole texts (LongPO): from files, datasets or the Hub.

A source is one of
  - a directory of `.txt` files, one document each;
  - a JSONL file whose rows carry a `text` field (one document each, or with `group_by` the
    rows sharing that field's value, in file order, make one document: Gutenberg paragraphs
    grouped by `book_id`);
  - a directory saved by `datasets.save_to_disk` with a `text` column (same semantics);
  - `hub:ID[:CONFIG][@SPLIT]` (`datasets.load_dataset`; split defaults to train).
A document is a list of paragraphs (blank-line separated in a text, or one row each). Bad rows
are counted skips with their reason (not UTF-8, binary, not JSON, not an object, no text, empty),
never a crash; a file or directory that does not exist is one clear error.
"""

from __future__ import annotations

import json
import re
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
SHOWN = 5  # places kept per skip reason, for the report


@dataclass(frozen=True)
class Document:
    id: str
    title: str
    paragraphs: tuple[str, ...]


@dataclass
class DocumentLoad:
    documents: list[Document] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    """Rows or files passed over, by reason."""
    where: dict[str, list[str]] = field(default_factory=dict)
    """The first few of them per reason (`file.jsonl:LINE`, `dataset[INDEX]`, a file name)."""

    def skip(self, reason: str, at: str) -> None:
        self.skipped[reason] += 1
        shown = self.where.setdefault(reason, [])
        if len(shown) < SHOWN:
            shown.append(at)

    def summary(self) -> str:
        parts = []
        for why, count in self.skipped.items():
            shown = self.where.get(why, [])
            more = ", ..." if count > len(shown) else ""
            parts.append(f"{count} {why}" + (f" (at {', '.join(shown)}{more})" if shown else ""))
        return f"{len(self.documents)} documents (skipped: {', '.join(parts) or 'none'})"


def paragraphs_of(text: str) -> list[str]:
    return [p.strip() for p in PARAGRAPH_BREAK.split(text) if p.strip()]


def _is_binary(text: str) -> bool:
    return "\x00" in text or text.count("\ufffd") > max(3, len(text) // 100)


def _text_rows(path: Path, load: DocumentLoad):
    """(row id, parsed object) of a JSONL file; undecodable or bad lines are counted."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:
                load.skip("row not UTF-8", f"{path.name}:{number}")
                continue
            if not line.strip():
                continue
            try:
                yield f"{path.name}:{number}", json.loads(line)
            except json.JSONDecodeError:
                load.skip("row not JSON", f"{path.name}:{number}")


def _dataset_rows(source: str):
    if source.startswith("hub:"):
        from synth.hub_source import load_hub

        try:
            rows = load_hub(source)
        except ValueError as error:
            raise ValueError(f"documents {source!r}: {error}") from None
    else:
        from datasets import load_from_disk

        rows = load_from_disk(source)
    for index, row in enumerate(rows):
        yield f"{source}[{index}]", row


def _from_rows(rows, group_by: str | None, load: DocumentLoad) -> None:
    groups: OrderedDict[str, list[str]] = OrderedDict()
    titles: dict[str, str] = {}
    for row_id, row in rows:
        if not isinstance(row, dict):
            load.skip("row not an object", row_id)
            continue
        text = row.get("text")
        if not isinstance(text, str):
            load.skip("row without a text field", row_id)
            continue
        if _is_binary(text):
            load.skip("row holds binary data", row_id)
            continue
        if not text.strip():
            load.skip("empty text", row_id)
            continue
        key = str(row.get(group_by)) if group_by else row_id
        if group_by and group_by not in row:
            load.skip(f"row without {group_by!r}", row_id)
            continue
        groups.setdefault(key, []).extend(paragraphs_of(text))
        titles.setdefault(key, str(row.get("title", key)))
    for key, paragraphs in groups.items():
        load.documents.append(Document(key, titles[key], tuple(paragraphs)))


def _from_text_files(root: Path, load: DocumentLoad) -> None:
    for path in sorted(root.rglob("*.txt")):
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            load.skip("file not UTF-8", str(path.relative_to(root)))
            continue
        if _is_binary(text):
            load.skip("file holds binary data", str(path.relative_to(root)))
        elif not text.strip():
            load.skip("empty file", str(path.relative_to(root)))
        else:
            name = str(path.relative_to(root))
            load.documents.append(Document(name, path.stem, tuple(paragraphs_of(text))))


def load_documents(source: str, group_by: str | None = None) -> DocumentLoad:
    """Every usable document of `source` (see the module docstring)."""
    load = DocumentLoad()
    path = Path(source).expanduser()
    if source.startswith("hub:"):
        _from_rows(_dataset_rows(source), group_by, load)
    elif path.is_dir() and (path / "dataset_info.json").exists():
        _from_rows(_dataset_rows(str(path)), group_by, load)
    elif path.is_dir():
        _from_text_files(path, load)
    elif path.is_file():
        _from_rows(_text_rows(path, load), group_by, load)
    else:
        raise ValueError(
            f"documents {source!r}: no such file or directory (give a folder of .txt files, "
            "a JSONL with a text field, a saved dataset or hub:ID)"
        )
    return load
