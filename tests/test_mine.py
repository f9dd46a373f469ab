"""Hard-negative mining on a hand-made corpus: the expected negatives, never a positive."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from ranker.data.records import Article
from ranker.retrieve.base import Results
from ranker.retrieve.bm25 import BM25Retriever
from ranker.train.groups import read_groups
from ranker.train.mine import (
    Denoiser,
    MiningConfig,
    TrainingQuery,
    mine,
    positive_score,
    training_queries,
    within_margin,
    write_tables,
)

# Two outlets cover the OPEC story (o1 is the labelled positive, o2 an unlabelled
# near-copy: the false negative the margin must catch); o3/o4 are about oil but
# another story (true hard negatives); the rest share no word with the query.
CORPUS = [
    Article("o1", "", "OPEC agreed to cut oil production in Vienna, lifting crude prices"),
    Article("o2", "", "OPEC agreed in Vienna to cut oil production, crude prices rose"),
    Article("o3", "", "Oil companies reported profits as crude prices recovered"),
    Article("o4", "", "The price of heating oil rose in a cold winter"),
    Article("x1", "", "A federal judge blocked the travel ban"),
    Article("x2", "", "The Oroville dam spillway was damaged"),
    Article("x3", "", "Britain triggered Article 50"),
]
DOC_IDS = [a.doc_id for a in CORPUS]
QUERY = TrainingQuery("q1", "OPEC cut oil production in Vienna", "o1", frozenset({"o1"}))


@pytest.fixture
def bm25():
    retriever = BM25Retriever()
    retriever.index([a.text for a in CORPUS], show_progress=False)
    return retriever


def hard(bm25, config, queries=(QUERY,), denoiser=None):
    results = bm25.search([q.text for q in queries], config.depth)
    return mine(list(queries), DOC_IDS, config, results, denoiser)


def test_hard_negatives_are_the_expected_ones_and_never_a_positive(bm25):
    groups, report = hard(bm25, MiningConfig(strategy="bm25", num_negatives=2, relative_margin=None))
    negatives = [DOC_IDS[r] for r in groups[0].negatives]
    assert "o1" not in negatives
    # Without a margin the near-copy o2 is taken first: the false negative.
    assert negatives == ["o2", "o4"]
    assert groups[0].ranks == (2, 3)
    assert report.removed["labelled positive"] == 1


def test_margin_drops_the_near_copy_of_the_positive(bm25):
    results = bm25.search([QUERY.text], 100)
    positive, found = positive_score(results, 0, {0})
    near_copy = dict(results.hits(0))[1]
    assert found and near_copy >= 0.95 * positive  # the premise: o2 scores within 5%
    groups, report = hard(bm25, MiningConfig(strategy="bm25", num_negatives=2, relative_margin=0.05))
    negatives = [DOC_IDS[r] for r in groups[0].negatives]
    assert negatives == ["o4", "o3"]
    assert report.removed["too close to the positive's score (margin)"] == 1


def test_within_margin_relative_and_absolute():
    relative = MiningConfig(relative_margin=0.1)
    assert within_margin(9.0, 10.0, relative) and not within_margin(8.9, 10.0, relative)
    absolute = MiningConfig(relative_margin=None, absolute_margin=2.0)
    assert within_margin(8.0, 10.0, absolute) and not within_margin(7.9, 10.0, absolute)
    assert not within_margin(9.99, 10.0, MiningConfig(relative_margin=None))


def test_several_labelled_positives_are_all_excluded(bm25):
    query = TrainingQuery("q1", QUERY.text, "o1", frozenset({"o1", "o2"}))
    groups, report = hard(bm25, MiningConfig(strategy="bm25", num_negatives=3, relative_margin=None), (query,))
    assert {DOC_IDS[r] for r in groups[0].negatives}.isdisjoint({"o1", "o2"})
    assert report.removed["labelled positive"] == 2


def test_window_and_random_sampling(bm25):
    groups, _ = hard(bm25, MiningConfig(strategy="bm25", range_min=2, range_max=4, num_negatives=5,
                                        relative_margin=None))
    assert all(2 < rank <= 4 for rank in groups[0].ranks)
    for seed in range(5):
        config = MiningConfig(strategy="bm25", num_negatives=2, sampling="random", relative_margin=None, seed=seed)
        groups, _ = hard(bm25, config)
        assert len(groups[0].negatives) == 2 and 0 not in groups[0].negatives


def test_random_strategy_never_picks_a_positive():
    query = TrainingQuery("q1", "anything", "o1", frozenset({"o1", "o2"}))
    for seed in range(20):
        groups, _ = mine([query], DOC_IDS, MiningConfig(strategy="random", num_negatives=5, seed=seed))
        assert len(groups[0].negatives) == 5 and not {0, 1} & set(groups[0].negatives)


def test_short_queries_are_counted():
    results = Results(np.array([[0, 1]]), np.array([[5.0, 4.99]]))
    groups, report = mine([QUERY], DOC_IDS, MiningConfig(strategy="bm25", num_negatives=3), results)
    assert groups[0].negatives == () and report.short == 1 and report.without_negatives == 1
    assert "1 of 1 queries got fewer than 3 negatives (1 got none)" in report.lines(3)


def test_denoiser_vetoes_what_the_cross_encoder_scores_near_the_positive(bm25):
    def score(queries, texts):
        # The "cross-encoder" thinks o3 is as relevant as the positive.
        return np.array([9.0 if "profits" in t or "Vienna" in t else 0.0 for t in texts])

    denoiser = Denoiser(score, lambda rows: [CORPUS[r].text for r in rows], margin=1.0)
    groups, report = hard(bm25, MiningConfig(strategy="bm25", num_negatives=2, relative_margin=None), denoiser=denoiser)
    negatives = [DOC_IDS[r] for r in groups[0].negatives]
    assert "o3" not in negatives and "o2" not in negatives
    assert report.removed["scored near the positive by the cross-encoder (denoised)"] == 2


def test_tables_round_trip(tmp_path, bm25):
    groups, report = hard(bm25, MiningConfig(strategy="bm25", num_negatives=2))
    write_tables(groups, DOC_IDS, tmp_path, {"note": "test"})
    rows = read_groups(tmp_path)
    assert rows == [("q1", QUERY.text, "o1", ["o4", "o3"], "")]  # a labelled query: nothing cut from its positive
    pairs = pq.read_table(tmp_path / "pairs.parquet").to_pydict()
    assert pairs["doc_id"] == ["o1", "o4", "o3"] and pairs["label"] == [1, 0, 0]


def test_tables_are_checked_against_their_sha256s_and_never_replace_other_files(tmp_path, bm25, capsys):
    from ranker.cli import main
    from ranker.core.errors import InputError

    groups, _ = hard(bm25, MiningConfig(strategy="bm25", num_negatives=2))
    mined = tmp_path / "mined"
    write_tables(groups, DOC_IDS, mined, {"note": "first"})
    assert main(["verify", str(mined)]) == 0
    assert capsys.readouterr().out == f"ok: mined tables {mined}\n"
    # a second run replaces all three files as one
    write_tables(groups[:0], DOC_IDS, mined, {"note": "second"})
    assert json.loads((mined / "mining.json").read_text())["note"] == "second" and read_groups(mined) == []
    write_tables(groups, DOC_IDS, mined, {"note": "third"})
    table = pq.read_table(mined / "groups.parquet")
    pq.write_table(table.slice(0, 0), mined / "groups.parquet")  # someone edits the table
    with pytest.raises(InputError, match="groups.parquet: sha256 differs from the list.*mine again"):
        read_groups(mined)
    other = tmp_path / "notes"
    other.mkdir()
    (other / "todo.txt").write_text("keep me")
    with pytest.raises(InputError, match="holds other files, not only mined tables"):
        write_tables(groups, DOC_IDS, other, {})
    assert [p.name for p in other.iterdir()] == ["todo.txt"]
    (mined / "todo.txt").write_text("keep me too")  # mined tables with something else beside them
    with pytest.raises(InputError, match="holds other files"):
        write_tables(groups, DOC_IDS, mined, {})
    assert (mined / "todo.txt").read_text() == "keep me too"


def test_training_queries_one_per_positive():
    from ranker.data.records import Query

    out = training_queries([Query("q", "oil")], {"q": {"a": 1, "b": 1, "c": 0}})
    assert [(t.positive, sorted(t.positives)) for t in out] == [("a", ["a", "b"]), ("b", ["a", "b"])]
