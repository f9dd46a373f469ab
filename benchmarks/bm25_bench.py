"""BM25: ours against rank_bm25 and raw bm25s, same tokens, same variant.

All three score Robertson's BM25 (k1 1.5, b 0.75) over the tokens of our
analyzer (lowercase, English stopwords, Snowball stemming). One setting lines
them up: a term in more than half the documents has a negative Robertson IDF;
bm25s clips it to 0, rank_bm25's BM25Okapi replaces it by ``epsilon`` × the
mean IDF (0.25 by default), so it runs with ``epsilon=0`` here. On a Zipfian
corpus that matters ("said" is in 83% of the documents). Before any speed is
compared each query's top 10 must agree: with raw bm25s exactly, with
rank_bm25 up to its constant factor k1 + 1 and the order of tied scores.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.common import timed, timed_together
from ranker.data.records import Article

K = 10


def same_top(ours_rows: np.ndarray, ours_scores: np.ndarray, oracle_scores: np.ndarray, factor: float = 1.0) -> bool:
    """Whether one query's top ``K`` from us is the oracle's: the oracle's scores of our
    documents equal its own best scores in order (ties may swap), and our scores times
    ``factor`` equal them too.

    Example:
        >>> same_top(np.array([1, 0]), np.array([2.0, 1.0]), np.array([1.0, 2.0, 0.0]))
        True
        >>> same_top(np.array([0, 1]), np.array([2.0, 1.0]), np.array([1.0, 2.0, 0.0]))
        False
    """
    kept = ours_rows >= 0
    rows, scores = ours_rows[kept], ours_scores[kept]
    best = np.sort(oracle_scores)[::-1][: len(rows)]
    positive = best > 0
    return bool(np.allclose(oracle_scores[rows][positive], best[positive], rtol=1e-4)
                and np.allclose(scores[positive] * factor, best[positive], rtol=1e-4))


def compare(corpus: list[Article], queries: list[str], oracle_queries: int) -> dict[str, Any]:
    """Index ``corpus`` and search ``queries`` three ways; raises AssertionError if the top 10s differ.

    ``oracle_queries``: how many of the queries rank_bm25 answers (it scores
    every document in Python for each query term, so it gets fewer; its rate is
    per query all the same).
    """
    import bm25s
    import rank_bm25

    from ranker.retrieve.bm25 import Analyzer, BM25Config, BM25Retriever

    config = BM25Config(variant="robertson", k1=1.5, b=0.75, backend="numba")
    texts = [a.text for a in corpus]

    ours = BM25Retriever(config)
    _, ours_index = timed(lambda: ours.index(texts, show_progress=False))
    _, first_batch = timed(lambda: ours.search(queries, K))

    analyzer = Analyzer(config)
    raw_index_s, searches = {}, {"ranker": lambda: ours.search(queries, K)}
    for backend in ("numba", "numpy"):
        def raw_index(backend=backend):
            model = bm25s.BM25(k1=1.5, b=0.75, method="robertson", backend=backend)
            model.index(analyzer.token_ids(texts, show_progress=False), show_progress=False)
            return model

        raw, raw_index_s[backend] = timed(raw_index)

        def raw_search(raw=raw):
            return raw.retrieve(analyzer.tokens(queries), k=K, show_progress=False, n_threads=0)

        raw_search()  # numba compiles on its first call
        searches[f"bm25s {backend}"] = raw_search
    found, search_s = timed_together(searches, repeat=5)
    ours_results = found.pop("ranker")
    raw_out = {name.split()[1]: out for name, out in found.items()}

    tokens, tokenize_s = timed(lambda: analyzer.tokens(texts))
    oracle, oracle_index_s = timed(lambda: rank_bm25.BM25Okapi(tokens, k1=1.5, b=0.75, epsilon=0.0))
    asked = queries[:oracle_queries]

    def oracle_search():
        return [np.asarray(oracle.get_scores(t)) for t in analyzer.tokens(asked)]

    oracle_scores, oracle_search_s = timed(oracle_search)

    for backend, (_raw_rows, raw_scores) in raw_out.items():
        for i in range(len(queries)):
            kept = ours_results.rows[i] >= 0
            best = np.sort(np.asarray(raw_scores[i], dtype=np.float64))[::-1][: int(kept.sum())]
            assert np.allclose(ours_results.scores[i][kept], best, rtol=1e-5), \
                f"query {i}: ours and bm25s ({backend}) differ"
    for i in range(len(asked)):
        assert same_top(ours_results.rows[i], ours_results.scores[i], oracle_scores[i], factor=1.5 + 1), \
            f"query {i}: ours and rank_bm25 differ"
    n, m = len(queries), len(asked)
    return {
        "documents": len(corpus),
        "queries": n,
        "rank_bm25_queries": m,
        "same_top10": True,
        "first_batch_seconds": first_batch,
        "index_seconds": {"ranker": ours_index, "bm25s": raw_index_s["numba"],
                          "rank_bm25": oracle_index_s + tokenize_s},
        "queries_per_second": {"ranker": n / search_s["ranker"], "bm25s": n / search_s["bm25s numba"],
                               "bm25s numpy": n / search_s["bm25s numpy"], "rank_bm25": m / oracle_search_s},
    }


def ratios(row: dict[str, Any]) -> dict[str, float]:
    """Our speed over each other side's (above 1: we are faster)."""
    qps, index = row["queries_per_second"], row["index_seconds"]
    return {
        "qps_vs_rank_bm25": qps["ranker"] / qps["rank_bm25"],
        "qps_vs_bm25s": qps["ranker"] / qps["bm25s"],
        "index_vs_rank_bm25": index["rank_bm25"] / index["ranker"],
        "index_vs_bm25s": index["bm25s"] / index["ranker"],
    }
