"""The label audit: same-event articles from other outlets counted relevant, runs scored both ways."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipelines.label_audit import main, same_event_qrels
from ranker.data.records import Article
from ranker.eval.runs import write_run

VOTE = "senate votes to confirm devos as education secretary after pence breaks the tie"
ARTICLES = [
    # d1's event told by another outlet the same day (d2), by the same outlet (d3), two days later (d4)
    Article("d1", "DeVos confirmed", VOTE, {"outlet": "CNN", "date": "2017-02-07"}),
    Article("d2", "Pence breaks tie", VOTE + " in a historic vote", {"outlet": "BBC", "date": "2017-02-07"}),
    Article("d3", "DeVos vote", VOTE + " again", {"outlet": "CNN", "date": "2017-02-07"}),
    Article("d4", "DeVos a week on", VOTE + " last week", {"outlet": "RTÉ", "date": "2017-02-09"}),
    Article("d5", "Snow", "a snow storm closes schools across the northeast and airlines cancel flights",
            {"outlet": "BBC", "date": "2017-02-07"}),
    Article("d6", "Undated", VOTE, {"outlet": "DW", "date": None}),
    Article("d7", "Storm", "the snow storm closes schools and cancels flights across the northeast",
            {"outlet": "DW", "date": "2017-02-08"}),
]


def test_only_other_outlets_within_the_days_and_similar_texts_count():
    lenient = same_event_qrels(ARTICLES, {"q1": {"d1": 1}, "q2": {"d5": 1}, "q3": {"d9": 1}})
    assert lenient["q1"] == {"d1": 1, "d2": 1}  # not d3 (same outlet), d4 (2 days), d6 (undated), d5 (other event)
    assert lenient["q2"] == {"d5": 1, "d7": 1}
    assert lenient["q3"] == {"d9": 1}  # a labelled article missing from the corpus adds nothing
    assert same_event_qrels(ARTICLES, {"q1": {"d1": 1}}, max_days=2)["q1"] == {"d1": 1, "d2": 1, "d4": 1}


def test_a_run_that_ranks_another_outlets_report_first_gains_only_when_same_event_counts(tmp_path: Path):
    data = tmp_path / "data"
    (data / "qrels").mkdir(parents=True)
    with open(data / "corpus.jsonl", "w") as handle:
        for a in ARTICLES:
            handle.write(json.dumps({"_id": a.doc_id, "title": a.title, "text": a.text, "metadata": a.metadata}) + "\n")
    (data / "qrels" / "test-title.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td5\t1\n")
    runs = tmp_path / "runs"
    write_run(runs / "other.test-title.trec", {"q1": {"d2": 2.0, "d1": 1.0}, "q2": {"d5": 2.0, "d7": 1.0}})
    write_run(runs / "exact.test-title.trec", {"q1": {"d1": 2.0, "d2": 1.0}, "q2": {"d5": 2.0}})
    assert main([str(runs), "--data", str(data), "--splits", "test-title", "--json", str(tmp_path / "a.json")]) == 0
    found = {r["system"]: r for r in json.loads((tmp_path / "a.json").read_text())["test-title"]["rows"]}
    assert found["other"]["labelled"] == {"MRR@10": 0.75, "P@1": 0.5}
    assert found["other"]["same_event"] == {"MRR@10": 1.0, "P@1": 1.0}
    assert found["exact"]["labelled"] == found["exact"]["same_event"] == {"MRR@10": 1.0, "P@1": 1.0}


def test_a_folder_without_runs_for_the_split_is_refused(tmp_path: Path, beir_folder: Path):
    (beir_folder / "qrels" / "test-title.tsv").write_text("query-id\tcorpus-id\tscore\ntd1\td1\t1\n")
    with pytest.raises(SystemExit, match="no run named <system>.test-title.trec"):
        main([str(tmp_path), "--data", str(beir_folder), "--splits", "test-title"])
