"""The mining benchmark's comparison at toy size: ours and sentence-transformers'
mine_hard_negatives mine the same negatives from the same vectors. Speed is never
asserted here (``make bench`` measures it)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import mine_bench
from conftest import NEWS, random_corpus
from ranker.train.mine import TrainingQuery


def news_folder(root: Path, extra_docs: int = 40) -> list:
    """The six news articles plus random-word ones, returned; under ``root``, BEIR
    queries and train qrels: each article's title (news) or first words (random)
    is a query with that article as its positive."""
    from ranker.data.records import Article

    articles = [Article(i, t, x) for i, t, x in NEWS]
    articles += [Article(f"r{i}", "", text) for i, text in enumerate(random_corpus(extra_docs, seed=5))]
    (root / "qrels").mkdir(parents=True)
    queries = [(f"t{a.doc_id}", a.title or " ".join(a.text.split()[:4]), a.doc_id) for a in articles]
    (root / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t, _ in queries))
    (root / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n"
                                             + "".join(f"{q}\t{d}\t1\n" for q, _, d in queries))
    return articles


def test_both_miners_agree_on_a_tiny_dense_index(tmp_path, tiny_model):
    from ranker.index.folder import build_index
    from ranker.retrieve.dense import DenseConfig
    from ranker.retrieve.embed import EmbedderConfig

    articles = news_folder(tmp_path / "data")
    dense = DenseConfig(embedder=EmbedderConfig(model=str(tiny_model), max_length=64, batch_size=8), index_type="flat")
    build_index(articles, tmp_path / "idx", bm25=None, dense=dense, show_progress=False)
    # The tiny random model scores everything alike, so a 5% margin would leave
    # few negatives: a smaller one gives full groups to compare.
    row = mine_bench.compare(tmp_path / "idx", tmp_path / "data", n_queries=30, range_max=10, relative_margin=0.001,
                             repeat=1, min_agreement=1.0)
    assert row["queries"] == 30 and row["same_negatives"] == 1.0
    assert row["short"]["ranker"] < 30  # some groups are full, so negatives were really compared
    assert row["settings"]["range_max"] == {"ranker": 11, "mine_hard_negatives": 10}
    assert set(row["queries_per_second"]) == {"ranker", "mine_hard_negatives"} and row["ratio"] > 0


def test_same_negatives_catches_a_different_negative_and_a_missing_row():
    assert mine_bench.same_negatives(("a", "b", "c"), ("c", "a", "b"), 3)
    assert not mine_bench.same_negatives(("a", "b", "c"), ("a", "b", "d"), 3)
    assert not mine_bench.same_negatives(("a", "b", "c"), None, 3)
    assert mine_bench.same_negatives(("a",), None, 3)
    assert not mine_bench.same_negatives(("a",), ("a", "b", "c"), 3)


def test_sampling_keeps_a_querys_positives_together():
    training = [TrainingQuery(f"q{i}", f"text {i}", f"d{i}", frozenset({f"d{i}"})) for i in range(10)]
    training += [TrainingQuery("q10", "both", d, frozenset({"x", "y"})) for d in "xy"]
    for seed in range(10):
        chosen = mine_bench.sample_by_query(training, 5, seed)
        assert len({q.qid for q in chosen}) == 5
        assert sum(q.qid == "q10" for q in chosen) in (0, 2)
    assert mine_bench.max_positives(training) == 2
