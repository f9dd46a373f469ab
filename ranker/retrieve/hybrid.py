"""Hybrid retrieval: the fusion of several retrievers' rankings.

Both fusions are written by hand because they are a few lines over our
``Results`` arrays (ranx has them, but would bring numba for this alone).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ranker.retrieve.base import Results, empty_results

METHODS = ("rrf", "weighted")


#: BM25 and dense weights by what the index searches, each chosen on queries that fit it
#: (docs/realistic.md): the body alone, on the news dev split's title queries
#: (pipelines/tune_fusion.py); title and text, on the hand-written queries (pipelines/realistic.py).
DEFAULT_WEIGHTS = {"body": (0.7, 0.3), "title and text": (0.6, 0.4)}


@dataclass(frozen=True)
class HybridConfig:
    """How rankings are fused, and how deep each retriever is asked.

    ``rrf``: reciprocal rank fusion (Cormack et al. 2009), score = sum of
    weight / (rrf_k + rank). ``weighted``: each retriever's scores min-max
    normalised per query to [0, 1], then summed with the weights; a document a
    retriever did not return gets 0 from it.

    Example:
        >>> HybridConfig(method="weighted", weights=(0.3, 0.7)).weights
        (0.3, 0.7)
    """

    # Weighted score fusion beat every RRF setting on the news benchmark's dev split
    # (pipelines/tune_fusion.py). The weights: None takes the default for what the
    # index searches (:data:`DEFAULT_WEIGHTS`).
    method: str = "weighted"
    rrf_k: int = 60
    weights: tuple[float, ...] | None = None
    depth: int = 100

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"fusion method must be one of {', '.join(METHODS)}, not '{self.method}'")
        if self.weights is None:
            return
        object.__setattr__(self, "weights", tuple(float(w) for w in self.weights))
        if any(w < 0 for w in self.weights) or not any(self.weights):
            raise ValueError(f"fusion weights must be non-negative and not all zero: {self.weights}")

    def resolved(self, fields=("text",)) -> HybridConfig:
        """These settings with the weights filled in for an index of ``fields`` when none were given.

        Example:
            >>> HybridConfig().resolved(("title", "text")).weights, HybridConfig(weights=(1, 1)).resolved().weights
            ((0.6, 0.4), (1.0, 1.0))
        """
        if self.weights is not None:
            return self
        return replace(self, weights=DEFAULT_WEIGHTS["title and text" if "title" in fields else "body"])


def fuse(rankings: list[Results], k: int, config: HybridConfig) -> Results:
    """Fuse several retrievers' results for the same queries into one top-k.

    Ties are broken by row number, so fusion is deterministic.

    Example:
        >>> a = Results(np.array([[1, 2, 3]]), np.array([[9.0, 5.0, 1.0]], dtype=np.float32))
        >>> b = Results(np.array([[3, 2, -1]]), np.array([[0.9, 0.8, -np.inf]], dtype=np.float32))
        >>> rrf = HybridConfig(method="rrf", weights=(1, 1))
        >>> fuse([a, b], k=3, config=rrf).rows.tolist()  # 3: 1st and 3rd; 2: 2nd twice
        [[3, 2, 1]]
    """
    config = config.resolved()  # no weights given: the body-only default
    if len(config.weights) != len(rankings):
        raise ValueError(f"{len(rankings)} rankings but {len(config.weights)} weights")
    n_queries = rankings[0].rows.shape[0]
    fused = empty_results(n_queries, k)
    for q in range(n_queries):
        totals: dict[int, float] = {}
        for weight, results in zip(config.weights, rankings, strict=True):
            hits = results.hits(q)
            if not hits:
                continue
            if config.method == "rrf":
                contributions = [(row, weight / (config.rrf_k + rank)) for rank, (row, _) in enumerate(hits, start=1)]
            else:
                scores = np.array([s for _, s in hits], dtype=np.float64)
                spread = scores.max() - scores.min()
                normalised = (scores - scores.min()) / spread if spread > 0 else np.ones_like(scores)
                contributions = [(row, weight * float(v)) for (row, _), v in zip(hits, normalised, strict=True)]
            for row, value in contributions:
                totals[row] = totals.get(row, 0.0) + value
        best = sorted(totals.items(), key=lambda item: (-item[1], item[0]))[:k]
        for j, (row, score) in enumerate(best):
            fused.rows[q, j] = row
            fused.scores[q, j] = score
    return fused


class HybridRetriever:
    """Searches each retriever ``config.depth`` deep and fuses their rankings.

    Example:
        >>> from ranker.index.folder import Index
        >>> index = Index.open("indexes/news")
        >>> hybrid = HybridRetriever([index.bm25(), index.dense()], HybridConfig())
        >>> index.doc_ids()[hybrid.search(["Brexit Article 50"], 3).rows[0][0]]  # article 3: "Brexit letter sent"
        '3'
    """

    def __init__(self, retrievers: list, config: HybridConfig = HybridConfig()) -> None:
        self.retrievers = retrievers
        self.config = config.resolved()

    def search(self, queries: list[str], k: int) -> Results:
        depth = max(k, self.config.depth)
        return fuse([r.search(queries, depth) for r in self.retrievers], k, self.config)
