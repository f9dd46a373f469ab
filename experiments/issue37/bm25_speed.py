"""Is BM25 scored at query time from raw postings (one segment) as fast as bm25s's
precomputed scores? Both over the same synthetic corpus (the scale benchmark's,
:func:`benchmarks.synthetic.synthetic_corpus`), answering the news test titles
warm with the numpy backend (``ranker``'s default for interactive search), after
checking that they find the same top-10 scores, and the same rows above any tie
at the 10th (synthetic documents of equal length tie often).

Run: ``python -m experiments.issue37.bm25_speed --documents 100000`` after ``make demo``
(data/news). Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from benchmarks.run import test_titles
from benchmarks.synthetic import synthetic_corpus
from ranker.data.readers import read_articles
from ranker.retrieve.analysis import BM25Config
from ranker.retrieve.bm25 import BM25Retriever
from ranker.retrieve.bm25_segments import Postings, SegmentedBM25


def rate(search, queries: list[str], repeats: int = 3) -> float:
    """Queries per second, the best of ``repeats`` warm passes."""
    search(queries)
    best = 0.0
    for _ in range(repeats):
        began = time.perf_counter()
        search(queries)
        best = max(best, len(queries) / (time.perf_counter() - began))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    texts = [a.text for a in read_articles(Path("data/news")).records]
    corpus = [a.text for a in synthetic_corpus(texts, args.documents)]
    queries = test_titles(Path("data/news"), args.queries)
    config = BM25Config()
    began = time.perf_counter()
    raw = BM25Retriever(config)
    raw.index(corpus, show_progress=False)
    built_scores = time.perf_counter() - began
    began = time.perf_counter()
    segment = SegmentedBM25(config, [Postings.build(corpus, config)])
    built_postings = time.perf_counter() - began
    ours, theirs = segment.search(queries, 10), raw.search(queries, 10)
    # the same scores at every rank; the same rows above the 10th score (bm25s keeps any of the rows tied there)
    same_scores = bool(np.allclose(ours.scores, theirs.scores, rtol=1e-5, atol=1e-5))
    same_rows = all(set(ours.rows[q][ours.scores[q] > ours.scores[q, -1] + 1e-5].tolist())
                    == set(theirs.rows[q][theirs.scores[q] > theirs.scores[q, -1] + 1e-5].tolist())
                    for q in range(len(queries)))
    print(json.dumps({"documents": args.documents, "queries": len(queries), "same_scores": same_scores,
                      "same_rows_above_ties": same_rows,
                      "bm25s_qps": round(rate(lambda q: raw.search(q, 10), queries), 1),
                      "segment_qps": round(rate(lambda q: segment.search(q, 10), queries), 1),
                      "build_s": {"bm25s": round(built_scores, 1), "postings": round(built_postings, 1)}}))


if __name__ == "__main__":
    main()
