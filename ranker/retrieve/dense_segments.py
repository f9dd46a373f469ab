"""Dense search over segments: each segment's FAISS index searched for the live rows
only, the tops merged.

A segment's deleted rows are left out inside FAISS (an ``IDSelectorBitmap`` of its
live rows, passed with the search's parameters), so each segment gives up to ``k``
live rows without over-fetching, and the merge of the segments' tops is the top
``k`` of all: exact for flat indexes (the same rows and scores as one flat index
of the live vectors), as approximate as each segment's own index for HNSW and
IVF-PQ (``tests/test_dense_segments.py``). FAISS searches one index; merging
several is ours, as Lucene merges its segments' top documents.

Example:
    >>> from ranker.retrieve.dense import DenseConfig, build_faiss
    >>> config = DenseConfig(index_type="flat")
    >>> old = build_faiss(np.eye(4, dtype=np.float32)[:3], config)  # rows 0-2
    >>> new = build_faiss(np.eye(4, dtype=np.float32)[[0, 3]], config)  # rows 3-4
    >>> query = np.array([[1.0, 0.0, 0.0, 0.1]], dtype=np.float32)
    >>> search_segments([old, new], [np.array([True, False, False]), None], query, k=2, config=config).hits(0)
    [(3, 1.0), (4, 0.10000000149011612)]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ranker.retrieve.base import Results, empty_results
from ranker.retrieve.dense import DenseConfig


def _parameters(index, config: DenseConfig, deleted: np.ndarray | None):
    """FAISS search parameters for ``index``: the config's effort, and only live rows."""
    import faiss

    selector = None
    if deleted is not None:
        live = np.packbits(~deleted, bitorder="little")  # bit r of the bitmap: row r is live (FAISS's order)
        selector = faiss.IDSelectorBitmap(len(deleted), faiss.swig_ptr(live))
        selector.keep = live  # the selector points into the array: keep it alive as long as the selector
    if isinstance(index, faiss.IndexHNSW):
        return faiss.SearchParametersHNSW(sel=selector, efSearch=config.ef_search)
    if faiss.try_extract_index_ivf(index) is not None:
        return faiss.SearchParametersIVF(sel=selector, nprobe=config.nprobe)
    return faiss.SearchParameters(sel=selector)


def search_segments(indexes: Sequence, deleted: Sequence[np.ndarray | None], vectors: np.ndarray, k: int,
                    config: DenseConfig) -> Results:
    """The top ``k`` live rows for each of ``vectors`` (queries, normalised) over the
    segments' FAISS ``indexes``; rows count across segments in order, as in
    :class:`~ranker.retrieve.bm25_segments.SegmentedBM25`. ``deleted``: each segment's
    deleted rows, or None."""
    sizes = [index.ntotal for index in indexes]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    found_rows, found_scores = [], []
    for index, dead, offset, size in zip(indexes, deleted, offsets, sizes, strict=False):
        depth = min(k, size - (int(dead.sum()) if dead is not None else 0))
        if depth <= 0:
            continue
        scores, rows = index.search(vectors, depth, params=_parameters(index, config, dead))
        scores = np.where(rows >= 0, scores, -np.inf).astype(np.float32)
        found_rows.append(np.where(rows >= 0, rows.astype(np.int64) + offset, -1))
        found_scores.append(scores)
    results = empty_results(len(vectors), k)
    if not found_rows:
        return results
    rows, scores = np.concatenate(found_rows, axis=1), np.concatenate(found_scores, axis=1)
    for q in range(len(vectors)):
        keep = rows[q] >= 0
        candidates, values = rows[q][keep], scores[q][keep]
        order = np.lexsort((candidates, -values))[:k]  # best first, equal scores in row order
        results.rows[q, : len(order)] = candidates[order]
        results.scores[q, : len(order)] = values[order]
    return results
