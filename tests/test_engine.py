"""The Ray engine on a local Ray: the index it builds and the reranked run it writes
are those of the single-process path."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ranker.cli import main

ray = pytest.importorskip("ray", reason="the [ray] extra is not installed")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def local_ray():
    # Two actors of one CPU each on this 2-core machine; a cluster would come from RAY_ADDRESS.
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture
def corpus(tmp_path):
    from conftest import random_corpus

    path = tmp_path / "corpus.jsonl"
    texts = random_corpus(90, length=60, seed=3)
    path.write_text("".join(json.dumps({"_id": f"d{i}", "title": f"doc {i}", "text": t}) + "\n"
                            for i, t in enumerate(texts)))
    queries = tmp_path / "queries.jsonl"
    queries.write_text("".join(json.dumps({"_id": f"q{i}", "text": " ".join(t.split()[:4])}) + "\n"
                               for i, t in enumerate(texts[:12])))
    return path, queries


def test_ray_index_and_rerank_equal_the_single_process_ones(tmp_path, corpus, tiny_model, tiny_bert, local_ray, capsys):
    from ranker.index.folder import Index

    path, queries = corpus
    common = ["--model", str(tiny_model), "--quiet"]
    # 90 articles in shards of 32: three work items for two actors
    config = tmp_path / "shards.toml"
    config.write_text("[dense]\nshard_size = 32\n")
    assert main(["index", str(path), "--out", str(tmp_path / "one"), "--config", str(config), *common]) == 0
    assert main(["index", str(path), "--out", str(tmp_path / "ray"), "--config", str(config), "--engine", "ray",
                 "--workers", "2", *common]) == 0
    capsys.readouterr()
    one, on_ray = Index.open(tmp_path / "one"), Index.open(tmp_path / "ray")
    assert on_ray.manifest["components"]["dense"]["engine"] == "ray (2 workers)"
    texts = [json.loads(line)["text"] for line in queries.read_text().splitlines()]
    a, b = one.dense().search(texts, 10), on_ray.dense().search(texts, 10)
    assert a.rows.tolist() == b.rows.tolist()  # flat index: the same documents in the same order
    np.testing.assert_allclose(a.scores, b.scores, rtol=0, atol=1e-5)

    # an interrupted Ray build resumes: the shards already written are kept, the missing one is encoded
    from ranker.models.ray_engine import RayConfig, shard_encoder
    from ranker.retrieve.embed import encode_corpus

    embedder = one.dense().embedder
    docs = one.docs.texts(list(range(90)))  # what the index encoded: title and text
    shards = tmp_path / "shards"
    first = encode_corpus(embedder, docs, shards, 32, show_progress=False,
                          encode_missing=shard_encoder(RayConfig(workers=2), embedder))
    (shards / "shard-00001.npy").unlink()
    kept = (shards / "shard-00000.npy").stat().st_mtime_ns
    again = encode_corpus(embedder, docs, shards, 32, show_progress=False,
                          encode_missing=shard_encoder(RayConfig(workers=2), embedder))
    assert (shards / "shard-00001.npy").exists() and (shards / "shard-00000.npy").stat().st_mtime_ns == kept
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(first, one.dense().faiss_index.reconstruct_n(0, 90), rtol=0, atol=1e-6)

    # a cross-encoder to rerank with: two steps on groups mined from the index
    mined, model = tmp_path / "mined", tmp_path / "ce"
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\td{i}\t1\n" for i in range(12)))
    assert main(["mine", str(tmp_path / "one"), "--queries", str(queries), "--qrels", str(qrels), "--out", str(mined),
                 "--strategy", "bm25", "--negatives", "2", "--quiet"]) == 0
    assert main(["train", "reranker", "--groups", str(mined), "--index", str(tmp_path / "one"), "--out", str(model),
                 "--model", str(tiny_bert), "--max-steps", "3", "--max-length", "48", "--learning-rate", "1e-2",
                 "--quiet"]) == 0
    run = ["run", str(tmp_path / "one"), "--queries", str(queries), "--retriever", "bm25", "--reranker",
           str(model / "model"), "--precision", "fp32", "--quiet"]
    assert main([*run, "--out", str(tmp_path / "one.trec")]) == 0
    assert main([*run, "--out", str(tmp_path / "ray.trec"), "--engine", "ray", "--workers", "2"]) == 0
    capsys.readouterr()

    def lines(name):
        return [line.split() for line in (tmp_path / name).read_text().splitlines() if not line.startswith("#")]

    local, distributed = lines("one.trec"), lines("ray.trec")
    assert [x[:4] for x in local] == [x[:4] for x in distributed] and len(local) > 12
    np.testing.assert_allclose([float(x[4]) for x in local], [float(x[4]) for x in distributed], rtol=0, atol=1e-5)

    # many work items over both actors, reassembled in input order
    from ranker.models.ray_engine import score_pairs
    from ranker.rerank.reranker import RerankConfig, Reranker

    reranker = Reranker(RerankConfig(model=str(model / "model"), precision="fp32"))
    pairs_q = [texts[i % len(texts)] for i in range(300)]
    pairs_t = [docs[(7 * i) % 90][: 40 + i] for i in range(300)]
    expected = reranker.score_read(pairs_q, pairs_t)
    spread = score_pairs(RayConfig(workers=2, pairs_per_item=64), reranker.config, pairs_q, pairs_t, 32,
                         show_progress=False)
    # The tiny model's scores differ from each other by about 1e-5 of their size; a
    # pair put back in the wrong place would miss by that, far beyond rtol 1e-6.
    assert len(np.unique(expected)) > 150
    np.testing.assert_allclose(spread, expected, rtol=1e-6, atol=0)


def test_ray_bench_encoding_comparison_at_toy_size(tiny_model, local_ray):
    """The benchmark's comparison code (speed is never asserted): every side gives the one-process vectors."""
    from benchmarks.ray_bench import encoding
    from conftest import random_corpus
    from ranker.retrieve.embed import Embedder, EmbedderConfig

    result = encoding(Embedder(EmbedderConfig(model=str(tiny_model), max_length=32)), random_corpus(24, seed=5), 8)
    assert result["docs"] == 24 and set(result) >= {"local", "ray_1", "ray_2"}
    assert result["ray_1"]["max_abs_diff"] <= 1e-6 and result["ray_2"]["max_abs_diff"] <= 1e-6
