"""What an index searches: title and text by default, the body alone on request
(the news benchmark's protocol), and the same fields for BM25, dense and the reranker."""

from __future__ import annotations

import json

import pytest

from ranker.cli import main
from ranker.data.records import Article
from ranker.index.folder import Index, build_index
from ranker.retrieve.bm25 import BM25Config

ARTICLES = [
    Article("q1", "Quotable", "Words of the week from the people in the news.", {}),
    Article("o1", "Oil slides", "Crude oil prices fell after the OPEC meeting in Vienna.", {}),
    Article("d1", "Dam repairs", "Engineers inspected the damaged spillway in California.", {}),
]


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps({"_id": a.doc_id, "title": a.title, "text": a.text}) + "\n" for a in ARTICLES))
    return path


def test_a_title_and_text_index_finds_an_article_by_its_title(corpus, tmp_path, capsys):
    assert main(["index", str(corpus), "--out", str(tmp_path / "tt"), "--retrievers", "bm25", "--quiet"]) == 0
    assert "over title and text" in capsys.readouterr().out
    assert main(["search", str(tmp_path / "tt"), "Quotable", "--json"]) == 0
    assert [h["doc_id"] for h in json.loads(capsys.readouterr().out)["hits"]] == ["q1"]
    # the benchmark's protocol, the body alone: the headline is not searched
    assert main(["index", str(corpus), "--out", str(tmp_path / "body"), "--retrievers", "bm25", "--fields", "text",
                 "--quiet"]) == 0
    capsys.readouterr()
    assert main(["search", str(tmp_path / "body"), "Quotable", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["hits"] == []
    assert Index.open(tmp_path / "body").manifest["fields"] == ["text"]


def test_fields_default_to_the_text_without_titles_and_bad_fields_are_one_line(tmp_path, capsys):
    manifest = build_index([Article("a", "", "oil prices")], tmp_path / "idx", show_progress=False)
    assert manifest["fields"] == ["text"]
    assert main(["index", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "x"), "--fields", "title,body"]) == 2
    assert "--fields: fields must be title, text or both" in capsys.readouterr().err


def test_title_boost_counts_the_title_more(tmp_path):
    one = build_index(ARTICLES, tmp_path / "one", BM25Config(title_boost=1), show_progress=False)
    three = build_index(ARTICLES, tmp_path / "three", BM25Config(title_boost=3), show_progress=False)
    assert one["components"]["bm25"]["title_boost"] == 1 and three["components"]["bm25"]["title_boost"] == 3
    score = {name: Index.open(tmp_path / name).bm25().search(["slides"], 1).scores[0, 0] for name in ("one", "three")}
    assert score["three"] > score["one"] > 0


def test_dense_and_the_reranker_read_the_same_fields(tmp_path, tiny_model):
    from ranker.retrieve.dense import DenseConfig
    from ranker.retrieve.embed import EmbedderConfig

    dense = DenseConfig(embedder=EmbedderConfig(model=str(tiny_model), max_length=32))
    build_index(ARTICLES, tmp_path / "idx", dense=dense, show_progress=False)
    index = Index.open(tmp_path / "idx")
    assert index.docs.texts([0]) == ["Quotable\nWords of the week from the people in the news."]
    embedder = index.dense().embedder
    stored = index.dense().vectors(tmp_path / "idx" / "dense")[0]
    assert abs(float(stored @ embedder.encode(index.docs.texts([0]))[0]) - 1) < 1e-5  # the title was encoded too
