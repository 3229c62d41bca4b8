"""No input makes a traceback: every source adapter and the config loader over arbitrary bytes.

Lines are drawn from raw bytes, JSON values of any shape, and records that carry the expected
fields with values of the wrong kinds, since that is where parsers trip. A bad record must be
a counted skip; a file that holds nothing usable may be one ValueError line; nothing else may
escape. A few dozen examples per source keep each test to seconds.
"""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from curricula.dashboard import load as load_dashboard
from rl.config import RunConfig
from rl.config_io import ConfigError, load_config, read_yaml
from synth import gsm8k
from synth.documents import load_documents
from synth.multihop_sources import load_filler, load_source

FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
logging.getLogger("synth").setLevel(logging.CRITICAL)  # the skips' own lines are not the point

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = ["question", "answer", "context", "supporting_facts", "paragraphs", "text", "title",
          "id", "_id", "question_decomposition", "answerable", "step", "book_id"]  # fmt: skip
records = st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=6)
lines = st.lists(
    st.one_of(
        st.binary(max_size=40).filter(lambda raw: b"\n" not in raw and b"\r" not in raw),
        json_values.map(lambda value: json.dumps(value).encode()),
        records.map(lambda record: json.dumps(record).encode()),
    ),
    max_size=8,
)


def _file(folder: str, name: str, content: list[bytes]) -> Path:
    path = Path(folder) / name
    path.write_bytes(b"\n".join(content) + b"\n")
    return path


@FUZZ
@given(lines)
def test_gsm8k_rows_are_skips_never_errors(content):
    with tempfile.TemporaryDirectory() as folder:
        stats = gsm8k.SourceStats("fuzz")
        rows = gsm8k.read_jsonl_rows(_file(folder, "train.jsonl", content), stats)
        problems = gsm8k.problems_from_rows(rows, stats, "fuzz")
    assert stats.accepted == len(problems) and stats.rows >= len(problems)
    assert sum(stats.rejected.values()) == stats.rows - stats.accepted
    assert "fuzz" in stats.summary()


@FUZZ
@given(
    lines, st.sampled_from(["hotpotqa", "2wiki", "musique"]), st.sampled_from([".jsonl", ".json"])
)
def test_multihop_records_are_skips_never_errors(content, fmt, suffix):
    with tempfile.TemporaryDirectory() as folder:
        path = _file(folder, "dev" + suffix, content)
        try:
            load = load_source(f"{fmt}:{path}")
        except ValueError as error:  # a .json file that is not one JSON list: one line
            assert suffix == ".json" and str(path) in str(error)
            return
    if suffix == ".jsonl":  # one outcome per line at most
        assert len(load.items) + sum(load.skipped.values()) + len(load.errors) <= len(content)


@FUZZ
@given(lines, st.sampled_from([".txt", ".jsonl", ".json"]))
@example([b'{"title": [null, "text"]}'], ".json")  # a corpus object with a non-text sentence
def test_filler_files_never_raise_more_than_one_line(content, suffix):
    with tempfile.TemporaryDirectory() as folder:
        path = _file(folder, "filler" + suffix, content)
        try:
            documents = load_filler(path, min_words=1)
        except ValueError as error:
            assert str(path) in str(error) and "\n" not in str(error)
            return
    assert all(isinstance(title, str) and text.strip() for title, text in documents)


@FUZZ
@given(lines, st.lists(st.binary(max_size=80), max_size=3))
def test_longpo_documents_are_skips_never_errors(content, texts):
    with tempfile.TemporaryDirectory() as folder:
        rows = load_documents(str(_file(folder, "rows.jsonl", content)), group_by=None)
        grouped = load_documents(str(_file(folder, "rows.jsonl", content)), group_by="book_id")
        for index, text in enumerate(texts):
            (Path(folder) / f"doc{index}.txt").write_bytes(text)
        files = load_documents(folder)
    for load in (rows, grouped, files):
        assert all(document.paragraphs for document in load.documents)


@FUZZ
@given(lines)
def test_dashboard_metrics_lines_are_skips_never_errors(content):
    with tempfile.TemporaryDirectory() as folder:
        report = load_dashboard(_file(folder, "metrics.jsonl", content))
    assert report.skipped_lines <= len(content)


@FUZZ
@given(st.one_of(st.binary(max_size=200), json_values.map(lambda v: json.dumps(v).encode())))
def test_config_files_are_one_config_error_at_most(content):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.yaml"
        path.write_bytes(content)
        try:
            read_yaml(path)
        except ConfigError as error:
            assert "\n" not in str(error)


overrides = st.lists(
    st.tuples(
        st.sampled_from(["trainer.lr", "steps", "name", "tasks.h1.options.source", "sampling",
                         "curriculum.schedule.kind", "eval.sets", "model", "a..b", ""]),
        st.text(max_size=12),
    ).map(lambda pair: f"{pair[0]}={pair[1]}"),
    max_size=3,
)  # fmt: skip


@FUZZ
@given(overrides)
def test_overrides_are_one_config_error_at_most(argv):
    try:
        load_config(RunConfig, None, argv)
    except ConfigError as error:
        assert "\n" not in str(error), str(error)
