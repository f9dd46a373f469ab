"""TREC runs round trip byte for byte; metrics equal a hand-computed case."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from ranker.core.errors import InputError
from ranker.data.qrels import read_qrels, write_qrels
from ranker.eval.metrics import evaluate, evaluate_per_query
from ranker.eval.runs import read_run, write_run

GOLDEN_RUN = {"q1": {"d1": 1.0, "d2": 1.0, "d3": 2.5}, "q2": {"d9": -0.25}}


def test_run_round_trip_matches_golden_file(tmp_path):
    golden = Path(__file__).parent / "golden" / "run.trec"
    write_run(tmp_path / "run.trec", GOLDEN_RUN, tag="bm25")
    assert (tmp_path / "run.trec").read_text() == golden.read_text()  # ties by docid: d1 before d2
    assert read_run(golden) == GOLDEN_RUN
    write_run(tmp_path / "again.trec", read_run(golden), tag="bm25")
    assert (tmp_path / "again.trec").read_bytes() == golden.read_bytes()


def test_qrels_round_trip(tmp_path):
    qrels = {"q1": {"d1": 1, "d2": 0}, "q2": {"d3": 2}}
    write_qrels(tmp_path / "qrels.txt", qrels)
    assert read_qrels(tmp_path / "qrels.txt") == qrels


@pytest.mark.parametrize(
    "line, problem",
    [
        ("q1 Q0 d1 1 2.5\n", "expected 'qid Q0 docid rank score tag', got 5 fields"),
        ("q1 Q0 d1 1 high bm25\n", "score 'high' is not a finite number"),
        ("q1 Q0 d1 1 nan bm25\n", "score 'nan' is not a finite number"),
        ("q1 Q0 d1 zero 1.0 bm25\n", "rank 'zero' is not a positive integer"),
        ("q1 Q0 d1 1 1.0 bm25\nq1 Q0 d1 2 0.5 bm25\n", "document 'd1' is listed twice"),
    ],
)
def test_malformed_run_lines(tmp_path, line, problem):
    path = tmp_path / "run.trec"
    path.write_text(line)
    with pytest.raises(InputError, match=problem):
        read_run(path)


def test_metrics_equal_hand_computed_values():
    qrels = {"q1": {"d2": 1}, "q2": {"d1": 1, "d4": 1}, "q3": {"d7": 1}}
    run = {
        "q1": {"d1": 3.0, "d2": 2.0, "d3": 1.0},  # relevant at rank 2
        "q2": {"d1": 3.0, "d2": 2.0, "d4": 1.0},  # relevant at ranks 1 and 3
        # q3 is missing from the run: it counts as zero
    }
    scores = evaluate(run, qrels)
    assert scores["MRR@10"] == pytest.approx((1 / 2 + 1 + 0) / 3)
    assert scores["R@1"] == pytest.approx((0 + 1 / 2 + 0) / 3)
    assert scores["R@10"] == pytest.approx((1 + 1 + 0) / 3)
    assert scores["MAP"] == pytest.approx((1 / 2 + (1 + 2 / 3) / 2 + 0) / 3)
    ndcg_q2 = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert scores["nDCG@10"] == pytest.approx((1 / math.log2(3) + ndcg_q2 + 0) / 3)
    per_query = evaluate_per_query(run, qrels)
    assert per_query["q3"]["MRR@10"] == 0.0 and per_query["q1"]["MRR@10"] == 0.5
