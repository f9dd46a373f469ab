"""How much do the news benchmark's one-article labels hide? Every run scored twice.

Each query is labelled with one article, but several outlets cover the same event:
a system that puts Al Jazeera's report of a vote first, when the query is CNN's
headline about it, counts as a miss. This audit counts such articles relevant too
("same event": published within ``--max-days`` of the labelled article, by another
outlet, TF-IDF cosine of the texts at least ``--min-cosine``) and scores every run
both ways: MRR@10 and P@1 (the top article relevant).

The default rule (1 day, 0.3) was checked by hand against 30 of the reranker's
rank-1 misses on the test titles: it took all 11 same-event articles among them and
none of the others (follow-ups days later, other events in the same story, vague
feature titles).

Run it over a folder of TREC runs named ``<system>.<split>.trec``:
``python -m pipelines.label_audit runs/reranker-full/runs``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ranker.core.display import format_table
from ranker.core.files import atomic_write_text
from ranker.data.qrels import read_qrels
from ranker.data.readers import read_articles
from ranker.data.records import Article, Qrels
from ranker.eval.metrics import evaluate, judged
from ranker.eval.runs import Run, read_run


def same_event_qrels(articles: list[Article], qrels: Qrels, max_days: int = 1, min_cosine: float = 0.3) -> Qrels:
    """``qrels`` with every same-event article of each labelled one added as relevant (grade 1).

    Same event: another outlet, published at most ``max_days`` apart, TF-IDF cosine
    of the two texts at least ``min_cosine`` (sublinear tf, English stop words, words
    found in two articles or more; a random pair of these news articles scores about
    0.03, the 99th percentile 0.12).

    Example:
        >>> a = [Article("1", "", "senate votes to confirm devos as education secretary",
        ...              {"outlet": "CNN", "date": "2017-02-07"}),
        ...      Article("2", "", "devos confirmed as education secretary after senate votes",
        ...              {"outlet": "BBC", "date": "2017-02-07"}),
        ...      Article("3", "", "snow storm closes schools across the northeast",
        ...              {"outlet": "BBC", "date": "2017-02-07"})]
        >>> same_event_qrels(a, {"q": {"1": 1}})
        {'q': {'2': 1, '1': 1}}
    """
    # scikit-learn's TF-IDF: a plain lexical similarity, independent of the retrievers being judged
    from sklearn.feature_extraction.text import TfidfVectorizer

    row = {a.doc_id: i for i, a in enumerate(articles)}
    vectors = TfidfVectorizer(sublinear_tf=True, stop_words="english", min_df=2).fit_transform(a.text for a in articles)
    dates = np.array([np.datetime64(a.metadata.get("date") or "NaT", "D") for a in articles])
    outlets = np.array([a.metadata.get("outlet") for a in articles], dtype=object)
    out = {}
    for qid, grades in qrels.items():
        extra = {}
        for doc_id in (d for d, grade in grades.items() if grade > 0 and d in row):
            i = row[doc_id]
            cosine = (vectors @ vectors[i].T).toarray().ravel()
            # NaT compares false, so an undated article is never same-event
            near = np.abs((dates - dates[i]).astype("timedelta64[D]").astype(float)) <= max_days
            extra.update({articles[j].doc_id: 1
                          for j in np.flatnonzero(near & (outlets != outlets[i]) & (cosine >= min_cosine))})
        out[qid] = {**extra, **grades}
    return out


def top1_precision(run: Run, qrels: Qrels) -> float:
    """The share of judged queries whose first-ranked document is relevant (P@1).

    Example:
        >>> top1_precision({"q1": {"a": 2.0, "b": 1.0}, "q2": {"c": 1.0}}, {"q1": {"a": 1}, "q2": {"d": 1}})
        0.5
    """
    import ir_measures

    # ir_measures' P@1 (ranker.eval.runs reports a fixed set of measures; P@1 is only needed here, where
    # a query may have several relevant articles and R@1 stops meaning "the top article is relevant")
    return float(ir_measures.calc_aggregate([ir_measures.P @ 1], judged(qrels), run)[ir_measures.P @ 1])


def audit(runs: dict[str, Run], qrels: Qrels, lenient: Qrels) -> list[dict]:
    """Each run's MRR@10 and P@1 under the labels and with same-event articles counted."""
    rows = []
    for system, run in runs.items():
        rows.append({"system": system,
                     "labelled": {"MRR@10": evaluate(run, qrels, ["MRR@10"])["MRR@10"],
                                  "P@1": top1_precision(run, qrels)},
                     "same_event": {"MRR@10": evaluate(run, lenient, ["MRR@10"])["MRR@10"],
                                    "P@1": top1_precision(run, lenient)}})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", type=Path, help="a folder of <system>.<split>.trec runs")
    parser.add_argument("--data", type=Path, default=Path("data/news"), help="the benchmark (corpus.jsonl, qrels/)")
    parser.add_argument("--splits", nargs="+", default=["test-title", "test-subtitle"])
    parser.add_argument("--max-days", type=int, default=1)
    parser.add_argument("--min-cosine", type=float, default=0.3)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    articles = read_articles(args.data).records
    found = {}
    for split in args.splits:
        qrels = read_qrels(args.data / "qrels" / f"{split}.tsv")
        lenient = same_event_qrels(articles, qrels, args.max_days, args.min_cosine)
        runs = {p.name[: -len(f".{split}.trec")]: read_run(p) for p in sorted(args.runs.glob(f"*.{split}.trec"))}
        if not runs:
            raise SystemExit(f"error: {args.runs}: no run named <system>.{split}.trec")
        gained = sum(len(lenient[q]) > len(qrels[q]) for q in qrels)
        added = sum(len(lenient[q]) - len(qrels[q]) for q in qrels)
        print(f"{split}: {added} same-event articles added to the labels; "
              f"{gained} of {len(qrels)} queries gain one or more")
        rows = audit(runs, qrels, lenient)
        print(format_table(["system", "MRR@10", "P@1", "MRR@10 same-event", "P@1 same-event"],
                           [[r["system"], *(f"{r[k][m]:.4f}" for k in ("labelled", "same_event")
                                             for m in ("MRR@10", "P@1"))]
                            for r in rows]) + "\n")
        found[split] = {"queries": len(qrels), "queries_gaining": gained, "articles_added": added, "rows": rows}
    if args.json:
        atomic_write_text(args.json, json.dumps({"max_days": args.max_days, "min_cosine": args.min_cosine, **found},
                                                indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
