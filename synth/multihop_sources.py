"""Multi-hop QA sources and filler corpora, normalised for the keychain and multihop generators.

A source spec names a format and where its records live:
  hotpotqa:PATH     HotpotQA original layout (`_id`, `context` [[title, [sentences]]])
  hotpotqa-hf:PATH  the Hugging Face `hotpot_qa` layout (`context: {title, sentences}`)
  2wiki:PATH        2WikiMultiHopQA (HotpotQA-like; either context layout)
  musique:PATH      MuSiQue's official layout (`paragraphs [{idx, title, paragraph_text,
                    is_supporting}]`, `answer_aliases`, `answerable`)
  hub:ID[:CONFIG][@SPLIT]  a Hub dataset through `datasets.load_dataset`; the layout is
                    detected per record (e.g. `hub:hotpotqa/hotpot_qa:distractor@train`)
PATH is a JSON file (a list, or an object with a `data` list) or JSONL.

Every record becomes a `MultiHopItem`, is skipped under a counted reason (empty or tiny
context, missing answer, unanswerable), or is malformed: one error line naming the file,
record and id, counted, and the load goes on.

Filler corpora (`load_filler`): JSONL with a `text` field (`title` optional), a JSON list of
{title, text}, a JSON object {title: text or [sentences]} (HippoRAG's corpus), plain text files
split at blank lines, or a folder of those.

Run `python -m synth.multihop_sources SPEC` for the load report.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sys
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synth.jsonl import BadLine, SkipTally, read_json_file, read_jsonl, read_text_lines

log = logging.getLogger(__name__)

FORMATS = ("hotpotqa", "hotpotqa-hf", "2wiki", "musique", "hub")


class MalformedRecord(ValueError):
    """A record that does not have the fields its format promises."""


@dataclass(frozen=True)
class Paragraph:
    title: str
    text: str
    is_supporting: bool = False


@dataclass(frozen=True)
class MultiHopItem:
    id: str
    question: str
    answers: tuple[str, ...]
    """The gold answer first, then its aliases."""
    paragraphs: tuple[Paragraph, ...]
    source: str = ""


@dataclass
class SourceLoad:
    """What a load produced: the items, counted skips by reason, and one line per error."""

    items: list[MultiHopItem] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        skips = ", ".join(f"{reason}: {count}" for reason, count in sorted(self.skipped.items()))
        return (
            f"{len(self.items)} items, {sum(self.skipped.values())} skipped ({skips or 'none'}), "
            f"{len(self.errors)} malformed"
        )


# ---------------------------------------------------------------- record parsers


def _require(record: dict[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in record:
        raise MalformedRecord(f"missing field {key!r}")
    value = record[key]
    if not isinstance(value, kind):
        raise MalformedRecord(f"field {key!r} is {type(value).__name__}, not {kind}")
    return value


def _record_id(record: dict[str, Any]) -> str:
    for key in ("_id", "id"):
        if record.get(key) not in (None, ""):
            return str(record[key])
    # The HF hotpot layout in some dumps has no id: name the item by its question.
    question = str(record.get("question", ""))
    return "q" + hashlib.sha1(question.encode()).hexdigest()[:16]


def _hotpot_context(context: Any) -> list[tuple[str, str]]:
    """(title, text) pairs from either context layout; a JSON string is decoded first."""
    if isinstance(context, str):
        try:
            context = json.loads(context)
        except json.JSONDecodeError as error:
            raise MalformedRecord(f"context is a string that is not JSON ({error})") from None
    if isinstance(context, dict):
        titles, sentences = context.get("title"), context.get("sentences")
        if not isinstance(titles, list) or not isinstance(sentences, list):
            raise MalformedRecord("context dict needs lists `title` and `sentences`")
        if len(titles) != len(sentences):
            raise MalformedRecord(f"context has {len(titles)} titles but {len(sentences)} texts")
        pairs = list(zip(titles, sentences, strict=True))
    elif isinstance(context, list):
        pairs = []
        for entry in context:
            if not isinstance(entry, list | tuple) or len(entry) != 2:
                raise MalformedRecord("context entries must be [title, [sentences]]")
            pairs.append((entry[0], entry[1]))
    else:
        raise MalformedRecord(f"context is {type(context).__name__}, not a list or dict")
    paragraphs = []
    for title, sentences in pairs:
        if isinstance(sentences, str):
            sentences = [sentences]
        if not isinstance(title, str) or not all(isinstance(s, str) for s in sentences):
            raise MalformedRecord("context titles and sentences must be strings")
        paragraphs.append((title.strip(), "".join(sentences).strip()))
    return paragraphs


def _supporting_titles(record: dict[str, Any]) -> set[str]:
    facts = record.get("supporting_facts") or []
    if isinstance(facts, dict):  # HF layout: {title: [...], sent_id: [...]}
        return {str(title) for title in facts.get("title", [])}
    return {str(fact[0]) for fact in facts if isinstance(fact, list | tuple) and fact}


def parse_hotpotqa(record: dict[str, Any], source: str = "") -> MultiHopItem:
    """HotpotQA, its HF layout and 2WikiMultiHopQA: the same fields under two context shapes."""
    question = _require(record, "question", str)
    answer = record.get("answer")
    answers = (answer.strip(),) if isinstance(answer, str) and answer.strip() else ()
    supporting = _supporting_titles(record)
    paragraphs = tuple(
        Paragraph(title, text, title in supporting)
        for title, text in _hotpot_context(_require(record, "context", (list, dict, str)))
    )
    return MultiHopItem(_record_id(record), question.strip(), answers, paragraphs, source)


def parse_musique(record: dict[str, Any], source: str = "") -> MultiHopItem:
    question = _require(record, "question", str)
    answers = [record.get("answer")] + list(record.get("answer_aliases") or [])
    answers = tuple(dict.fromkeys(a.strip() for a in answers if isinstance(a, str) and a.strip()))
    paragraphs = []
    for entry in _require(record, "paragraphs", list):
        if not isinstance(entry, dict) or not isinstance(entry.get("paragraph_text"), str):
            raise MalformedRecord("paragraphs entries need a string `paragraph_text`")
        title = str(entry.get("title") or "").strip()
        paragraphs.append(
            Paragraph(title, entry["paragraph_text"].strip(), bool(entry.get("is_supporting")))
        )
    return MultiHopItem(_record_id(record), question.strip(), answers, tuple(paragraphs), source)


PARSERS = {
    "hotpotqa": parse_hotpotqa,
    "hotpotqa-hf": parse_hotpotqa,
    "2wiki": parse_hotpotqa,
    "musique": parse_musique,
}


def detect_format(record: dict[str, Any]) -> str:
    """The layout of a Hub record, read from its fields."""
    if "paragraphs" in record:
        return "musique"
    if "evidences" in record:
        return "2wiki"
    return "hotpotqa-hf" if isinstance(record.get("context"), dict) else "hotpotqa"


def skip_reason(
    item: MultiHopItem, record: dict[str, Any], min_paragraphs: int, min_context_words: int
) -> str | None:
    """Why an item cannot make a task, or None when it can."""
    if record.get("answerable") is False:
        return "unanswerable"
    if not item.answers:
        return "missing answer"
    texts = [p.text for p in item.paragraphs if p.text]
    if not texts:
        return "empty context"
    if len(texts) < min_paragraphs or sum(len(t.split()) for t in texts) < min_context_words:
        return "tiny context"
    return None


# ---------------------------------------------------------------- reading records


def _json_records(path: Path) -> Iterator[tuple[str, Any]]:
    """(location, record) pairs; a line that is not JSON is yielded as a MalformedRecord."""
    if path.suffix == ".jsonl":
        for line_number, value in read_jsonl(path):
            if isinstance(value, BadLine):
                value = MalformedRecord(f"{value.reason} ({value.detail})")
            yield f"{path}:{line_number}", value
        return
    data = read_json_file(path)
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        data = data["data"]
    if not isinstance(data, list):
        raise ValueError(f"{path}: expected a JSON list of records (or JSONL); got {type(data)}")
    for index, record in enumerate(data):
        yield f"{path}[{index}]", record


def hub_records(spec: str, **kwargs: Any):
    """Rows of a Hub dataset (or any `datasets.load_dataset` path, e.g. "json" + data_files)."""
    from synth.hub_source import load_hub

    return load_hub(spec, fix="check the id or pass a local file", **kwargs)


def parse_spec(spec: str) -> tuple[str, str]:
    fmt, sep, where = spec.partition(":")
    if not sep or fmt not in FORMATS or not where:
        raise ValueError(
            f"source {spec!r}: write FORMAT:PATH with FORMAT one of {', '.join(FORMATS)} "
            "(e.g. hotpotqa:data/dev.jsonl or hub:hotpotqa/hotpot_qa:distractor@train)"
        )
    return fmt, where


def load_source(
    spec: str,
    *,
    min_paragraphs: int = 2,
    min_context_words: int = 50,
    max_items: int | None = None,
    **hub_kwargs: Any,
) -> SourceLoad:
    """Items of a source spec, with counted skips and one error line per malformed record."""
    fmt, where = parse_spec(spec)
    if fmt == "hub":
        rows: Iterable[tuple[str, Any]] = (
            (f"{spec}[{i}]", row) for i, row in enumerate(hub_records(where, **hub_kwargs))
        )
    else:
        path = Path(where).expanduser()
        if not path.is_file():
            raise ValueError(f"source {spec!r}: {path} is not a file")
        rows = _json_records(path)
    load = SourceLoad()
    for location, record in rows:
        if max_items is not None and len(load.items) >= max_items:
            break
        record_id = _record_id(record) if isinstance(record, dict) else "?"
        try:
            if isinstance(record, MalformedRecord):
                raise record
            if not isinstance(record, dict):
                raise MalformedRecord(f"a record is a JSON object, not {type(record).__name__}")
            parser = PARSERS[detect_format(record) if fmt == "hub" else fmt]
            item = parser(record, source=spec)
        except MalformedRecord as error:
            line = f"{location} (id {record_id}): malformed {fmt} record: {error}; fix or drop it"
            log.error(line)
            load.errors.append(line)
            continue
        reason = skip_reason(item, record, min_paragraphs, min_context_words)
        if reason:
            load.skipped[reason] += 1
        else:
            load.items.append(item)
    log.info("%s: %s", spec, load.summary())
    return load


# ---------------------------------------------------------------- filler corpora


def _filler_file(path: Path) -> Iterator[tuple[str, str]]:
    if path.suffix == ".txt":
        skips = SkipTally()
        text = read_text_lines(path, skips)
        if skips.counts:
            log.warning("filler %s: lines skipped: %s", path, skips.summary())
        for paragraph in text.split("\n\n"):
            yield path.stem, " ".join(paragraph.split())
        return
    for location, record in _json_records(path):
        if isinstance(record, MalformedRecord):
            log.error("%s: filler record %s; skipped", location, record)
            continue
        if isinstance(record, dict) and isinstance(record.get("text"), str):
            yield str(record.get("title") or path.stem), record["text"]
        else:
            log.error("%s: filler record has no string `text` field; skipped", location)


def _corpus_object(path: Path) -> Iterator[tuple[str, str]] | None:
    """HippoRAG-style {title: text or [sentences]}; None when the file is something else."""
    if path.suffix != ".json":
        return None
    data = read_json_file(path)
    if not isinstance(data, dict) or "data" in data:
        return None
    return ((str(title), _corpus_text(body)) for title, body in data.items())


def _corpus_text(body: Any) -> str:
    """A corpus entry's text; what is neither text nor a list of sentences counts as empty."""
    if isinstance(body, str):
        return body
    if isinstance(body, list):
        return "".join(part for part in body if isinstance(part, str))
    return ""


def load_filler(path: str | Path, min_words: int = 20) -> list[tuple[str, str]]:
    """(title, text) filler documents, deduplicated, each at least `min_words` words."""
    root = Path(path).expanduser()
    if root.is_dir():
        files = sorted(p for p in root.rglob("*") if p.suffix in (".txt", ".jsonl", ".json"))
    elif root.is_file():
        files = [root]
    else:
        raise ValueError(f"filler {path}: no such file or folder")
    documents: dict[str, tuple[str, str]] = {}
    short = 0
    for file in files:
        pairs = _corpus_object(file) or _filler_file(file)
        for title, text in pairs:
            text = text.strip()
            if len(text.split()) < min_words:
                short += 1
                continue
            documents.setdefault(text, (title.strip() or file.stem, text))
    if not documents:
        raise ValueError(f"filler {path}: no document of {min_words}+ words found")
    log.info(
        "filler %s: %d documents (%d shorter than %d words skipped)",
        path,
        len(documents),
        short,
        min_words,
    )
    return list(documents.values())


def paragraph_pool(items: Iterable[MultiHopItem], min_words: int = 20) -> list[tuple[str, str]]:
    """Every distinct paragraph of the items, as (title, text) filler."""
    pool: dict[tuple[str, str], None] = {}
    for item in items:
        for paragraph in item.paragraphs:
            if len(paragraph.text.split()) >= min_words:
                pool.setdefault((paragraph.title, paragraph.text), None)
    return list(pool)


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    for spec in argv if argv is not None else sys.argv[1:]:
        print(f"{spec}: {load_source(spec).summary()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
