"""Dense retrieval with a tiny random BERT: save/load, model mismatch, resumable
encoding, FAISS index types, and fusion on hand-made rankings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import random_corpus
from ranker.core.errors import InputError
from ranker.index.folder import Index, build_index
from ranker.retrieve.base import Results
from ranker.retrieve.dense import DenseConfig, build_faiss
from ranker.retrieve.embed import Embedder, EmbedderConfig, encode_corpus
from ranker.retrieve.hybrid import HybridConfig, fuse


def tiny_config(model, **kwargs) -> DenseConfig:
    return DenseConfig(embedder=EmbedderConfig(model=str(model), max_length=64, batch_size=8), **kwargs)


def test_dense_index_save_load_round_trip(tmp_path, tiny_model, news_articles):
    config = tiny_config(tiny_model, index_type="flat")
    build_index(news_articles, tmp_path / "idx", bm25=None, dense=config, show_progress=False, fields=("text",))
    index = Index.open(tmp_path / "idx")
    about = index.manifest["components"]["dense"]
    assert (about["dimension"], about["metric"], about["index_type"], about["doc_count"]) == (32, "inner_product",
                                                                                              "flat", 6)
    assert about["model"] == str(tiny_model) and len(about["fingerprint"]) == 32
    assert not (tmp_path / ".idx.shards").exists()

    retriever = index.dense()
    assert index.dense() is retriever and index.retriever("dense") is retriever  # loaded once
    embedder = Embedder(config.embedder)
    vectors = embedder.encode([a.text for a in news_articles])
    queries = ["oil prices", "the dam", "Brexit"]
    expected = np.argsort(-(embedder.encode(queries) @ vectors.T), axis=1, kind="stable")[:, :4]
    results = retriever.search(queries, k=4)
    np.testing.assert_array_equal(results.rows, expected)
    again = Index.open(tmp_path / "idx").dense().search(queries, k=4)
    np.testing.assert_array_equal(again.rows, results.rows)
    np.testing.assert_allclose(again.scores, results.scores, rtol=1e-5)


def test_querying_with_another_model_is_a_clear_error(tmp_path, tiny_model, other_tiny_model, news_articles):
    build_index(news_articles, tmp_path / "idx", bm25=None, dense=tiny_config(tiny_model), show_progress=False)
    with pytest.raises(InputError, match="gives different vectors: query with the same model or rebuild"):
        Index.open(tmp_path / "idx").dense(model=str(other_tiny_model))
    assert Index.open(tmp_path / "idx").dense(model=str(tiny_model)).doc_count == 6


def test_not_a_model_folder(tmp_path):
    (tmp_path / "junk.txt").write_text("x")
    with pytest.raises(InputError, match="not a model folder"):
        Embedder(EmbedderConfig(model=str(tmp_path)))


def test_resumed_encoding_equals_uninterrupted(tmp_path, tiny_model, monkeypatch):
    texts = random_corpus(50, seed=3)
    embedder = Embedder(EmbedderConfig(model=str(tiny_model), max_length=64, batch_size=8))
    whole = encode_corpus(embedder, texts, tmp_path / "whole", shard_size=16, show_progress=False)

    calls = {"n": 0}
    real_encode = embedder.encode

    def dies_on_third_shard(batch):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed mid-job")
        return real_encode(batch)

    monkeypatch.setattr(embedder, "encode", dies_on_third_shard)
    with pytest.raises(KeyboardInterrupt):
        encode_corpus(embedder, texts, tmp_path / "resumed", shard_size=16, show_progress=False)
    assert sorted(p.name for p in (tmp_path / "resumed").glob("shard-*.npy")) == ["shard-00000.npy"]
    # call 1 was the fingerprint, call 2 shard 0; now resume with a working encoder
    monkeypatch.setattr(embedder, "encode", real_encode)
    resumed = encode_corpus(embedder, texts, tmp_path / "resumed", shard_size=16, show_progress=False)
    np.testing.assert_allclose(resumed, whole, rtol=1e-5, atol=1e-6)
    assert len(list((tmp_path / "resumed").glob("shard-*.npy"))) == 4

    with pytest.raises(InputError, match="another corpus or model"):
        encode_corpus(embedder, texts[:-1], tmp_path / "resumed", shard_size=16, show_progress=False)


@pytest.mark.parametrize("kind", ["flat", "hnsw", "ivfpq"])
def test_faiss_index_types_find_the_exact_neighbours(kind):
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((2000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    config = DenseConfig(index_type=kind, ivf_lists=32, pq_bytes=16, nprobe=32)
    index = build_faiss(vectors, config)
    queries = vectors[:50] + 0.05 * rng.standard_normal((50, 32)).astype(np.float32)
    _, found = index.search(queries, 10)
    exact = np.argsort(-(queries @ vectors.T), axis=1)[:, :10]
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, exact, strict=True)])
    assert recall >= {"flat": 1.0, "hnsw": 0.95, "ivfpq": 0.5}[kind]


def _results(rows, scores):
    return Results(np.array(rows, dtype=np.int64), np.array(scores, dtype=np.float32))


def test_reciprocal_rank_fusion_known_answer():
    bm25 = _results([[10, 11, 12, -1]], [[9.0, 7.0, 1.0, -np.inf]])
    dense = _results([[12, 13, 10, 14]], [[0.9, 0.8, 0.7, 0.1]])
    fused = fuse([bm25, dense], k=5, config=HybridConfig(method="rrf", rrf_k=60, weights=(1, 1)))
    # 10: 1/61 + 1/63; 12: 1/63 + 1/61 (tie, broken by row); 11: 1/62; 13: 1/62; 14: 1/64
    assert fused.rows.tolist() == [[10, 12, 11, 13, 14]]
    np.testing.assert_allclose(fused.scores[0, :2], [1 / 61 + 1 / 63] * 2, rtol=1e-6)
    dense_only = fuse([bm25, dense], k=2, config=HybridConfig(method="rrf", weights=(0.0, 1.0)))
    assert dense_only.rows.tolist() == [[12, 13]]


def test_weighted_fusion_of_normalised_scores_known_answer():
    bm25 = _results([[1, 2, 3]], [[10.0, 6.0, 2.0]])  # normalised 1, 0.5, 0
    dense = _results([[3, 2, 4]], [[0.9, 0.5, 0.4]])  # normalised 1, 0.2, 0
    fused = fuse([bm25, dense], k=4, config=HybridConfig(method="weighted", weights=(0.4, 0.6)))
    # 1: 0.4; 2: 0.2 + 0.12 = 0.32; 3: 0 + 0.6 = 0.6; 4: 0
    assert fused.rows.tolist() == [[3, 1, 2, 4]]
    np.testing.assert_allclose(fused.scores[0], [0.6, 0.4, 0.32, 0.0], atol=1e-6)
    empty = fuse([_results([[-1]], [[-np.inf]]), _results([[-1]], [[-np.inf]])], k=1, config=HybridConfig())
    assert empty.rows.tolist() == [[-1]]


def test_cli_builds_both_kinds_and_searches_each(tmp_path, tiny_model, beir_folder, capsys):
    from ranker.cli import main

    index = tmp_path / "idx"
    assert main(["index", str(beir_folder), "--out", str(index), "--model", str(tiny_model), "--max-length", "64",
                 "--quiet"]) == 0
    assert "(bm25 and dense)" in capsys.readouterr().out
    for retriever in ("bm25", "dense", "hybrid"):
        assert main(["search", str(index), "oil prices", "--retriever", retriever, "--json"]) == 0
        out = json.loads(capsys.readouterr().out)
        assert out["retriever"] == retriever and out["hits"]
    assert main(["search", str(index), "oil prices"]) == 0
    assert capsys.readouterr().out.startswith("retriever: hybrid")
    run = tmp_path / "dense.trec"
    assert main(["run", str(index), "--retriever", "dense", "--queries", str(beir_folder), "--split", "test",
                 "--out", str(run), "--quiet"]) == 0
    assert run.read_text().splitlines()[0].endswith(" dense")
    assert main(["search", str(index), "oil", "--fusion", "weighted", "--fusion-weights", "x,y"]) == 2


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_real_minilm_finds_paraphrases(tmp_path, news_articles):
    """The packaged all-MiniLM-L6-v2 answers queries that share no word with the text."""
    build_index(news_articles, tmp_path / "idx", bm25=None, dense=DenseConfig(), show_progress=False)
    index = Index.open(tmp_path / "idx")
    assert index.manifest["components"]["dense"]["dimension"] == 384
    results = index.dense().search(["UK leaving the European Union", "crude cost drops", "assassination in Malaysia"],
                                   k=1)
    assert [index.doc_ids()[r] for r in results.rows[:, 0]] == ["d3", "d1", "d5"]


def test_ivfpq_trains_on_a_sample_and_holds_every_vector():
    from ranker.retrieve.dense import DenseConfig, build_faiss

    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((12_000, 16)).astype(np.float32)  # more than the 10,240-vector sample
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = build_faiss(vectors, DenseConfig(index_type="ivfpq", ivf_lists=8, pq_bytes=4, nprobe=8))
    assert index.ntotal == 12_000 and index.is_trained
    _, found = index.search(vectors[:200], 10)
    assert np.mean([i in row for i, row in enumerate(found)]) > 0.5  # each vector near the top of its own search
