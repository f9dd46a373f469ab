"""The hand-written query set (data/realistic) is well formed, and the job that
scores every system on it by style runs."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from ranker.cli import main
from ranker.data.qrels import read_qrels
from ranker.data.readers import read_queries

SET = Path(__file__).resolve().parents[1] / "data" / "realistic"


def test_the_set_has_three_styles_and_graded_judgments_of_train_and_dev_articles():
    from ranker.data.datasets.news import split_of

    queries = read_queries(SET / "queries.jsonl").records
    qrels = read_qrels(SET / "qrels.txt")
    styles = Counter(q.metadata["style"] for q in queries)
    assert len(queries) >= 120 and set(styles) == {"keywords", "question", "paraphrase"}
    assert min(styles.values()) >= 40, styles
    assert len({q.text.lower() for q in queries}) == len(queries)
    for q in queries:
        judged = qrels[q.qid]
        assert judged[q.metadata["target"]] == 2, q  # the article it was written for answers it
        assert set(judged.values()) <= {0, 1, 2}
        assert split_of(q.metadata["target"]) in ("train", "dev"), q  # never a test article
    assert len({q.metadata["target"] for q in queries}) == len(queries)  # one query per article


def test_the_realistic_job_scores_every_system_by_style(demo_copy, tiny_model, capsys):
    docs = [json.loads(line)["_id"] for line in open("data/news/corpus.jsonl")]
    Path("set").mkdir()
    rows = [("r1", "oil prices opec", "keywords", "1"), ("r2", "who blocked the travel ban?", "question", "4"),
            ("r3", "a reservoir's overflow channel breaking", "paraphrase", "2")]
    Path("set/queries.jsonl").write_text("".join(
        json.dumps({"_id": q, "text": t, "metadata": {"style": s, "target": d}}) + "\n" for q, t, s, d in rows))
    Path("set/qrels.txt").write_text("".join(f"{q} 0 {d} 2\n" for q, _, _, d in rows) + f"r1 0 {docs[5]} 1\n")
    assert main(["index", "data/news", "--out", "indexes/news-tt", "--model", str(tiny_model), "--quiet"]) == 0
    from pipelines.realistic import main as realistic

    assert realistic(["--set", "set", "--out", "eval"]) == 0
    results = json.loads(Path("eval/realistic.json").read_text())
    assert results["queries"] == 3 and results["by_style"] == {"keywords": 1, "question": 1, "paraphrase": 1}
    tt = results["indexes"]["title and text"]
    assert {"bm25", "dense", "hybrid 0.7/0.3", "hybrid 0.3/0.7", "bm25 title x1", "bm25 title x3"} <= set(tt)
    assert sum(name.startswith("reranked (hybrid ") for name in tt) == 11  # weights 0, 0.1, ..., 1
    for systems in results["indexes"].values():
        for name, scores in systems.items():
            assert set(scores) == {"all", "keywords", "question", "paraphrase"}, name
            assert all(0 <= v <= 1 for s in scores.values() for v in s.values())
    assert any(k.endswith("reranked") for k in results["best"])
