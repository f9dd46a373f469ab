"""Dense retrieval: encoding speed, and FAISS Flat, HNSW and IVF-PQ queries/s and recall@10 against Flat.

Encoding 100k articles takes over an hour on 2 CPU cores, so the large index is
built from synthetic vectors that stay near the real ones: each is a random
blend of two real article embeddings plus a little noise, normalised. The
queries are the real embeddings of news test titles. Recall@10 of each
approximate index is measured against exact (Flat) search of the same vectors.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.common import timed


def blended_vectors(real: np.ndarray, n: int, noise: float = 0.05, seed: int = 0) -> np.ndarray:
    """``n`` unit vectors, each a random blend of two rows of ``real`` plus Gaussian noise.

    Example:
        >>> v = blended_vectors(np.eye(3, dtype=np.float32), 5)
        >>> v.shape, bool(np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5))
        ((5, 3), True)
    """
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, len(real), size=(2, n))
    w = rng.random((n, 1), dtype=np.float32)
    out = w * real[a] + (1 - w) * real[b] + noise * rng.standard_normal((n, real.shape[1]), dtype=np.float32)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out.astype(np.float32)


def recall_at(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean share of the exact top k that an approximate search found.

    Example:
        >>> recall_at(np.array([[1, 2]]), np.array([[2, 3]]))
        0.5
    """
    return float(np.mean([len(set(f) & set(t)) / len(t) for f, t in zip(found, truth, strict=True)]))


def compare(vectors: np.ndarray, queries: np.ndarray, k: int = 10, kinds=("flat", "hnsw", "ivfpq")) -> dict[str, Any]:
    """Build each index type over ``vectors`` and search ``queries``; recall against flat."""
    from ranker.retrieve.dense import DenseConfig, build_faiss

    out: dict[str, Any] = {"vectors": len(vectors), "queries": len(queries), "k": k}
    truth = None
    for kind in kinds:
        index, build_s = timed(lambda kind=kind: build_faiss(vectors, DenseConfig(index_type=kind)))
        (_, found), search_s = timed(lambda index=index: index.search(queries, k), repeat=3)
        if truth is None:
            truth = found  # flat comes first: the exact answer
        out[kind] = {"build_seconds": build_s, "queries_per_second": len(queries) / search_s,
                     f"recall@{k}": recall_at(found, truth)}
    return out
