"""Dense search over segments: exact for flat, as good as one index for HNSW (issue 37)."""

from __future__ import annotations

import numpy as np
import pytest

from ranker.retrieve.dense import DenseConfig, build_faiss
from ranker.retrieve.dense_segments import search_segments


def _unit(rng: np.random.Generator, n: int, dim: int = 32) -> np.ndarray:
    vectors = rng.standard_normal((n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _segments(rng: np.random.Generator, sizes: list[int], kind: str):
    config = DenseConfig(index_type=kind, hnsw_m=16, ef_search=64)
    vectors = [_unit(rng, n) for n in sizes]
    indexes = [build_faiss(v, config) for v in vectors]
    deleted = [rng.random(n) < 0.2 for n in sizes]
    deleted[0][:] = False  # one segment without deletions (None)
    return config, indexes, [d if d.any() else None for d in deleted], np.concatenate(vectors), np.concatenate(deleted)


@pytest.mark.parametrize("seed", range(3))
def test_flat_segments_find_what_one_flat_index_of_the_live_vectors_finds(seed):
    rng = np.random.default_rng(seed)
    config, indexes, deleted, vectors, dead = _segments(rng, [50, 7, 120, 3], "flat")
    queries = _unit(rng, 20)
    got = search_segments(indexes, deleted, queries, 10, config)
    live = np.flatnonzero(~dead)
    one = build_faiss(vectors[live], config)
    scores, rows = one.search(queries, 10)
    for q in range(len(queries)):
        assert [row for row, _ in got.hits(q)] == live[rows[q]].tolist()
        np.testing.assert_allclose([s for _, s in got.hits(q)], scores[q], rtol=1e-5)
        assert not dead[[row for row, _ in got.hits(q)]].any()


def test_hnsw_segments_recall_as_one_hnsw_index_does():
    rng = np.random.default_rng(7)
    config, indexes, deleted, vectors, dead = _segments(rng, [2000, 300, 1500], "hnsw")
    queries = _unit(rng, 100)
    live = np.flatnonzero(~dead)
    exact = build_faiss(vectors[live], DenseConfig(index_type="flat")).search(queries, 10)[1]
    truth = [set(live[row].tolist()) for row in exact]
    got = search_segments(indexes, deleted, queries, 10, config)
    fresh = build_faiss(vectors[live], config).search(queries, 10)[1]
    ours = np.mean([len(truth[q] & {r for r, _ in got.hits(q)}) / 10 for q in range(len(queries))])
    theirs = np.mean([len(truth[q] & set(live[fresh[q]].tolist())) / 10 for q in range(len(queries))])
    assert ours >= theirs - 0.01, (ours, theirs)


def test_a_segment_with_every_row_deleted_gives_nothing():
    rng = np.random.default_rng(1)
    config = DenseConfig(index_type="flat")
    index = build_faiss(_unit(rng, 5), config)
    got = search_segments([index], [np.ones(5, dtype=bool)], _unit(rng, 2), 3, config)
    assert got.hits(0) == [] and got.hits(1) == []
