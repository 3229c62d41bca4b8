"""The longpo generator: chunks of whole paragraphs, exact token counts, short prompts that are
verbatim slices of the long one, filters that count what they drop, documents that can be bad.

Pairs are made from real Gutenberg books with the real SmolLM2 tokenizer. The model's side is a
scripted responder (a test double for the model's text, so that each filter branch is reached
on purpose): it writes four questions for most chunks, a malformed list for some, and answers
that are sometimes empty, repetitive or refusals. The real model writes pairs in
tests/test_longpo_run.py.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from synth.documents import load_documents
from synth.longpo import (
    LongPOGenerator,
    chunk_document,
    parse_questions,
    rejected_problem,
    verify_pair,
)
from synth.preference import PreferencePair


def scripted_model(prompts, sampling):
    """Deterministic replies keyed on a hash of each prompt (see the module docstring)."""
    replies = []
    for messages in prompts:
        text = messages[-1]["content"]
        key = int(hashlib.sha1(text.encode()).hexdigest(), 16)
        if "Please generate 4 comprehensive" in text:
            if key % 7 == 0:
                reply = "1: Who?\n2: What?"  # not four
            else:
                reply = "\n".join(
                    f"{n}: What does paragraph {n} say about {key % 97}?" for n in range(1, 5)
                )
        elif key % 11 == 0:
            reply = "I'm sorry, I cannot answer that."
        elif key % 13 == 0:
            reply = "the the the the the the the the"
        else:
            reply = f"It says {len(text)} characters of things about {key % 89} and more."
        replies.append([reply] * sampling.get("n", 1))
    return replies


@pytest.fixture(scope="module")
def gutenberg(shared_data) -> str:
    return str(shared_data / "prose" / "gutenberg_paragraphs.jsonl")


@pytest.fixture(scope="module")
def generator(gutenberg) -> LongPOGenerator:
    return LongPOGenerator(source=gutenberg, text_group_by="book_id", complete=scripted_model)


def test_chunks_are_whole_paragraphs_within_their_bounds(generator):
    document = generator.documents.documents[0]
    count = generator.counter.count
    chunks = chunk_document(document, count, 256, 486)
    assert len(chunks) > 4
    paragraphs = set(document.paragraphs)
    for chunk in chunks:
        assert 256 <= count(chunk) < 486 + 8  # joins may add a token or two per paragraph
        assert all(piece in paragraphs for piece in chunk.split("\n\n"))


def test_a_paragraph_longer_than_a_chunk_is_split_at_sentence_ends(generator):
    from synth.documents import Document

    long_paragraph = " ".join(
        f"Sentence number {i} goes on for a little while." for i in range(200)
    )
    chunks = chunk_document(Document("x", "x", (long_paragraph,)), generator.counter.count, 64, 120)
    assert chunks and all(64 <= generator.counter.count(c) < 125 for c in chunks)


def test_pairs_are_recheckable_and_counted_exactly(generator):
    pairs = generator.sample({"chunk_tokens": 256}, n=6, seed=3)
    assert len({pair.id for pair in pairs}) == 6
    tokenizer = generator.counter.tokenizer
    for pair in pairs:
        verify_pair(pair)  # each short prompt's chunk is a verbatim slice of the long prompt
        meta = pair.meta_dict()
        rendered = tokenizer.apply_chat_template(
            pair.prompt, add_generation_prompt=True, tokenize=True, return_dict=True
        )
        assert meta["prompt_tokens"] == len(rendered["input_ids"])
        assert len(meta["chunk_tokens"]) == pair.turns() == len(pair.short_prompts)
        assert all(256 <= tokens for tokens in meta["chunk_tokens"])
        assert meta["document_tokens"] >= 4 * 256
        assert pair.chosen[0]["content"] != pair.rejected[0]["content"]
    # The same seed writes the same pairs; the filters counted what they dropped.
    again = LongPOGenerator(generator.config, complete=scripted_model)
    assert again.sample({"chunk_tokens": 256}, n=6, seed=3) == pairs
    summary = generator.summary()
    assert generator.skipped["questions did not parse into 4"] > 0
    assert generator.skipped["rejected answer a refusal"] > 0
    assert "questions did not parse into 4" in summary


def test_a_verbatim_slice_is_checked(generator):
    pair = generator.sample({"chunk_tokens": 256}, n=1, seed=5)[0]
    meta = pair.meta_dict()
    meta["chunk_spans"][0][0] += 1
    broken = PreferencePair(**(pair.model_dump() | {"meta": json.dumps(meta)}))
    with pytest.raises(ValueError, match="not the long prompt"):
        verify_pair(broken)


def test_filters_on_hand_made_answers():
    assert parse_questions("1: a?\n2: b?\n3: c?\n4: d?") == ["a?", "b?", "c?", "d?"]
    assert parse_questions("1. a?\n2) b?\n3: c?\n4: d?") == ["a?", "b?", "c?", "d?"]
    assert parse_questions("1: a?\n2: b?\n3: c?") is None
    assert parse_questions("1: a?\n2: b?\n3: c?\n4: d?\n4: e?") is None
    assert rejected_problem("", 0.5) == "rejected answer empty"
    assert rejected_problem("yes yes yes yes", 0.5) == "rejected answer repetitive"
    assert rejected_problem("I am sorry, but the text does not mention it.", 0.5)
    assert rejected_problem("The rabbit ran into the hole.", 0.5) is None


def test_bad_documents_are_counted_skips_or_one_error(tmp_path):
    lines = [
        json.dumps({"text": "A good first paragraph.\n\nAnd a second one.", "title": "ok"}),
        json.dumps({"text": ""}),
        json.dumps({"text": "bin\x00ary"}),
        json.dumps(["not", "an", "object"]),
        json.dumps({"title": "no text"}),
        "{broken json",
    ]
    path = tmp_path / "docs.jsonl"
    path.write_bytes(("\n".join(lines) + "\n").encode() + b"\xff\xfe not utf-8\n")
    load = load_documents(str(path))
    assert [d.paragraphs for d in load.documents] == [
        ("A good first paragraph.", "And a second one.")
    ]
    assert load.skipped == {
        "empty text": 1, "row holds binary data": 1, "row not an object": 1,
        "row without a text field": 1, "row not JSON": 1, "row not UTF-8": 1,
    }  # fmt: skip
    # the report says where: file and line of each skipped row
    assert "1 row not JSON (at docs.jsonl:6)" in load.summary()
    assert "1 row not UTF-8 (at docs.jsonl:7)" in load.summary()
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.txt").write_text("One.\n\nTwo.")
    (tmp_path / "texts" / "b.txt").write_bytes(b"\x00\x01\x02\xff")
    texts = load_documents(str(tmp_path / "texts"))
    assert len(texts.documents) == 1 and "(at b.txt)" in texts.summary()
    with pytest.raises(ValueError, match="no such file or directory"):
        load_documents(str(tmp_path / "missing"))
    short = LongPOGenerator(source=str(path), complete=scripted_model)
    with pytest.raises(ValueError, match="no document of .* holds 4 chunks"):
        short.sample({"chunk_tokens": 256}, n=1, seed=0)


def test_needs_a_model_and_a_known_level(generator, gutenberg):
    with pytest.raises(ValueError, match="needs a model"):
        LongPOGenerator(source=gutenberg).sample({"chunk_tokens": 256}, n=1, seed=0)
    with pytest.raises(ValueError, match="unknown level axis"):
        generator.sample({"chunk_tokens": 256, "depth": 2}, n=1, seed=0)
