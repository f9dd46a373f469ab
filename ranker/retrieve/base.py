"""The shape every retriever shares."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple, Protocol

import numpy as np

from ranker.data.records import Article


class Results(NamedTuple):
    """Top-k results for a batch of queries, as two ``(n_queries, k)`` arrays.

    ``rows`` are document row numbers in the index (see
    :class:`~ranker.index.docstore.DocStore`), best first; ``-1`` pads a query that
    matched fewer than k documents, with score ``-inf``.

    Example:
        >>> r = Results(np.array([[3, -1]]), np.array([[1.5, -np.inf]], dtype=np.float32))
        >>> rows, scores = r
        >>> int(rows[0, 0])
        3
    """

    rows: np.ndarray
    scores: np.ndarray

    def hits(self, query: int) -> list[tuple[int, float]]:
        """The (row, score) pairs actually found for one query, best first.

        Example:
            >>> Results(np.array([[3, -1]]), np.array([[1.5, -np.inf]])).hits(0)
            [(3, 1.5)]
        """
        keep = self.rows[query] >= 0
        return [(int(r), float(s)) for r, s in zip(self.rows[query][keep], self.scores[query][keep], strict=True)]


def empty_results(n_queries: int, k: int) -> Results:
    """Results in which no query found anything (all padding).

    Example:
        >>> empty_results(2, 3).rows.shape
        (2, 3)
    """
    return Results(np.full((n_queries, k), -1, dtype=np.int64), np.full((n_queries, k), -np.inf, dtype=np.float32))


class Retriever(Protocol):
    """What the index, the run writer and the miner need from a retriever."""

    def index(self, articles: list[Article]) -> None: ...

    def search(self, queries: list[str], k: int) -> Results: ...

    def save(self, folder: Path) -> None: ...
