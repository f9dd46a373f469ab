"""How long showing 100 hits takes: ``hits_of`` (articles, marked snippets) for the
fairness benchmark's 64 heavy queries (1,000 characters each), BM25's top 100 of
each, timed warm (the third of three passes).

Run: ``python -m experiments.issue36.snippets`` after ``make demo`` (indexes/news).
docs/serve.md cites it; to time the code before issue 36, run it from a checkout
of that commit.
"""

from __future__ import annotations

import time
from pathlib import Path

from benchmarks.fairness_bench import heavy_queries
from ranker.index.folder import Index
from ranker.search.searcher import hits_of, index_analyzer


def main() -> None:
    queries = heavy_queries(Path("data/news/corpus.jsonl"))
    index = Index.open("indexes/news")
    bm25 = index.retriever("bm25")
    found = [[(row, score, None) for row, score in bm25.search([q], 100).hits(0)] for q in queries]
    analyzer = index_analyzer(index)
    for rep in range(3):
        began = time.perf_counter()
        for query, rows in zip(queries, found, strict=True):
            hits_of(index, query, rows, analyzer)
        took = (time.perf_counter() - began) / len(queries) * 1000
        print(f"pass {rep + 1}: {took:.1f} ms per query of 100 hits")


if __name__ == "__main__":
    main()
