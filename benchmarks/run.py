"""``make bench``: run the benchmarks and write ``benchmarks/results.json`` and ``RESULTS.md``.

Run: ``python -m benchmarks.run [--quick] [--only bm25,rerank,cli]``. ``--quick``
uses the small sizes (about 5.5 minutes); the full run about 25 minutes. Needs the
news benchmark and its index (``make demo`` builds both) for the reranking and
CLI benchmarks; the BM25 benchmark builds its synthetic corpora itself.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import (
    bm25_bench,
    cli_bench,
    dense_bench,
    encode_bench,
    memory_bench,
    mine_bench,
    profiles,
    rerank_bench,
    scale_bench,
    serve_bench,
    train_bench,
    update_bench,
)
from benchmarks.common import machine, timed, write_results
from benchmarks.synthetic import synthetic_corpus

HERE = Path(__file__).parent
# quick leaves IVF-PQ out: training its quantisers takes about 2 minutes at any size here
SIZES = {"quick": {"memory_docs": 10_000, "bm25_docs": [10_000], "dense_vectors": 20_000, "dense_kinds": ("flat", "hnsw"), "rerank_queries": 20,
                   "cli_queries": 20, "mine_queries": 100, "train_steps": 4, "update_docs": 10_000, "update_add": 100,
                   "serve_seconds": 5, "scale_docs": [10_000, 100_000], "dense_scale_vectors": None},
         "full": {"memory_docs": 100_000, "bm25_docs": [10_000, 100_000], "dense_vectors": 100_000, "dense_kinds": ("flat", "hnsw", "ivfpq"),
                  "rerank_queries": 100, "cli_queries": 50, "mine_queries": 300, "train_steps": 20,
                  "update_docs": 100_000, "update_add": 1_000, "serve_seconds": 20,
                  "scale_docs": [10_000, 100_000, 1_000_000], "dense_scale_vectors": 1_000_000}}
EVERY = {"bm25", "dense", "dense_scale", "encode", "rerank", "cli", "serve", "scale", "memory", "mine", "train", "profiles",
         "update"}


def cross_encoder(models: Path) -> Path:
    """The demo's reranker if it exists, else the backbone with a fresh one-output head
    (speed does not depend on what the head learned)."""
    demo = Path("models/demo/model/model")
    if (demo / "config.json").is_file():
        return demo
    from ranker.models.checkpoints import load_pair_scorer, load_tokenizer, save_model

    folder = models / "cross-encoder"
    folder.mkdir(parents=True, exist_ok=True)
    save_model(load_pair_scorer("all-MiniLM-L6-v2"), load_tokenizer("all-MiniLM-L6-v2"), folder, {"task": "reranker"})
    return folder


def mined_groups() -> Path:
    """Mined training groups: the full preset's if it was run, else the demo's."""
    for folder in (Path("runs/reranker-full/mined"), Path("models/demo/mined")):
        if (folder / "groups.parquet").is_file():
            return folder / "groups.parquet"
    raise SystemExit("no mined groups: run `make demo` first (it mines models/demo/mined)")


def test_titles(data: Path, n: int) -> list[str]:
    """A fixed sample of ``n`` news test titles: real queries, names and rare words as users type them."""
    from ranker.data.qrels import beir_split

    return [q.text for q in beir_split(data, "test-title", sample=n)[0]]


def rerank_pairs(data: Path, index: Path, n_queries: int, depth: int = 20) -> tuple[list[str], list[str]]:
    """(query, article) pairs as the reranker meets them: test titles with hybrid's top ``depth``."""
    from ranker.index.folder import Index
    from ranker.rerank.reranker import candidate_pairs

    queries = test_titles(data, n_queries)
    opened = Index.open(index)
    found = opened.retriever("hybrid").search(queries, depth)
    return candidate_pairs(found, queries, opened.docs.texts)


def quality_lines(path: Path) -> list[str]:
    """RESULTS.md's tables of ranking quality by runtime and precision, from ``python -m
    pipelines.precision_quality`` (too slow for ``make bench``: it reranks the whole test split
    in every variant)."""
    import json

    if not path.is_file():
        return ["Quality by runtime and precision: not measured yet (`python -m pipelines.precision_quality`).", ""]
    found = json.loads(path.read_text())
    rows = found["rows"]
    variant = (lambda r: f"{r['runtime']} {r['precision']}") if "runtime" in rows[0] else (lambda r: f"torch {r['precision']}")
    reference = {r["split"]: r for r in rows if variant(r) == variant(rows[0])}
    made = f", the model made by `{found['made_by'].split(' (')[0]}`" if "made_by" in found else ""
    lines = [f"Ranking quality by runtime and precision (`python -m pipelines.precision_quality --model {found['model']}`{made}; "
             f"hybrid's top 20 reranked, mixed at the model's dev-tuned weight {found['weight']:g}; score agreement "
             f"with {variant(rows[0])} over every pair):", "",
             "| variant | queries | Pearson | largest score change | MRR@10 alone | change | mixed | change |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        base = reference[r["split"]]
        lines.append(f"| {variant(r)} | {r['split']} ({r['queries']}) | {r.get('pearson', float('nan')):.5f} | "
                     f"{r.get('max_abs_difference', float('nan')):.3f} | {r['alone']['MRR@10']:.4f} | "
                     f"{r['alone']['MRR@10'] - base['alone']['MRR@10']:+.4f} | {r['mixed']['MRR@10']:.4f} | "
                     f"{r['mixed']['MRR@10'] - base['mixed']['MRR@10']:+.4f} |")
    lines.append("")
    if "encoders" in found:
        e = found["encoders"]
        lines += [f"The dense encoder ({e['model']}): {e['queries']:,} test queries over all {e['documents']:,} articles, "
                  f"each runtime's top 10 against {e['rows'][0]['runtime']} {e['rows'][0]['precision']}'s:", "",
                  "| encoder | recall@10 | same top 10, in order |", "|---|---|---|"]
        lines += [f"| {r['runtime']} {r['precision']} | {r['recall@10']:.4f} | {r['identical_top10']:.1%} |" for r in e["rows"]]
        lines.append("")
    return lines


def goal_lines(results: dict[str, Any]) -> list[str]:
    """Each speed and quality goal with the figure that meets it or the gap, from what this run measured."""
    import json

    goals = []

    def add(name: str, value: float, target: float, shown: str, higher: bool = True) -> None:
        met = value >= target if higher else value <= target
        gap = "" if met else f" ({'short' if higher else 'over'} by {abs(value - target) / target:.0%})"
        goals.append(f"| {name} | {shown} | {'met' if met else 'not met' + gap} |")

    if "bm25" in results:
        big = max(results["bm25"], key=lambda r: r["documents"])
        add(f"BM25 ≥ 100× rank_bm25 at {big['documents']:,} documents", big["ratios"]["qps_vs_rank_bm25"], 100,
            f"{big['ratios']['qps_vs_rank_bm25']:,.0f}×")
        for row in results["bm25"]:
            add(f"BM25 within 10% of raw bm25s, {row['documents']:,} documents", row["ratios"]["qps_vs_bm25s"], 0.9,
                f"{row['ratios']['qps_vs_bm25s']:.2f}×")
    if "rerank" in results:
        p = results["rerank"]["pairs_per_second"]
        value = p["default"] / p["CrossEncoder.predict"]
        add(f"reranking ≥ 3× CrossEncoder.predict, the default ({results['rerank']['default']})", value, 3.0, f"{value:.2f}×")
    if "encode" in results:
        e = results["encode"]
        value = e["articles_per_second"]["default"] / e["articles_per_second"]["SentenceTransformer.encode"]
        add(f"encoding ≥ 2× SentenceTransformer.encode, the default ({e['default']})", value, 2.0, f"{value:.2f}×")
        add("encoding: recall@10 against sentence-transformers' vectors ≥ 0.99, the default", e["recall@10"]["default"], 0.99,
            f"{e['recall@10']['default']:.4f}")
    if "train" in results:
        x = results["train"]["pairs_per_second"]
        for name in ("ranker", "ranker bf16"):
            value = x[name] / x["CrossEncoderTrainer"]
            add(f"training ≥ 1.3× plain CrossEncoderTrainer, {'bf16' if 'bf16' in name else 'fp32'}", value, 1.3, f"{value:.2f}×")
    if "cli" in results:
        c = results["cli"]
        add("`ranker --help` < 1 s", c["help_seconds"], 1.0, f"{c['help_seconds'] * 1000:.0f} ms", higher=False)
        cold = c["cold_start"]
        add("cold start to the first reranked result ≤ 3 s, default runtime", cold["seconds"], 3.0,
            f"{cold['seconds']:.2f} s", higher=False)
        for w in (w for w in c["warm"] if w["depth"] == 20 and w.get("default")):
            add(f"warm p50 ≤ 150 ms at depth 20, default ({w['runtime']} {w['precision']})", w["p50_ms"], 150,
                f"{w['p50_ms']:.0f} ms", higher=False)
    if "serve" in results:
        rows = {(r["clients"], r["rerank"]): r for r in results["serve"]["rows"]}
        one, many = rows.get((1, True)), rows.get((16, True))
        if one:
            add("`ranker serve`, one client, reranked at depth 20: p50 ≤ 150 ms", one["p50_ms"], 150, f"{one['p50_ms']:.0f} ms",
                higher=False)
            add("`ranker serve`, one client, reranked: p99 ≤ 400 ms", one["p99_ms"], 400, f"{one['p99_ms']:.0f} ms", higher=False)
        if one and many:
            value = many["requests_per_second"] / one["requests_per_second"]
            add("`ranker serve`, 16 clients, reranked: requests/s ≥ 1.2× one client's", value, 1.2, f"{value:.2f}×")
            errors = sum(r["errors"] for r in results["serve"]["rows"])
            goals.append(f"| `ranker serve`: no errors under load | {errors} errors | {'met' if errors == 0 else 'not met'} |")
    if "scale" in results:
        big = max(results["scale"]["rows"], key=lambda r: r["documents"])
        n = f"{big['documents']:,} documents"
        add(f"streaming build of {n}: peak RSS ≤ 3 GiB", big["build_peak_rss_mib"], 3 * 1024,
            f"{big['build_peak_rss_mib']:,.0f} MiB" + (f" (old path {big['old_path']['build_peak_rss_mib']:,.0f} MiB)"
                                                      if "old_path" in big else ""), higher=False)
        for row in (r for r in results["scale"]["rows"] if "old_path" in r):
            same = row["old_path"]["same_top10_and_scores"]
            goals.append(f"| streaming build, {row['documents']:,} documents: the old path's top 10 and scores | "
                         f"{'the same' if same else 'different'} | {'met' if same else 'not met'} |")
        add(f"open {n} ≤ 1 s", big["open_seconds"], 1.0, f"{big['open_seconds']:.2f} s", higher=False)
        add(f"RSS after opening {n} ≤ 500 MiB", big["rss_after_open_mib"], 500, f"{big['rss_after_open_mib']:,.0f} MiB",
            higher=False)
        for suffix, backend in (("", "numpy"), ("_numba", "numba")):
            if "bm25_qps" + suffix in big:
                value = big["bm25_qps" + suffix] / big["bm25s_qps" + suffix]
                add(f"BM25 over {n} within 10% of raw bm25s ({backend})", value, 0.9, f"{value:.2f}×")
    if "dense_scale" in results:
        from ranker.retrieve.dense import DenseConfig

        d = results["dense_scale"]
        auto = DenseConfig().resolved_type(d["vectors"])
        speed = d[auto]["queries_per_second"] / d["flat"]["queries_per_second"]
        met = d[auto]["recall@10"] >= 0.95 and speed >= 20
        goals.append(f"| FAISS `auto` ({auto}) at {d['vectors']:,} vectors: recall@10 ≥ 0.95 at ≥ 20× exact | "
                     f"{d[auto]['recall@10']:.3f} at {speed:.0f}× | {'met' if met else 'not met'} |")
    if not goals:
        return []
    notes = []
    quality = HERE / "precision_quality.json"
    if "rerank" in results and quality.is_file():
        found = json.loads(quality.read_text())
        rows = found["rows"]
        if "runtime" in rows[0]:
            reference = (rows[0]["runtime"], rows[0]["precision"])
            base = {r["split"]: r for r in rows if (r["runtime"], r["precision"]) == reference}

            def worst(runtime: str, precision: str, system: str) -> float:
                return max(abs(r[system]["MRR@10"] - base[r["split"]][system]["MRR@10"])
                           for r in rows if (r["runtime"], r["precision"]) == (runtime, precision))

            for runtime, precision in dict.fromkeys((r["runtime"], r["precision"]) for r in rows):
                if (runtime, precision) == reference:
                    continue
                mixed, alone = worst(runtime, precision, "mixed"), worst(runtime, precision, "alone")
                met = mixed <= 0.002 and alone <= 0.005
                goals.append(f"| quality gate, {runtime} {precision}: MRR@10 within 0.002 of {' '.join(reference)} mixed, "
                             f"0.005 alone | mixed {mixed:.4f}, alone {alone:.4f} | {'met' if met else 'not met'} |")
            notes = ["The default runtime is `auto`: OpenVINO on a CPU, in bf16 where the CPU has AVX512-BF16 or AMX "
                     "(this one), else fp32; PyTorch on a GPU. A variant is a default only if it passes the quality gate "
                     "above (the tables below); int8 (PyTorch's dynamic quantisation) stays a choice.", ""]
    return ["## Goals, from this run", "", "| goal | measured | |", "|---|---|---|", *goals, "", *notes]


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    """A Markdown table's lines.

    Example:
        >>> _table(["a", "b"], [[1, "x"]])
        ['| a | b |', '|---|---|', '| 1 | x |']
    """
    return ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers), *("| " + " | ".join(map(str, row)) + " |" for row in rows)]


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = ["# Benchmarks", "", f"Measured {m['date']} on {m['cpu']} ({m['cores']} cores), Python {m['python']}; "
             + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v) + f". Mode: {results['mode']}.", "",
             "Ratios are ours over theirs, measured in one run on the same data (above 1: ours is faster). "
             "Each comparison first checks that both sides give the same results.", "", *goal_lines(results)]
    if "bm25" in results:
        lines += ["## BM25 (Robertson, same tokens; synthetic Zipfian corpus from the news word frequencies, 200 news test titles as queries)", "",
                  "Ours and raw bm25s on bm25s's numba backend; bm25s numpy is its default backend. Best of five rounds, "
                  "the sides taking turns in each; numba's compilation (first batch, below) is not in the rates.", "",
                  "| documents | queries/s ranker | bm25s | bm25s numpy | rank_bm25 | vs rank_bm25 | vs bm25s | first batch s | index s ranker | bm25s | rank_bm25 | same top 10 |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for row in results["bm25"]:
            q, i, r = row["queries_per_second"], row["index_seconds"], row["ratios"]
            lines.append(f"| {row['documents']:,} | {q['ranker']:,.0f} | {q['bm25s']:,.0f} | {q['bm25s numpy']:,.0f} | {q['rank_bm25']:,.1f} | "
                         f"**{r['qps_vs_rank_bm25']:.0f}×** | {r['qps_vs_bm25s']:.2f}× | {row['first_batch_seconds']:.1f} | {i['ranker']:.1f} | "
                         f"{i['bm25s']:.1f} | {i['rank_bm25']:.1f} | {row['same_top10']} |")
        lines += ["", "Goals: ≥ 100× rank_bm25's queries/s at 100k documents; within 10% of raw bm25s.", ""]
    if "dense" in results:
        d = results["dense"]
        lines += [f"## Dense (all-MiniLM-L6-v2, 256 tokens; {d['vectors']:,} vectors blended from the news embeddings, "
                  f"{d['queries']} test-title queries)", "",
                  f"Encoding: {d['encode_docs_per_second']:.1f} articles/s (200 news articles).", "",
                  "| index | build s | queries/s | recall@10 against flat |", "|---|---|---|---|"]
        for kind in [k for k in ("flat", "hnsw", "ivfpq") if k in d]:
            x = d[kind]
            lines.append(f"| {kind} | {x['build_seconds']:.1f} | {x['queries_per_second']:,.0f} | {x['recall@10']:.4f} |")
        lines.append("")
    if "dense_scale" in results:
        from ranker.retrieve.dense import DenseConfig

        d = results["dense_scale"]
        flat, auto = d["flat"]["queries_per_second"], DenseConfig().resolved_type(d["vectors"])
        lines += [f"## FAISS at {d['vectors']:,} vectors (`make bench` full mode; blended from the news embeddings as above, "
                  f"{d['queries']} test-title queries)", "",
                  f"Goal: the `auto` choice ({auto} at this size) reaches recall@10 ≥ 0.95 at ≥ 20× the exact "
                  "search's queries/s." + (f" (`auto` picked {d['auto']} when this ran; these figures moved it to {auto}.)"
                                           if d["auto"] != auto else ""), "",
                  "| index | build s | queries/s | vs exact | recall@10 against flat |", "|---|---|---|---|---|"]
        for kind in [k for k in ("flat", "hnsw", "ivfpq") if k in d]:
            x = d[kind]
            lines.append(f"| {kind}{' (auto)' if kind == auto else ''} | {x['build_seconds']:.1f} | "
                         f"{x['queries_per_second']:,.0f} | {x['queries_per_second'] / flat:.0f}× | {x['recall@10']:.4f} |")
        small = results.get("dense", {})
        if "hnsw" in small and "hnsw" in d and small["vectors"] < d["vectors"]:
            import math

            slope = math.log(d["hnsw"]["build_seconds"] / small["hnsw"]["build_seconds"]) / math.log(d["vectors"] / small["vectors"])
            lines += ["", f"HNSW's build time grew {d['hnsw']['build_seconds'] / small['hnsw']['build_seconds']:.1f}× from "
                      f"{small['vectors']:,} to {d['vectors']:,} vectors (log-log slope {slope:.2f}: n log n, as its "
                      "insertions search a graph that grows)."]
        lines.append("")
    if "rerank" in results:
        r = results["rerank"]
        p, agree = r["pairs_per_second"], r["agreement_with_fp32"]
        lines += [f"## Reranking (same model, same {r['pairs']:,} pairs, {r['max_length']} tokens, batches of {r['batch_size']})", "",
                  "Ours in fp32, on PyTorch and on OpenVINO, must give CrossEncoder.predict's scores (to 1e-4; PyTorch's "
                  f"largest difference {r['max_abs_difference']:.1e}); bf16 and int8 change the scores, so their agreement "
                  "with fp32 is shown and their ranking quality is measured on the test split (below). "
                  f"The default is what `ranker query` runs on this machine: {r['default']}. sentence-transformers' own "
                  "ONNX and OpenVINO backends need optimum, which does not install beside our pins "
                  "(transformers 5.24), so they are not in the table.", "",
                  "| scorer | pairs/s | vs CrossEncoder.predict | Pearson with fp32 | largest score change |", "|---|---|---|---|---|",
                  f"| CrossEncoder.predict | {p['CrossEncoder.predict']:.1f} | 1.00× | | |",
                  f"| ranker, PyTorch fp32 | {p['ranker']:.1f} | {p['ranker'] / p['CrossEncoder.predict']:.2f}× | 1 | 0 |"]
        for name, shown in (("ranker bf16", "ranker, PyTorch bf16 autocast"), ("ranker int8", "ranker, PyTorch int8"),
                            ("openvino fp32", "ranker, OpenVINO fp32"), ("default", f"**ranker, default ({r['default']})**")):
            lines.append(f"| {shown} | {p[name]:.1f} | **{p[name] / p['CrossEncoder.predict']:.2f}×** | "
                         f"{agree[name]['pearson']:.5f} | {agree[name]['max_abs_difference']:.3f} |")
        lines += ["", "Goal: the default ≥ 3× CrossEncoder.predict, at the quality gate below.", ""]
        lines += quality_lines(HERE / "precision_quality.json")
    if "encode" in results:
        e = results["encode"]
        a = e["articles_per_second"]
        lines += [f"## Encoding (all-MiniLM-L6-v2, the same {e['articles']} news articles, {e['max_length']} tokens, "
                  f"batches of {e['batch_size']})", "",
                  f"OpenVINO fp32 must give sentence-transformers' vectors (largest difference {e['max_abs_difference_fp32']:.1e}); "
                  f"the default ({e['default']}) is held to the same neighbours: recall@10 of {e['queries']} test titles "
                  f"over these articles against sentence-transformers' top 10 (lowest cosine with its vectors "
                  f"{e['lowest_cosine_default']:.5f}).", "",
                  "| encoder | articles/s | vs SentenceTransformer.encode | recall@10 |", "|---|---|---|---|"]
        for name, shown in (("SentenceTransformer.encode", "SentenceTransformer.encode"), ("openvino fp32", "ranker, OpenVINO fp32"),
                            ("default", f"**ranker, default ({e['default']})**")):
            lines.append(f"| {shown} | {a[name]:.1f} | **{a[name] / a['SentenceTransformer.encode']:.2f}×** | "
                         f"{e['recall@10'][name]:.4f} |")
        lines += ["", "Goal: the default ≥ 2× SentenceTransformer.encode with recall@10 ≥ 0.99.", ""]
    if "cli" in results:
        c = results["cli"]
        cold = c["cold_start"]
        lines += ["## The query CLI", "", f"- `ranker --help`: {c['help_seconds'] * 1000:.0f} ms (goal < 1 s)",
                  f"- cold start, process start to the first reranked result (`ranker query INDEX Q --reranker MODEL`, "
                  f"default runtime, exports already made): {cold['seconds']:.2f} s (goal ≤ 3 s); peak memory "
                  f"{cold['peak_rss_mib']:,.0f} MiB; importing takes {cold.get('import_seconds', float('nan')):.2f} s "
                  f"(imports torch: {'yes' if cold['imports_torch'] else 'no'}, "
                  f"transformers: {'yes' if cold['imports_transformers'] else 'no'})"]
        for w in c["warm"]:
            lines.append(f"- warm, hybrid + rerank depth {w['depth']}, {w['runtime']} {w['precision']}"
                         f"{' (default)' if w.get('default') else ''}: p50 {w['p50_ms']:.0f} ms, p95 {w['p95_ms']:.0f} ms "
                         f"over {w['queries']} queries" + (" (goal p50 ≤ 150 ms)" if w["depth"] == 20 and w.get("default") else ""))
        lines.append("")
    if "serve" in results:
        x = results["serve"]
        lines += [f"## `ranker serve` under load (`benchmarks/serve_bench.py`: {x['seconds_per_cell']:.0f} s per row, "
                  "loopback, news test titles, k=10)", "",
                  f"The service in its own process, default runtime, reranker {x['reranker']} at depth {x['depth']} "
                  f"(ready {x['start_seconds']:.1f} s after its start); the clients are threads of the benchmark's process on "
                  "the same 2 cores. Batch: queries the worker searched together, on average. Where the time goes: the "
                  "worker's milliseconds per query in each stage (reranking includes choosing each article's passage).", "",
                  *_table(["reranked", "clients", "requests/s", "p50 ms", "p95 ms", "p99 ms", "errors", "batch", "first stage",
                           "rerank", "snippets"],
                          [["yes" if r["rerank"] else "no", r["clients"], f"{r['requests_per_second']:.1f}", f"{r['p50_ms']:.0f}",
                            f"{r['p95_ms']:.0f}", f"{r['p99_ms']:.0f}", r["errors"], f"{r['mean_batch']:.1f}",
                            *(f"{r['stage_ms_per_query'][k]:.1f}" for k in ("first_stage", "rerank", "hits"))]
                           for r in x["rows"]])]
        lines += ["", "Goals: one client p50 ≤ 150 ms and p99 ≤ 400 ms reranked; 16 clients ≥ 1.2× one client's requests/s, "
                  "with no errors.", ""]
    if "scale" in results:
        x = results["scale"]
        lines += ["## How each cost grows with the corpus (`benchmarks/scale_bench.py`: BM25 + document store, synthetic news-like documents)", "",
                  "Each size built as `ranker index` builds it (the corpus streamed into `build_index`, BM25 only) in a fresh "
                  "process, and opened in another: open time with the build's record of its hashes, and with an empty cache "
                  "(every file hashed). BM25 answers 200 news test titles, warm (ours memory-mapped, raw bm25s loaded into "
                  "memory, same files and tokens); lookups are 1,000 random single rows. The old path (the whole corpus in a "
                  "list, bm25s's own `BM25.index`) is built the same way beside it.", "",
                  *_table(["documents", "corpus MiB", "build s (read and store, BM25)", "build peak RSS MiB", "disk MiB",
                           "open s (all hashed)", "RSS after open MiB", "BM25 q/s numpy (raw bm25s)", "numba (raw)", "lookup ms"],
                          [[f"{r['documents']:,}", f"{r['corpus_mib']:,.0f}",
                            "{total:.1f} ({docstore:.1f}, {bm25:.1f})".format(**{"docstore": 0, "bm25": 0, **r["build_seconds"]}),
                            f"{r['build_peak_rss_mib']:,.0f}", f"{r['disk_mib']:,.0f}",
                            f"{r['open_seconds']:.2f} ({r.get('open_unvouched_seconds', float('nan')):.2f})",
                            f"{r['rss_after_open_mib']:,.0f}", f"{r['bm25_qps']:,.0f} ({r['bm25s_qps']:,.0f})",
                            f"{r.get('bm25_qps_numba', float('nan')):,.0f} ({r.get('bm25s_qps_numba', float('nan')):,.0f})",
                            f"{r['lookup_ms']:.3f}"]
                           for r in x["rows"]])]
        old = [r for r in x["rows"] if "old_path" in r]
        if old:
            lines += ["", "The old path at the same sizes:", "",
                      *_table(["documents", "build s (read, docstore, BM25)", "build peak RSS MiB", "disk MiB",
                               "same top 10 and scores as the streaming build"],
                              [[f"{r['documents']:,}",
                                "{total:.1f} ({read:.1f}, {docstore:.1f}, {bm25:.1f})".format(**r["old_path"]["build_seconds"]),
                                f"{r['old_path']['build_peak_rss_mib']:,.0f}", f"{r['old_path']['disk_mib']:,.0f}",
                                "yes" if r["old_path"]["same_top10_and_scores"] else "**no**"] for r in old])]
        if x["growth"]:
            lines += ["", "Growth, log-log slope from the smallest to the largest size (0 flat, 1 linear): "
                      + "; ".join(f"{name} {g['exponent']:.2f} ({g['reads']})" for name, g in x["growth"].items()) + ".",
                      "", "![Each cost against the corpus size](scale.png)"]
        lines.append("")
    if "mine" in results:
        x = results["mine"]
        q, e, st = x["queries_per_second"], x["queries_per_second_without_encoding"], x["settings"]
        lines += [f"## Mining (dense negatives for {x['queries']} news training queries over {x['documents']:,} articles: "
                  f"exact search, ranks 0–{st['range_max']['mine_hard_negatives']}, {st['relative_margin']:.0%} margin, "
                  f"best {st['num_negatives']})", "",
                  "Both sides use the index's vectors (neither encodes the corpus) and encode the queries with the same model; "
                  "query encoding is most of either time, so the rates without it are shown too.", "",
                  "| queries/s | ranker | mine_hard_negatives | ratio |", "|---|---|---|---|",
                  f"| with query encoding | {q['ranker']:,.1f} | {q['mine_hard_negatives']:,.1f} | **{x['ratio']:.2f}×** |",
                  f"| without | {e['ranker']:,.0f} | {e['mine_hard_negatives']:,.0f} | **{x['ratio_without_encoding']:.2f}×** |", "",
                  f"Same negatives for {x['same_negatives']:.1%} of the queries ({x['same_order']:.1%} in the same order); "
                  f"Queries with fewer than {st['num_negatives']} negatives: {x['short']['ranker']} ours, "
                  f"{x['short']['mine_hard_negatives']} theirs (it drops them from its n-tuple output).", ""]
    if "train" in results:
        x = results["train"]
        p, loss = x["pairs_per_second"], x["loss"]
        lines += [f"## Training (all-MiniLM-L6-v2 as a cross-encoder, {x['steps']} steps of {x['batch_size']} groups of "
                  f"{x['pairs_per_group']} pairs, {x['max_length']} tokens, listwise loss)", "",
                  "Same initial weights and groups; the loss on the same first batch agrees before timing "
                  f"({x['first_batch_loss']['ranker']:.6f} ours, {x['first_batch_loss']['CrossEncoderTrainer']:.6f} theirs, "
                  "ListNetLoss with one-hot labels). Seconds are the training steps only.", "",
                  "| loop | precision | pairs/s | vs CrossEncoderTrainer fp32 | loss, first → last fifth of steps |",
                  "|---|---|---|---|---|"]
        for name in p:
            loop, _, precision = name.partition(" ")
            lines.append(f"| {loop} | {precision or 'fp32'} | {p[name]:.1f} | **{p[name] / p['CrossEncoderTrainer']:.2f}×** | "
                         f"{loss[name][0]:.3f} → {loss[name][1]:.3f} |")
        lines += ["", "Goal: ≥ 1.3× a plain (fp32) CrossEncoderTrainer run.", ""]
    if "update" in results:
        lines += update_bench.markdown(results["update"])
    if "memory" in results:
        lines += ["## Peak memory (resident set size, each step in a fresh process)", "", "| step | peak MiB |", "|---|---|"]
        lines += [f"| {step} | {mib:,.0f} |" for step, mib in results["memory"].items()]
        lines.append("")
    if "profiles" in results:
        x = results["profiles"]

        def shares(found: dict[str, float]) -> str:
            return ", ".join(f"{name} {share:.0%}" for name, share in found.items())

        lines += ["## Where the time goes (`python -m benchmarks.profiles bm25|rerank|train`, cProfile)", "",
                  f"- BM25 search, {x['bm25_documents']:,} documents, 200 titles: {shares(x['bm25'])}. The rest is our "
                  "wrapper (the known-term check, the tie-break sort, the result arrays): a difference from raw bm25s "
                  "above that share is the machine's noise, not our code.",
                  f"- One reranking pass (fp32): {shares(x['rerank'])}. Both sides run the same forward pass, so fp32 "
                  "cannot be much faster than CrossEncoder.predict; the number format is the lever.",
                  "- One training step, 8 groups of 4 pairs at 128 tokens: " + "; ".join(
                      f"{precision} {sum(phases.values()):.2f} s ({shares({k: v / sum(phases.values()) for k, v in phases.items()})})"
                      for precision, phases in x["train"].items())
                  + ". News articles fill the 128 tokens, so length grouping saves no padding here; forward and "
                  "backward are nearly all of it, and only the number format changes them.", ""]
    lines += ["## Not benchmarked", "",
              "- sentence-transformers' ONNX backend: it does not install beside our pins "
              "(`optimum-onnx` 0.1.0, the newest, requires transformers < 4.58; we pin 5.24).",
              "- Dense retrieval at 1M vectors: HNSW and IVF-PQ builds would take most of the 30-minute budget on 2 cores.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, no IVF-PQ, no 1M scale row (about 5.5 minutes)")
    parser.add_argument("--only", default=",".join(sorted(EVERY)),
                        help="comma-separated: " + ", ".join(sorted(EVERY)))
    parser.add_argument("--data", type=Path, default=Path("data/news"))
    parser.add_argument("--index", type=Path, default=Path("indexes/news"))
    parser.add_argument("--out", type=Path, default=HERE, help="where results.json and RESULTS.md go")
    parser.add_argument("--render", action="store_true", help="only rewrite RESULTS.md from results.json")
    args = parser.parse_args(argv)
    if args.render:
        import json

        results = json.loads((args.out / "results.json").read_text())
        write_results(args.out, results, markdown(results))
        return 0
    mode = "quick" if args.quick else "full"
    sizes, only = SIZES[mode], set(args.only.split(","))
    results: dict[str, Any] = {"mode": mode, "machine": machine()}
    earlier = args.out / "results.json"
    if only != EVERY and earlier.is_file():
        # a partial run keeps the other benchmarks' figures from the last run of the same mode
        import json

        kept = json.loads(earlier.read_text())
        if kept.get("mode") == mode:
            results = {**{k: v for k, v in kept.items() if k not in only}, "mode": mode, "machine": machine()}

    from ranker.data.readers import read_articles

    if only & {"bm25", "dense", "dense_scale", "encode"}:
        titles = test_titles(args.data, 200)
    if "bm25" in only:
        texts = [a.text for a in read_articles(args.data).records]
        results["bm25"] = []
        for n in sizes["bm25_docs"]:
            print(f"bm25: {n:,} synthetic documents")
            corpus = synthetic_corpus(texts, n)
            row = bm25_bench.compare(corpus, titles, oracle_queries=50 if n <= 10_000 else 10)
            row["ratios"] = bm25_bench.ratios(row)
            results["bm25"].append(row)
            print(f"      {row['ratios']}")
    if "dense" in only:
        from ranker.index.folder import Index

        dense = Index.open(args.index).dense()
        real = dense.faiss_index.reconstruct_n(0, dense.faiss_index.ntotal)
        articles = [a.text for a in read_articles(args.data).records[:200]]
        _, encode_s = timed(lambda: dense.embedder.encode(articles))
        n = sizes["dense_vectors"]
        print(f"dense: encoding, then flat / hnsw / ivfpq over {n:,} vectors")
        row = dense_bench.compare(dense_bench.blended_vectors(real, n), dense.embedder.encode(titles),
                                  kinds=sizes["dense_kinds"])
        row["encode_docs_per_second"] = len(articles) / encode_s
        results["dense"] = row
        print(f"      {row}")
    if "dense_scale" in only and sizes["dense_scale_vectors"]:
        from ranker.index.folder import Index
        from ranker.retrieve.dense import DenseConfig

        dense = Index.open(args.index).dense()
        real = dense.faiss_index.reconstruct_n(0, dense.faiss_index.ntotal)
        n = sizes["dense_scale_vectors"]
        print(f"dense_scale: flat / hnsw / ivfpq over {n:,} vectors (HNSW takes about 15 minutes to build here)")
        row = dense_bench.compare(dense_bench.blended_vectors(real, n), dense.embedder.encode(titles))
        row["auto"] = DenseConfig().resolved_type(n)
        results["dense_scale"] = row
        print(f"      {row}")
    if "encode" in only:
        print("encode: the same articles both ways")
        articles = [a.text for a in read_articles(args.data).records[:256]]
        results["encode"] = encode_bench.compare(articles, titles[:100])
        print("      " + ", ".join(f"{k} {v:.1f}/s" for k, v in results["encode"]["articles_per_second"].items()))
    if "update" in only:
        print(f"update: adding {sizes['update_add']:,} articles to {sizes['update_docs']:,}, against a rebuild")
        results["update"] = update_bench.measure(args.data, args.index, sizes["update_docs"], sizes["update_add"])
        print(f"      {results['update']['update_total']:.1f}s against {results['update']['rebuild_total']:.1f}s")
    if "mine" in only:
        n = sizes["mine_queries"]
        print(f"mine: {n} training queries, dense negatives, both ways")
        results["mine"] = mine_bench.compare(args.index, args.data, n)
        print(f"      same negatives {results['mine']['same_negatives']:.3f}, {results['mine']['ratio']:.2f}×, "
              f"without query encoding {results['mine']['ratio_without_encoding']:.2f}×")
    if "train" in only:
        steps = sizes["train_steps"]
        print(f"train: {steps} steps of 8 groups (1 positive + 3 negatives), 128 tokens, both ways")
        groups = train_bench.load_groups(mined_groups(), args.index, steps * 8, negatives=3)
        results["train"] = train_bench.compare("all-MiniLM-L6-v2", groups, steps, bf16=True)
        print(f"      {results['train']['ratio']:.2f}×, ours in bf16 {results['train']['ratio_bf16']:.2f}×")
    with tempfile.TemporaryDirectory() as tmp:
        model = cross_encoder(Path(tmp)) if only & {"rerank", "cli"} else None
        if "rerank" in only:
            print("rerank: scoring the same pairs both ways")
            queries, texts = rerank_pairs(args.data, args.index, sizes["rerank_queries"])
            row = rerank_bench.compare(model, queries, texts)
            speed = row["pairs_per_second"]
            row["ratio"] = {name: v / speed["CrossEncoder.predict"] for name, v in speed.items()}
            results["rerank"] = row
            print("      " + ", ".join(f"{name} {v:.2f}×" for name, v in row["ratio"].items()))
        if "cli" in only:
            print("cli: --help, cold start, warm latency")
            queries = test_titles(args.data, sizes["cli_queries"])
            from ranker.models.runtime import resolve_runtime

            default = resolve_runtime("auto")
            variants = [("torch", "fp32"), ("torch", "bf16"), ("torch", "int8"), ("openvino", "fp32"), ("openvino", "bf16")]
            warm = [{**cli_bench.warm_latency(args.index, model, queries, depth, precision, runtime),
                     "default": (runtime, precision) == (default, "bf16") or (runtime, precision) == (default, "auto")}
                    for depth in (20, 50) for runtime, precision in variants]
            results["cli"] = {"help_seconds": cli_bench.help_seconds(),
                              "cold_start": cli_bench.cold_start(args.index, model, queries[0]), "warm": warm}
            print(f"      {results['cli']}")
    if "serve" in only:
        print("serve: 1, 4 and 16 clients, reranked and not")
        with tempfile.TemporaryDirectory() as tmp:
            results["serve"] = serve_bench.measure(args.index, cross_encoder(Path(tmp)), test_titles(args.data, 400),
                                                   sizes["serve_seconds"])
        for r in results["serve"]["rows"]:
            print(f"      rerank={r['rerank']} clients={r['clients']}: {r['requests_per_second']:.1f}/s, p50 {r['p50_ms']:.0f} ms, "
                  f"p99 {r['p99_ms']:.0f} ms, {r['errors']} errors, batch {r['mean_batch']:.1f}")
    if "scale" in only:
        print(f"scale: BM25 + document store at {', '.join(f'{n:,}' for n in sizes['scale_docs'])} documents")
        results["scale"] = scale_bench.measure(args.data, sizes["scale_docs"], test_titles(args.data, 200))
        if results["scale"]["growth"]:
            scale_bench.plot(results["scale"], args.out / "scale.png")
        for r in results["scale"]["rows"]:
            print(f"      {r['documents']:,}: build {r['build_seconds']['total']:.1f}s, peak {r['build_peak_rss_mib']:,.0f} MiB, "
                  f"open {r['open_seconds']:.2f}s, {r['rss_after_open_mib']:,.0f} MiB, BM25 {r['bm25_qps']:,.0f} q/s "
                  f"(raw bm25s {r['bm25s_qps']:,.0f}); old path peak {r.get('old_path', {}).get('build_peak_rss_mib', 0):,.0f} MiB")
    if "memory" in only:
        print("memory: peak RSS of each step in a fresh process")
        with tempfile.TemporaryDirectory() as tmp:
            results["memory"] = memory_bench.measure(args.data, Path(tmp) / "bm25", sizes["memory_docs"])
        print(f"      {results['memory']}")
    if "profiles" in only:
        print("profiles: BM25 search, a reranking pass, a training step")
        results["profiles"] = {"bm25_documents": sizes["bm25_docs"][-1], "bm25": profiles.bm25(sizes["bm25_docs"][-1]),
                               "rerank": profiles.rerank(), "train": profiles.train()}
        print(f"      {results['profiles']}")
    write_results(args.out, results, markdown(results))
    print(f"results -> {args.out / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
