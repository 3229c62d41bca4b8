"""The multi-hop source adapters and filler loaders, on the reference data in ../shared/data.

2WikiMultiHopQA and MuSiQue files are not in the reference data: those tests write records in
each official layout, built from real HotpotQA records.
"""

from __future__ import annotations

import json
import logging

import pytest

from synth.multihop_sources import (
    MultiHopItem,
    load_filler,
    load_source,
    paragraph_pool,
    parse_spec,
)


@pytest.fixture(scope="module")
def hotpot_records(shared_data) -> list[dict]:
    path = shared_data / "multihop" / "hotpotqa_dev_distractor_500.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def _write_jsonl(path, records) -> str:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return str(path)


def test_hotpotqa_original_format_counts_empty_contexts(shared_data):
    load = load_source(f"hotpotqa:{shared_data}/multihop/hotpotqa_dev_distractor_500.jsonl")
    assert len(load.items) == 498
    assert dict(load.skipped) == {"empty context": 2}
    assert load.errors == []
    item = load.items[0]
    assert item.id == "5a7166395542994082a3e814" and item.answers == ("Kansas Song",)
    assert len(item.paragraphs) == 10
    # Supporting titles are flagged where the context holds them (this record's context lacks
    # its "Kansas Song" supporting paragraph).
    assert [p.title for p in item.paragraphs if p.is_supporting] == ["University of Kansas"]
    # Sentences are joined as written (each carries its own leading space).
    assert item.paragraphs[0].text.startswith("The history of the Kansas City metropolitan area")
    assert "  " not in item.paragraphs[0].text


def test_hf_layout_matches_the_original_layout(shared_data, hotpot_records):
    load = load_source(
        f"hotpotqa-hf:{shared_data}/multihop/hotpotqa_dev_distractor_100_hfformat.json"
    )
    assert len(load.items) == 100 and not load.skipped
    assert len({item.id for item in load.items}) == 100  # ids made from the questions
    original = {r["question"]: r for r in hotpot_records}
    overlap = [item for item in load.items if item.question in original]
    assert len(overlap) == 8
    for item in overlap:
        record = original[item.question]
        # The dumps differ in whitespace (one keeps no-break spaces): compare words.
        texts = {title: "".join(sentences).split() for title, sentences in record["context"]}
        common = {p.title for p in item.paragraphs} & set(texts)
        # The two dumps differ by at most two paragraphs per question (one drops gold ones).
        assert len(common) >= len(texts) - 2
        assert all(p.text.split() == texts[p.title] for p in item.paragraphs if p.title in common)


def test_2wiki_layout(tmp_path, hotpot_records):
    records = []
    for record in hotpot_records[:3]:
        records.append(
            {
                "_id": "2wiki-" + record["_id"],
                "type": "compositional",
                "question": record["question"],
                "context": record["context"],
                "supporting_facts": record["supporting_facts"],
                "evidences": [["a", "relation", "b"]],
                "answer": record["answer"],
            }
        )
    load = load_source(f"2wiki:{_write_jsonl(tmp_path / 'dev.jsonl', records)}")
    assert [item.id for item in load.items] == [r["_id"] for r in records]
    assert all(any(p.is_supporting for p in item.paragraphs) for item in load.items)


def test_musique_layout_with_aliases_and_unanswerable(tmp_path, hotpot_records):
    records = []
    for number, record in enumerate(hotpot_records[:4]):
        supporting = {title for title, _ in record["supporting_facts"]}
        records.append(
            {
                "id": f"2hop__{number}",
                "question": record["question"],
                "answer": record["answer"],
                "answer_aliases": [record["answer"].upper(), record["answer"]],
                "answerable": number != 3,
                "paragraphs": [
                    {
                        "idx": i,
                        "title": title,
                        "paragraph_text": "".join(sentences),
                        "is_supporting": title in supporting,
                    }
                    for i, (title, sentences) in enumerate(record["context"])
                ],
            }
        )
    path = tmp_path / "musique.json"
    path.write_text(json.dumps(records))
    load = load_source(f"musique:{path}")
    assert [item.id for item in load.items] == ["2hop__0", "2hop__1", "2hop__2"]
    assert dict(load.skipped) == {"unanswerable": 1}
    first = load.items[0]
    assert first.answers == ("Kansas Song", "KANSAS SONG")  # gold first, duplicates dropped
    assert [p.title for p in first.paragraphs if p.is_supporting] == ["University of Kansas"]


def test_tiny_contexts_missing_answers_and_malformed_records(tmp_path, hotpot_records, caplog):
    good = hotpot_records[0]
    tiny = dict(good, _id="tiny", context=good["context"][:1])
    no_answer = dict(good, _id="no-answer", answer="")
    no_question = {k: v for k, v in good.items() if k != "question"} | {"_id": "no-question"}
    bad_context = dict(good, _id="bad-context", context=7)
    path = tmp_path / "mixed.jsonl"
    lines = [json.dumps(r) for r in (good, tiny, no_answer, no_question, bad_context)]
    lines.insert(2, "{not json")
    path.write_text("\n".join(lines) + "\n")
    with caplog.at_level(logging.ERROR, logger="synth.multihop_sources"):
        load = load_source(f"hotpotqa:{path}")
    assert [item.id for item in load.items] == [good["_id"]]
    assert dict(load.skipped) == {"tiny context": 1, "missing answer": 1}
    assert len(load.errors) == 3
    assert "no-question" in load.errors[1] and "'question'" in load.errors[1]
    assert "bad-context" in load.errors[2] and f"{path}:3" in load.errors[0]
    assert sum("malformed" in r.message for r in caplog.records) == 3
    assert "3 malformed" in load.summary()


def test_hub_source_through_datasets_load_dataset(shared_data, tmp_path):
    # The Hub itself is not reachable from the tests (HF_HUB_OFFLINE): the `hub:` path runs the
    # real `datasets.load_dataset` code with its local "json" builder on a reference file.
    path = shared_data / "multihop" / "hotpotqa_dev_distractor_100_hfformat.json"
    hub = load_source("hub:json@train", data_files=str(path), cache_dir=str(tmp_path))
    local = load_source(f"hotpotqa-hf:{path}")
    assert len(hub.items) == 100
    with pytest.raises(ValueError, match="did not load"):  # offline: one line, not a traceback
        load_source("hub:no-such-owner/no-such-dataset")
    assert [(i.question, i.answers, i.paragraphs) for i in hub.items] == [
        (i.question, i.answers, i.paragraphs) for i in local.items
    ]


def test_bad_specs_name_the_fix(tmp_path):
    with pytest.raises(ValueError, match="FORMAT:PATH"):
        parse_spec("squad:data.json")
    with pytest.raises(ValueError, match="is not a file"):
        load_source(f"hotpotqa:{tmp_path / 'missing.jsonl'}")


def test_filler_corpora(shared_data, tmp_path):
    gutenberg = load_filler(shared_data / "prose" / "gutenberg_paragraphs.jsonl")
    assert len(gutenberg) == 8221
    assert gutenberg[0][0] == "Alice's Adventures in Wonderland"
    corpus = load_filler(shared_data / "multihop" / "hotpotqa_train_100_hipporag_corpus.json")
    assert corpus[0][0] == "Demon Dice" and corpus[0][1].startswith("Demon Dice, originally")
    assert all(len(text.split()) >= 20 for _, text in corpus)

    folder = tmp_path / "texts"
    folder.mkdir()
    words = " ".join(f"word{i}" for i in range(25))
    (folder / "essay.txt").write_text(f"{words}\n\n{words} again\n\ntoo short\n")
    (folder / "notes.jsonl").write_text(json.dumps({"text": words + " notes"}) + "\n{bad\n")
    documents = load_filler(folder)
    assert sorted(documents) == [
        ("essay", words),
        ("essay", words + " again"),
        ("notes", words + " notes"),
    ]
    with pytest.raises(ValueError, match="no such file"):
        load_filler(tmp_path / "nothing")


def test_paragraph_pool_is_distinct():
    from synth.multihop_sources import Paragraph

    text = "x " * 30
    items = [
        MultiHopItem("a", "q1", ("a",), (Paragraph("T", text), Paragraph("U", text + "y"))),
        MultiHopItem("b", "q2", ("b",), (Paragraph("T", text), Paragraph("V", "short"))),
    ]
    assert paragraph_pool(items) == [("T", text), ("U", text + "y")]
