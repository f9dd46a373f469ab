"""RESULTS.md's table of goals: each speed and quality goal with the figure that meets it, or the gap.

A function per benchmark gives its rows, from the whole results (:data:`GOALS`
gives their order); the quality gate's rows come from ``precision_quality.json``
(``python -m pipelines.precision_quality``), whose tables
:mod:`benchmarks.results_markdown` shows.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent


def _goal(name: str, value: float, target: float, shown: str, higher: bool = True) -> str:
    """A goal's row: met, or not met and by how much (``higher``: the value must reach the target, else stay under it).

    Example:
        >>> _goal("`ranker --help` < 1 s", 1.2, 1.0, "1200 ms", higher=False)
        '| `ranker --help` < 1 s | 1200 ms | not met (over by 20%) |'
    """
    met = value >= target if higher else value <= target
    gap = "" if met else f" ({'short' if higher else 'over'} by {abs(value - target) / target:.0%})"
    return f"| {name} | {shown} | {'met' if met else 'not met' + gap} |"


def _verdict(name: str, shown: str, met: bool) -> str:
    """A goal's row where met is a yes or no, not a figure against a target.

    Example:
        >>> _verdict("no errors", "0 errors", True)
        '| no errors | 0 errors | met |'
    """
    return f"| {name} | {shown} | {'met' if met else 'not met'} |"


def _bm25_goals(results: dict[str, Any]) -> list[str]:
    big = max(results["bm25"], key=lambda r: r["documents"])
    goals = [_goal(f"BM25 ≥ 100× rank_bm25 at {big['documents']:,} documents", big["ratios"]["qps_vs_rank_bm25"], 100,
                   f"{big['ratios']['qps_vs_rank_bm25']:,.0f}×")]
    goals += [_goal(f"BM25 within 10% of raw bm25s, {row['documents']:,} documents", row["ratios"]["qps_vs_bm25s"],
                    0.9, f"{row['ratios']['qps_vs_bm25s']:.2f}×") for row in results["bm25"]]
    return goals


def _rerank_goals(results: dict[str, Any]) -> list[str]:
    p = results["rerank"]["pairs_per_second"]
    value = p["default"] / p["CrossEncoder.predict"]
    return [_goal(f"reranking ≥ 3× CrossEncoder.predict, the default ({results['rerank']['default']})", value, 3.0,
                  f"{value:.2f}×")]


def _encode_goals(results: dict[str, Any]) -> list[str]:
    e = results["encode"]
    value = e["articles_per_second"]["default"] / e["articles_per_second"]["SentenceTransformer.encode"]
    return [_goal(f"encoding ≥ 2× SentenceTransformer.encode, the default ({e['default']})", value, 2.0,
                  f"{value:.2f}×"),
            _goal("encoding: recall@10 against sentence-transformers' vectors ≥ 0.99, the default",
                  e["recall@10"]["default"], 0.99, f"{e['recall@10']['default']:.4f}")]


def _train_goals(results: dict[str, Any]) -> list[str]:
    x = results["train"]["pairs_per_second"]
    goals = []
    for name in ("ranker", "ranker bf16"):
        value = x[name] / x["CrossEncoderTrainer"]
        goals.append(_goal(f"training ≥ 1.3× plain CrossEncoderTrainer, {'bf16' if 'bf16' in name else 'fp32'}", value,
                           1.3, f"{value:.2f}×"))
    return goals


def _cli_goals(results: dict[str, Any]) -> list[str]:
    c = results["cli"]
    cold = c["cold_start"]
    goals = [_goal("`ranker --help` < 1 s", c["help_seconds"], 1.0, f"{c['help_seconds'] * 1000:.0f} ms",
                   higher=False),
             _goal("cold start to the first reranked result ≤ 3 s, default runtime", cold["seconds"], 3.0,
                   f"{cold['seconds']:.2f} s", higher=False)]
    goals += [_goal(f"warm p50 ≤ 150 ms at depth 20, default ({w['runtime']} {w['precision']})", w["p50_ms"], 150,
                    f"{w['p50_ms']:.0f} ms", higher=False)
              for w in c["warm"] if w["depth"] == 20 and w.get("default")]
    return goals


def _serve_goals(results: dict[str, Any]) -> list[str]:
    rows = {(r["clients"], r["rerank"]): r for r in results["serve"]["rows"]}
    one, many = rows.get((1, True)), rows.get((16, True))
    goals = []
    if one:
        depth = results["serve"].get("depth", 20)
        goals += [_goal(f"`ranker serve`, one client, reranked at depth {depth}: p50 ≤ 150 ms", one["p50_ms"], 150,
                        f"{one['p50_ms']:.0f} ms", higher=False),
                  _goal("`ranker serve`, one client, reranked: p99 ≤ 400 ms", one["p99_ms"], 400,
                        f"{one['p99_ms']:.0f} ms", higher=False)]
    if one and many:
        value = many["requests_per_second"] / one["requests_per_second"]
        goals.append(_goal("`ranker serve`, 16 clients, reranked: requests/s ≥ 1.2× one client's", value, 1.2,
                           f"{value:.2f}×"))
        errors = sum(r["errors"] for r in results["serve"]["rows"])
        goals.append(_verdict("`ranker serve`: no errors under load", f"{errors} errors", errors == 0))
    return goals


def _scale_goals(results: dict[str, Any]) -> list[str]:
    big = max(results["scale"]["rows"], key=lambda r: r["documents"])
    n = f"{big['documents']:,} documents"
    old = f" (old path {big['old_path']['build_peak_rss_mib']:,.0f} MiB)" if "old_path" in big else ""
    goals = [_goal(f"streaming build of {n}: peak RSS ≤ 3 GiB", big["build_peak_rss_mib"], 3 * 1024,
                   f"{big['build_peak_rss_mib']:,.0f} MiB" + old, higher=False)]
    for row in (r for r in results["scale"]["rows"] if "old_path" in r):
        same = row["old_path"]["same_top10_and_scores"]
        goals.append(_verdict(f"streaming build, {row['documents']:,} documents: the old path's top 10 and scores",
                              "the same" if same else "different", same))
    goals += [_goal(f"open {n} ≤ 1 s", big["open_seconds"], 1.0, f"{big['open_seconds']:.2f} s", higher=False),
              _goal(f"RSS after opening {n} ≤ 500 MiB", big["rss_after_open_mib"], 500,
                    f"{big['rss_after_open_mib']:,.0f} MiB", higher=False)]
    for suffix, backend in (("", "numpy"), ("_numba", "numba")):
        if "bm25_qps" + suffix in big:
            value = big["bm25_qps" + suffix] / big["bm25s_qps" + suffix]
            goals.append(_goal(f"BM25 over {n} within 10% of raw bm25s ({backend})", value, 0.9, f"{value:.2f}×"))
    return goals


def _dense_scale_goals(results: dict[str, Any]) -> list[str]:
    from ranker.retrieve.dense import DenseConfig

    d = results["dense_scale"]
    auto = DenseConfig().resolved_type(d["vectors"])
    speed = d[auto]["queries_per_second"] / d["flat"]["queries_per_second"]
    met = d[auto]["recall@10"] >= 0.95 and speed >= 20
    return [_verdict(f"FAISS `auto` ({auto}) at {d['vectors']:,} vectors: recall@10 ≥ 0.95 at ≥ 20× exact",
                     f"{d[auto]['recall@10']:.3f} at {speed:.0f}×", met)]


def _quality_gates(results: dict[str, Any]) -> tuple[list[str], list[str]]:
    """The quality gate's rows, one per runtime and precision against the first one measured, and the
    note on the default runtime that follows the table; none without reranking figures or
    ``precision_quality.json`` (or one from before it measured runtimes)."""
    quality = HERE / "precision_quality.json"
    if "rerank" not in results or not quality.is_file():
        return [], []
    rows = json.loads(quality.read_text())["rows"]
    if "runtime" not in rows[0]:
        return [], []
    reference = (rows[0]["runtime"], rows[0]["precision"])
    base = {r["split"]: r for r in rows if (r["runtime"], r["precision"]) == reference}

    def worst(runtime: str, precision: str, system: str) -> float:
        return max(abs(r[system]["MRR@10"] - base[r["split"]][system]["MRR@10"])
                   for r in rows if (r["runtime"], r["precision"]) == (runtime, precision))

    gates = []
    for runtime, precision in dict.fromkeys((r["runtime"], r["precision"]) for r in rows):
        if (runtime, precision) == reference:
            continue
        mixed, alone = worst(runtime, precision, "mixed"), worst(runtime, precision, "alone")
        gates.append(_verdict(f"quality gate, {runtime} {precision}: MRR@10 within 0.002 of {' '.join(reference)} "
                              "mixed, 0.005 alone", f"mixed {mixed:.4f}, alone {alone:.4f}",
                              mixed <= 0.002 and alone <= 0.005))
    notes = ["The default runtime is `auto`: OpenVINO on a CPU, in bf16 where the CPU has AVX512-BF16 or AMX "
             "(this one), else fp32; PyTorch on a GPU. A variant is a default only if it passes the quality gate "
             "above (the tables below); int8 (PyTorch's dynamic quantisation) stays a choice.", ""]
    return gates, notes


def _fairness_goals(results: dict[str, Any]) -> list[str]:
    goals = []
    for row in results["fairness"]["rows"]:
        with_ = "with the reranker" if row["rerank"] else "no reranker"
        idle = row["idle"]["light_p50_ms"]
        goals += [_goal(f"one light client beside three sending the largest request, {with_}: p50 ≤ 3× idle p50",
                        row["p50_ratio"], 3.0, f"{row['p50_ratio']:.1f}× ({row['together']['light_p50_ms']:.0f} ms; "
                        f"idle {idle:.0f} ms)", higher=False),
                  _goal(f"the same, {with_}: p99 ≤ 10× idle p50", row["p99_ratio"], 10.0,
                        f"{row['p99_ratio']:.1f}× ({row['together']['light_p99_ms']:.0f} ms)", higher=False),
                  _goal(f"the heavy clients keep ≥ 70% of their throughput alone, {with_}", row["heavy_share"], 0.7,
                        f"{row['heavy_share']:.0%}"),
                  _verdict(f"no request refused (429) or failed, {with_}",
                           f"{row['together']['refused']} refused, {row['together']['failed']} failed",
                           row["together"]["refused"] == 0 and row["together"]["failed"] == 0)]
    return goals


#: Each benchmark's rows of the goals table, in the table's order.
def _segments_goals(results: dict[str, Any]) -> list[str]:
    rows = {row["documents"]: row for row in results["segments"]["rows"]}
    goals = []
    if 1_000_000 in rows:
        add = rows[1_000_000]["adds"]["100"]
        goals += [_goal("adding 100 articles to a 1,000,000-article index (BM25 + HNSW): ≤ 10 s beyond encoding",
                        add["beyond_encoding_s"], 10.0, f"{add['beyond_encoding_s']:.2f} s", higher=False),
                  _goal("…and a running `ranker serve` answers with them ≤ 1 s after the add ends",
                        add["served_after_s"], 1.0, f"{add['served_after_s']:.2f} s", higher=False)]
        if 100_000 in rows:
            ratio = add["beyond_encoding_s"] / rows[100_000]["adds"]["100"]["beyond_encoding_s"]
            goals.append(_goal("adding 100 at 1,000,000 costs ≤ 2× adding them at 100,000 (beyond encoding)",
                               ratio, 2.0, f"{ratio:.2f}×", higher=False))
    for size, row in sorted(rows.items()):
        for kind in ("bm25", "hybrid"):
            ratio = row["search"]["10"][f"{kind}_p50_ms"] / row["search"]["1"][f"{kind}_p50_ms"]
            goals.append(_goal(f"{kind} p50 over 10 segments ≤ 1.2× the index as built, {size:,} articles", ratio,
                               1.2, f"{ratio:.2f}×", higher=False))
    return goals


GOALS = (("bm25", _bm25_goals), ("rerank", _rerank_goals), ("encode", _encode_goals), ("train", _train_goals),
         ("cli", _cli_goals), ("serve", _serve_goals), ("fairness", _fairness_goals), ("scale", _scale_goals),
         ("dense_scale", _dense_scale_goals), ("segments", _segments_goals))


def goal_lines(results: dict[str, Any]) -> list[str]:
    """Each speed and quality goal with the figure that meets it or the gap, from what this run measured."""
    goals = [row for key, rows_of in GOALS if key in results for row in rows_of(results)]
    if not goals:
        return []
    gates, notes = _quality_gates(results)
    return ["## Goals, from this run", "", "| goal | measured | |", "|---|---|---|", *goals, *gates, "", *notes]
