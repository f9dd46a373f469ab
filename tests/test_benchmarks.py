"""The benchmarks' comparison code at toy sizes: both sides agree, a disagreement is caught,
and the results render. Speed itself is never asserted here (``make bench`` measures it)."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks import bm25_bench, rerank_bench
from benchmarks.results_markdown import markdown
from benchmarks.synthetic import synthetic_corpus, synthetic_queries, word_frequencies
from conftest import NEWS


def test_synthetic_corpus_follows_the_word_frequencies():
    texts = [text for _, _, text in NEWS] * 5
    corpus = synthetic_corpus(texts, 2000, seed=0)
    words, p = word_frequencies(texts)
    drawn = [w for a in corpus for w in a.text.split()]
    assert set(drawn) <= set(words)
    share = drawn.count(words[0]) / len(drawn)
    assert share == pytest.approx(p[0], abs=0.01)
    assert max(len(a.text.split()) for a in corpus) <= max(len(t.split()) for t in texts)
    assert synthetic_corpus(texts, 10, seed=3) == synthetic_corpus(texts, 10, seed=3)


def test_bm25_comparison_agrees_on_a_toy_corpus():
    texts = [text for _, _, text in NEWS] * 5
    corpus = synthetic_corpus(texts, 300, seed=0)
    row = bm25_bench.compare(corpus, synthetic_queries(corpus, 20), oracle_queries=20)
    assert row["same_top10"] and row["documents"] == 300
    assert set(bm25_bench.ratios(row)) == {"qps_vs_rank_bm25", "qps_vs_bm25s", "index_vs_rank_bm25", "index_vs_bm25s"}


def test_same_top_catches_a_wrong_order_and_wrong_scores():
    oracle = np.array([0.5, 3.0, 2.0, 1.0])
    assert bm25_bench.same_top(np.array([1, 2, 3]), np.array([3.0, 2.0, 1.0]), oracle)
    assert not bm25_bench.same_top(np.array([2, 1, 3]), np.array([3.0, 2.0, 1.0]), oracle)
    assert not bm25_bench.same_top(np.array([1, 2, 3]), np.array([3.0, 2.0, 1.5]), oracle)


def test_rerank_comparison_matches_cross_encoder_scores(tmp_path, tiny_bert):
    from ranker.models.checkpoints import load_pair_scorer, load_tokenizer, save_model

    save_model(load_pair_scorer(str(tiny_bert)), load_tokenizer(str(tiny_bert)), tmp_path, {"task": "reranker"})
    texts = [text for _, _, text in NEWS]
    row = rerank_bench.compare(tmp_path, ["oil prices"] * len(texts), texts, max_length=64, batch_size=4)
    assert row["same_scores"] and row["max_abs_difference"] < 1e-4 and row["pairs"] == len(texts)
    assert set(row["pairs_per_second"]) == {"ranker", "ranker bf16", "ranker int8", "openvino fp32", "default",
                                            "CrossEncoder.predict"}
    # a random tiny model's scores barely vary, so bf16's rounding is a large share of them: only the shape is checked
    assert set(row["agreement_with_fp32"]) == {"ranker bf16", "ranker int8", "openvino fp32", "default"}
    assert row["agreement_with_fp32"]["openvino fp32"]["max_abs_difference"] < 1e-4
    assert row["default"] in ("openvino bf16", "openvino f32")


def test_results_render_as_markdown():
    results = {
        "mode": "quick",
        "machine": {"date": "d", "cpu": "c", "cores": 2, "python": "3", "versions": {"bm25s": "1"}},
        "bm25": [{"documents": 10, "queries": 2, "rank_bm25_queries": 2, "same_top10": True,
                  "index_seconds": {"ranker": 1.0, "bm25s": 1.0, "rank_bm25": 2.0},
                  "queries_per_second": {"ranker": 100.0, "bm25s": 100.0, "bm25s numpy": 10.0, "rank_bm25": 1.0},
                  "first_batch_seconds": 5.0,
                  "ratios": {"qps_vs_rank_bm25": 100.0, "qps_vs_bm25s": 1.0, "index_vs_rank_bm25": 2.0,
                             "index_vs_bm25s": 1.0}}],
    }
    results["train"] = {"steps": 2, "batch_size": 8, "pairs_per_group": 4, "max_length": 128,
                        "first_batch_loss": {"ranker": 1.386, "CrossEncoderTrainer": 1.386},
                        "pairs_per_second": {"ranker": 10.0, "CrossEncoderTrainer": 8.0, "ranker bf16": 16.0},
                        "loss": {"ranker": [1.4, 1.2], "CrossEncoderTrainer": [1.4, 1.3], "ranker bf16": [1.4, 1.2]}}
    results["mine"] = {"queries": 5, "documents": 1000, "same_negatives": 1.0, "same_order": 0.8, "ratio": 1.0,
                       "ratio_without_encoding": 4.0, "short": {"ranker": 1, "mine_hard_negatives": 1},
                       "queries_per_second": {"ranker": 40.0, "mine_hard_negatives": 40.0},
                       "queries_per_second_without_encoding": {"ranker": 2000.0, "mine_hard_negatives": 500.0},
                       "settings": {"range_max": {"mine_hard_negatives": 20}, "relative_margin": 0.05,
                                    "num_negatives": 3}}
    results["profiles"] = {"bm25_documents": 10,
                           "bm25": {"bm25s retrieve": 0.9, "query analyzer": 0.08, "the rest": 0.02},
                           "rerank": {"transformer forward": 0.96, "the rest": 0.04},
                           "train": {"fp32": {"forward": 1.0, "backward": 1.0},
                                     "bf16": {"forward": 0.5, "backward": 0.5}}}
    results["rerank"] = {"pairs": 10, "max_length": 128, "batch_size": 32, "same_scores": True,
                         "default": "openvino bf16",
                         "max_abs_difference": 1e-6,
                         "pairs_per_second": {"CrossEncoder.predict": 10.0, "ranker": 10.0, "ranker bf16": 12.0,
                                              "ranker int8": 20.0, "openvino fp32": 15.0, "default": 35.0},
                         "agreement_with_fp32": {name: {"pearson": 0.999, "max_abs_difference": 0.05}
                                                 for name in ("ranker bf16", "ranker int8", "openvino fp32",
                                                              "default")}}
    results["encode"] = {"articles": 4, "queries": 2, "max_length": 256, "batch_size": 32,
                         "default": "openvino bf16",
                         "max_abs_difference_fp32": 1e-7, "lowest_cosine_default": 0.9999,
                         "recall@10": {"SentenceTransformer.encode": 1.0, "openvino fp32": 1.0, "default": 0.995},
                         "articles_per_second": {"SentenceTransformer.encode": 10.0, "openvino fp32": 15.0,
                                                 "default": 25.0}}
    results["cli"] = {"help_seconds": 0.05, "cold_start": {"seconds": 2.5, "imports_torch": False,
                                                           "imports_transformers": False, "peak_rss_mib": 400.0},
                      "warm": [{"depth": 20, "runtime": "openvino", "precision": "bf16", "queries": 5, "p50_ms": 120.0,
                                "p95_ms": 150.0, "mean_ms": 125.0, "default": True},
                               {"depth": 20, "runtime": "torch", "precision": "fp32", "queries": 5, "p50_ms": 400.0,
                                "p95_ms": 450.0, "mean_ms": 410.0, "default": False}]}
    text = markdown(results)
    assert "| reranking ≥ 3× CrossEncoder.predict, the default (openvino bf16) | 3.50× | met |" in text
    assert "| encoding ≥ 2× SentenceTransformer.encode, the default (openvino bf16) | 2.50× | met |" in text
    assert "| warm p50 ≤ 150 ms at depth 20, default (openvino bf16) | 120 ms | met |" in text
    assert "| cold start to the first reranked result ≤ 3 s, default runtime | 2.50 s | met |" in text
    assert "| **ranker, default (openvino bf16)** | 35.0 | **3.50×** | 0.99900 | 0.050 |" in text
    assert "imports torch: no" in text
    assert "| 10 | 100 | 100 | 10 | 1.0 | **100×** | 1.00× | 5.0 |" in text
    assert "bm25s retrieve 90%, query analyzer 8%, the rest 2%" in text
    assert "bf16 1.00 s (forward 50%, backward 50%)" in text
    assert "| ranker | bf16 | 16.0 | **2.00×** | 1.400 → 1.200 |" in text
    assert "| CrossEncoderTrainer | fp32 | 8.0 | **1.00×**" in text
    assert "| without | 2,000 | 500 | **4.00×** |" in text and "Same negatives for 100.0% of the queries" in text


def test_dense_comparison_measures_recall_against_flat():
    from benchmarks.dense_bench import blended_vectors, compare

    rng = np.random.default_rng(0)
    real = rng.standard_normal((50, 32)).astype(np.float32)
    vectors = blended_vectors(real, 2000)
    row = compare(vectors, vectors[:20], k=5, kinds=("flat", "hnsw"))
    assert row["flat"]["recall@5"] == 1.0 and 0.5 <= row["hnsw"]["recall@5"] <= 1.0
    assert row["vectors"] == 2000 and row["hnsw"]["queries_per_second"] > 0


def test_peak_memory_is_the_child_processes_own():
    from benchmarks.memory_bench import peak_mib

    small = peak_mib("pass")
    assert peak_mib("x = bytearray(200 * 1024 * 1024); x[::4096] = b'1' * len(x[::4096])") > small + 150
    assert peak_mib("pass") < small + 20  # a later, smaller process does not inherit the big one's peak


@pytest.mark.timeout(300)
def test_the_scale_benchmark_measures_every_cost_and_its_growth(beir_folder, tmp_path):
    from benchmarks.scale_bench import COSTS, measure, plot

    found = measure(beir_folder, [200, 800], ["oil prices", "dam broke", "the"])
    assert [r["documents"] for r in found["rows"]] == [200, 800]
    for row in found["rows"]:
        assert row["build_peak_rss_mib"] > 0 and row["disk_mib"] > 0 and row["bm25_qps"] > 0 and row["lookup_ms"] > 0
        assert {"docstore", "bm25", "total"} <= set(row["build_seconds"])  # reading is the docstore stage's, streamed
        assert row["open_unvouched_seconds"] > 0 and row["bm25s_qps_numba"] > 0
        assert row["old_path"]["same_top10_and_scores"]  # the streaming build answers as the old path did
    assert set(found["growth"]) == set(COSTS)
    assert 0.5 < found["growth"]["disk size"]["exponent"] < 1.5  # the disk grows with the corpus
    plot(found, tmp_path / "scale.png")
    assert (tmp_path / "scale.png").stat().st_size > 10_000


def test_a_partial_run_says_which_figures_are_new_and_dates_the_others(tmp_path):
    import json

    from benchmarks.run import starting_results

    earlier = {"mode": "full", "machine": {"date": "2026-11-28 07:46 UTC"}, "serve": {"old": 1}, "bm25": {"kept": 1}}
    (tmp_path / "results.json").write_text(json.dumps(earlier))
    first = starting_results(tmp_path, "full", {"serve"})
    assert first["bm25"] == {"kept": 1} and "serve" not in first
    assert first["partial"] == {"sections": ["serve"], "rest_measured": "2026-11-28 07:46 UTC"}
    (tmp_path / "results.json").write_text(json.dumps({**first, "serve": {"new": 1}}))
    second = starting_results(tmp_path, "full", {"cli"})  # a second partial run keeps the first's date for the rest
    assert second["partial"] == {"sections": ["cli", "serve"], "rest_measured": "2026-11-28 07:46 UTC"}
    assert "partial" not in starting_results(tmp_path, "quick", {"cli"})  # another mode keeps nothing


@pytest.mark.timeout(300)
def test_the_segments_benchmark_runs_at_a_small_size(tmp_path, demo_world):
    from benchmarks.segments_bench import measure

    texts = ["Oil prices fell as OPEC cut output", "The dam held after the storm", "Voters went to the polls"] * 50
    row = measure(200, texts, ["oil prices", "the storm"], tmp_path, demo_world / "indexes/news")
    assert set(row["adds"]) == {10, 100, 1000} and set(row["search"]) == {"1", "4", "10", "30", "2 (merged)",
                                                                          "1 (merged)"}
    assert all(np.isfinite(add["served_after_s"]) for add in row["adds"].values())  # each add found by the service
    assert row["merge_to_2"]["segments_after"] == 2 and row["merge_to_1"]["segments_after"] == 1
