"""``RESULTS.md`` from ``results.json``: the machine, the goals met or missed
(:mod:`benchmarks.goals`), then a section per benchmark.

``python -m benchmarks.run --render`` rewrites RESULTS.md from results.json with
this module alone; ``make bench`` writes both after measuring. Each benchmark's
section is a function given the whole results (a section may cite another
benchmark's figures); :data:`SECTIONS` gives their order.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from benchmarks import update_bench
from benchmarks.goals import goal_lines

HERE = Path(__file__).parent


def quality_lines(path: Path) -> list[str]:
    """RESULTS.md's tables of ranking quality by runtime and precision, from ``python -m
    pipelines.precision_quality`` (too slow for ``make bench``: it reranks the whole test split
    in every variant)."""
    if not path.is_file():
        return ["Quality by runtime and precision: not measured yet (`python -m pipelines.precision_quality`).", ""]
    found = json.loads(path.read_text())
    rows = found["rows"]
    variant = ((lambda r: f"{r['runtime']} {r['precision']}") if "runtime" in rows[0]
               else (lambda r: f"torch {r['precision']}"))
    reference = {r["split"]: r for r in rows if variant(r) == variant(rows[0])}
    made = f", the model made by `{found['made_by'].split(' (')[0]}`" if "made_by" in found else ""
    lines = [f"Ranking quality by runtime and precision (`python -m pipelines.precision_quality --model "
             f"{found['model']}`{made}; hybrid's top 20 reranked, mixed at the model's dev-tuned weight "
             f"{found['weight']:g}; score agreement with {variant(rows[0])} over every pair):", "",
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
        lines += [f"The dense encoder ({e['model']}): {e['queries']:,} test queries over all {e['documents']:,} "
                  f"articles, each runtime's top 10 against {e['rows'][0]['runtime']} {e['rows'][0]['precision']}'s:",
                  "", "| encoder | recall@10 | same top 10, in order |", "|---|---|---|"]
        lines += [f"| {r['runtime']} {r['precision']} | {r['recall@10']:.4f} | {r['identical_top10']:.1%} |"
                  for r in e["rows"]]
        lines.append("")
    return lines


def _table(headers: list[str], rows: list[list[Any]]) -> list[str]:
    """A Markdown table's lines.

    Example:
        >>> _table(["a", "b"], [[1, "x"]])
        ['| a | b |', '|---|---|', '| 1 | x |']
    """
    return ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers),
            *("| " + " | ".join(map(str, row)) + " |" for row in rows)]


def _header(results: dict[str, Any]) -> list[str]:
    """The title, the machine and the versions, and how to read the ratios."""
    m = results["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v)
    return ["# Benchmarks", "",
            f"Measured {m['date']} on {m['cpu']} ({m['cores']} cores), Python {m['python']}; " + versions
            + f". Mode: {results['mode']}."
            + (f" This run re-measured {', '.join(results['partial']['sections'])}; the other sections are from the "
               f"run of {results['partial']['rest_measured']}, on the same machine type." if "partial" in results
               else ""), "",
            "Ratios are ours over theirs, measured in one run on the same data (above 1: ours is faster). "
            "Each comparison first checks that both sides give the same results.", ""]


def _bm25_section(results: dict[str, Any]) -> list[str]:
    lines = ["## BM25 (Robertson, same tokens; synthetic Zipfian corpus from the news word frequencies, 200 news test "
             "titles as queries)", "",
             "Ours and raw bm25s on bm25s's numba backend; bm25s numpy is its default backend. Best of five rounds, "
             "the sides taking turns in each; numba's compilation (first batch, below) is not in the rates.", "",
             "| documents | queries/s ranker | bm25s | bm25s numpy | rank_bm25 | vs rank_bm25 | vs bm25s | "
             "first batch s | index s ranker | bm25s | rank_bm25 | same top 10 |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in results["bm25"]:
        q, i, r = row["queries_per_second"], row["index_seconds"], row["ratios"]
        lines.append(f"| {row['documents']:,} | {q['ranker']:,.0f} | {q['bm25s']:,.0f} | {q['bm25s numpy']:,.0f} | "
                     f"{q['rank_bm25']:,.1f} | **{r['qps_vs_rank_bm25']:.0f}×** | {r['qps_vs_bm25s']:.2f}× | "
                     f"{row['first_batch_seconds']:.1f} | {i['ranker']:.1f} | {i['bm25s']:.1f} | "
                     f"{i['rank_bm25']:.1f} | {row['same_top10']} |")
    return lines + ["", "Goals: ≥ 100× rank_bm25's queries/s at 100k documents; within 10% of raw bm25s.", ""]


def _dense_section(results: dict[str, Any]) -> list[str]:
    d = results["dense"]
    lines = [f"## Dense (all-MiniLM-L6-v2, 256 tokens; {d['vectors']:,} vectors blended from the news embeddings, "
             f"{d['queries']} test-title queries)", "",
             f"Encoding: {d['encode_docs_per_second']:.1f} articles/s (200 news articles).", "",
             "| index | build s | queries/s | recall@10 against flat |", "|---|---|---|---|"]
    for kind in [k for k in ("flat", "hnsw", "ivfpq") if k in d]:
        x = d[kind]
        lines.append(f"| {kind} | {x['build_seconds']:.1f} | {x['queries_per_second']:,.0f} | {x['recall@10']:.4f} |")
    return lines + [""]


def _dense_scale_section(results: dict[str, Any]) -> list[str]:
    from ranker.retrieve.dense import DenseConfig

    d = results["dense_scale"]
    flat, auto = d["flat"]["queries_per_second"], DenseConfig().resolved_type(d["vectors"])
    moved = (f" (`auto` picked {d['auto']} when this ran; these figures moved it to {auto}.)"
             if d["auto"] != auto else "")
    lines = [f"## FAISS at {d['vectors']:,} vectors (`make bench` full mode; blended from the news embeddings as "
             f"above, {d['queries']} test-title queries)", "",
             f"Goal: the `auto` choice ({auto} at this size) reaches recall@10 ≥ 0.95 at ≥ 20× the exact "
             "search's queries/s." + moved, "",
             "| index | build s | queries/s | vs exact | recall@10 against flat |", "|---|---|---|---|---|"]
    for kind in [k for k in ("flat", "hnsw", "ivfpq") if k in d]:
        x = d[kind]
        lines.append(f"| {kind}{' (auto)' if kind == auto else ''} | {x['build_seconds']:.1f} | "
                     f"{x['queries_per_second']:,.0f} | {x['queries_per_second'] / flat:.0f}× | {x['recall@10']:.4f} |")
    small = results.get("dense", {})
    if "hnsw" in small and "hnsw" in d and small["vectors"] < d["vectors"]:
        grew = d["hnsw"]["build_seconds"] / small["hnsw"]["build_seconds"]
        slope = math.log(grew) / math.log(d["vectors"] / small["vectors"])
        lines += ["", f"HNSW's build time grew {grew:.1f}× from "
                  f"{small['vectors']:,} to {d['vectors']:,} vectors (log-log slope {slope:.2f}: n log n, as its "
                  "insertions search a graph that grows)."]
    return lines + [""]


def _rerank_section(results: dict[str, Any]) -> list[str]:
    r = results["rerank"]
    p, agree = r["pairs_per_second"], r["agreement_with_fp32"]
    lines = [f"## Reranking (same model, same {r['pairs']:,} pairs, {r['max_length']} tokens, batches of "
             f"{r['batch_size']})", "",
             "Ours in fp32, on PyTorch and on OpenVINO, must give CrossEncoder.predict's scores (to 1e-4; PyTorch's "
             f"largest difference {r['max_abs_difference']:.1e}); bf16 and int8 change the scores, so their agreement "
             "with fp32 is shown and their ranking quality is measured on the test split (below). "
             f"The default is what `ranker query` runs on this machine: {r['default']}. sentence-transformers' own "
             "ONNX and OpenVINO backends need optimum, which does not install beside our pins "
             "(transformers 5.24), so they are not in the table.", "",
             "| scorer | pairs/s | vs CrossEncoder.predict | Pearson with fp32 | largest score change |",
             "|---|---|---|---|---|",
             f"| CrossEncoder.predict | {p['CrossEncoder.predict']:.1f} | 1.00× | | |",
             f"| ranker, PyTorch fp32 | {p['ranker']:.1f} | {p['ranker'] / p['CrossEncoder.predict']:.2f}× | 1 | 0 |"]
    for name, shown in (("ranker bf16", "ranker, PyTorch bf16 autocast"), ("ranker int8", "ranker, PyTorch int8"),
                        ("openvino fp32", "ranker, OpenVINO fp32"),
                        ("default", f"**ranker, default ({r['default']})**")):
        lines.append(f"| {shown} | {p[name]:.1f} | **{p[name] / p['CrossEncoder.predict']:.2f}×** | "
                     f"{agree[name]['pearson']:.5f} | {agree[name]['max_abs_difference']:.3f} |")
    lines += ["", "Goal: the default ≥ 3× CrossEncoder.predict, at the quality gate below.", ""]
    return lines + quality_lines(HERE / "precision_quality.json")


def _encode_section(results: dict[str, Any]) -> list[str]:
    e = results["encode"]
    a = e["articles_per_second"]
    lines = [f"## Encoding (all-MiniLM-L6-v2, the same {e['articles']} news articles, {e['max_length']} tokens, "
             f"batches of {e['batch_size']})", "",
             "OpenVINO fp32 must give sentence-transformers' vectors (largest difference "
             f"{e['max_abs_difference_fp32']:.1e}); the default ({e['default']}) is held to the same neighbours: "
             f"recall@10 of {e['queries']} test titles over these articles against sentence-transformers' top 10 "
             f"(lowest cosine with its vectors {e['lowest_cosine_default']:.5f}).", "",
             "| encoder | articles/s | vs SentenceTransformer.encode | recall@10 |", "|---|---|---|---|"]
    for name, shown in (("SentenceTransformer.encode", "SentenceTransformer.encode"),
                        ("openvino fp32", "ranker, OpenVINO fp32"),
                        ("default", f"**ranker, default ({e['default']})**")):
        lines.append(f"| {shown} | {a[name]:.1f} | **{a[name] / a['SentenceTransformer.encode']:.2f}×** | "
                     f"{e['recall@10'][name]:.4f} |")
    return lines + ["", "Goal: the default ≥ 2× SentenceTransformer.encode with recall@10 ≥ 0.99.", ""]


def _cli_section(results: dict[str, Any]) -> list[str]:
    c = results["cli"]
    cold = c["cold_start"]
    lines = ["## The query CLI", "", f"- `ranker --help`: {c['help_seconds'] * 1000:.0f} ms (goal < 1 s)",
             f"- cold start, process start to the first reranked result (`ranker query INDEX Q --reranker MODEL`, "
             f"default runtime, exports already made): {cold['seconds']:.2f} s (goal ≤ 3 s); peak memory "
             f"{cold['peak_rss_mib']:,.0f} MiB; importing takes {cold.get('import_seconds', float('nan')):.2f} s "
             f"(imports torch: {'yes' if cold['imports_torch'] else 'no'}, "
             f"transformers: {'yes' if cold['imports_transformers'] else 'no'})"]
    for w in c["warm"]:
        goal = " (goal p50 ≤ 150 ms)" if w["depth"] == 20 and w.get("default") else ""
        lines.append(f"- warm, hybrid + rerank depth {w['depth']}, {w['runtime']} {w['precision']}"
                     f"{' (default)' if w.get('default') else ''}: p50 {w['p50_ms']:.0f} ms, p95 {w['p95_ms']:.0f} ms "
                     f"over {w['queries']} queries" + goal)
    return lines + [""]


def _serve_section(results: dict[str, Any]) -> list[str]:
    x = results["serve"]
    rows = [["yes" if r["rerank"] else "no", r["clients"], f"{r['requests_per_second']:.1f}", f"{r['p50_ms']:.0f}",
             f"{r['p95_ms']:.0f}", f"{r['p99_ms']:.0f}", r["errors"], f"{r['mean_batch']:.1f}",
             *(f"{r['stage_ms_per_query'][k]:.1f}" for k in ("first_stage", "rerank", "hits"))]
            for r in x["rows"]]
    return [f"## `ranker serve` under load (`benchmarks/serve_bench.py`: {x['seconds_per_cell']:.0f} s per row, "
            "loopback, news test titles, k=10)", "",
            f"The service in its own process, default runtime, reranker {x['reranker']} at depth {x['depth']} "
            f"(ready {x['start_seconds']:.1f} s after its start); the clients are threads of the benchmark's process "
            "on the same 2 cores. Batch: queries the worker searched together, on average. Where the time goes: the "
            "worker's milliseconds per query in each stage (reranking includes choosing each article's passage).", "",
            *_table(["reranked", "clients", "requests/s", "p50 ms", "p95 ms", "p99 ms", "errors", "batch",
                     "first stage", "rerank", "snippets"], rows),
            "", "Goals: one client p50 ≤ 150 ms and p99 ≤ 400 ms reranked; 16 clients ≥ 1.2× one client's "
            "requests/s, with no errors.", ""]


def _scale_rows(rows: list[dict[str, Any]]) -> list[list[str]]:
    """The scale table's rows: the streaming build at each size."""
    return [[f"{r['documents']:,}", f"{r['corpus_mib']:,.0f}",
             "{total:.1f} ({docstore:.1f}, {bm25:.1f})".format(**{"docstore": 0, "bm25": 0, **r["build_seconds"]}),
             f"{r['build_peak_rss_mib']:,.0f}", f"{r['disk_mib']:,.0f}",
             f"{r['open_seconds']:.2f} ({r.get('open_unvouched_seconds', float('nan')):.2f})",
             f"{r['rss_after_open_mib']:,.0f}", f"{r['bm25_qps']:,.0f} ({r['bm25s_qps']:,.0f})",
             f"{r.get('bm25_qps_numba', float('nan')):,.0f} ({r.get('bm25s_qps_numba', float('nan')):,.0f})",
             f"{r['lookup_ms']:.3f}"]
            for r in rows]


def _old_path_rows(rows: list[dict[str, Any]]) -> list[list[str]]:
    """The old path's rows, at the sizes where it was built."""
    return [[f"{r['documents']:,}",
             "{total:.1f} ({read:.1f}, {docstore:.1f}, {bm25:.1f})".format(**r["old_path"]["build_seconds"]),
             f"{r['old_path']['build_peak_rss_mib']:,.0f}", f"{r['old_path']['disk_mib']:,.0f}",
             "yes" if r["old_path"]["same_top10_and_scores"] else "**no**"]
            for r in rows if "old_path" in r]


def _scale_section(results: dict[str, Any]) -> list[str]:
    x = results["scale"]
    lines = ["## How each cost grows with the corpus (`benchmarks/scale_bench.py`: BM25 + document store, synthetic "
             "news-like documents)", "",
             "Each size built as `ranker index` builds it (the corpus streamed into `build_index`, BM25 only) in a "
             "fresh process, and opened in another: open time with the build's record of its hashes, and with an "
             "empty cache (every file hashed). BM25 answers 200 news test titles, warm (ours memory-mapped, raw bm25s "
             "loaded into memory, same files and tokens); lookups are 1,000 random single rows. The old path (the "
             "whole corpus in a list, bm25s's own `BM25.index`) is built the same way beside it.", "",
             *_table(["documents", "corpus MiB", "build s (read and store, BM25)", "build peak RSS MiB", "disk MiB",
                      "open s (all hashed)", "RSS after open MiB", "BM25 q/s numpy (raw bm25s)", "numba (raw)",
                      "lookup ms"], _scale_rows(x["rows"]))]
    old = _old_path_rows(x["rows"])
    if old:
        lines += ["", "The old path at the same sizes:", "",
                  *_table(["documents", "build s (read, docstore, BM25)", "build peak RSS MiB", "disk MiB",
                           "same top 10 and scores as the streaming build"], old)]
    if x["growth"]:
        lines += ["", "Growth, log-log slope from the smallest to the largest size (0 flat, 1 linear): "
                  + "; ".join(f"{name} {g['exponent']:.2f} ({g['reads']})" for name, g in x["growth"].items()) + ".",
                  "", "![Each cost against the corpus size](scale.png)"]
    return lines + [""]


def _mine_section(results: dict[str, Any]) -> list[str]:
    x = results["mine"]
    q, e, st = x["queries_per_second"], x["queries_per_second_without_encoding"], x["settings"]
    return [f"## Mining (dense negatives for {x['queries']} news training queries over {x['documents']:,} articles: "
            f"exact search, ranks 0–{st['range_max']['mine_hard_negatives']}, {st['relative_margin']:.0%} margin, "
            f"best {st['num_negatives']})", "",
            "Both sides use the index's vectors (neither encodes the corpus) and encode the queries with the same "
            "model; query encoding is most of either time, so the rates without it are shown too.", "",
            "| queries/s | ranker | mine_hard_negatives | ratio |", "|---|---|---|---|",
            f"| with query encoding | {q['ranker']:,.1f} | {q['mine_hard_negatives']:,.1f} | **{x['ratio']:.2f}×** |",
            f"| without | {e['ranker']:,.0f} | {e['mine_hard_negatives']:,.0f} | "
            f"**{x['ratio_without_encoding']:.2f}×** |", "",
            f"Same negatives for {x['same_negatives']:.1%} of the queries ({x['same_order']:.1%} in the same order); "
            f"Queries with fewer than {st['num_negatives']} negatives: {x['short']['ranker']} ours, "
            f"{x['short']['mine_hard_negatives']} theirs (it drops them from its n-tuple output).", ""]


def _train_section(results: dict[str, Any]) -> list[str]:
    x = results["train"]
    p, loss = x["pairs_per_second"], x["loss"]
    lines = [f"## Training (all-MiniLM-L6-v2 as a cross-encoder, {x['steps']} steps of {x['batch_size']} groups of "
             f"{x['pairs_per_group']} pairs, {x['max_length']} tokens, listwise loss)", "",
             "Same initial weights and groups; the loss on the same first batch agrees before timing "
             f"({x['first_batch_loss']['ranker']:.6f} ours, {x['first_batch_loss']['CrossEncoderTrainer']:.6f} "
             "theirs, ListNetLoss with one-hot labels). Seconds are the training steps only.", "",
             "| loop | precision | pairs/s | vs CrossEncoderTrainer fp32 | loss, first → last fifth of steps |",
             "|---|---|---|---|---|"]
    for name in p:
        loop, _, precision = name.partition(" ")
        lines.append(f"| {loop} | {precision or 'fp32'} | {p[name]:.1f} | "
                     f"**{p[name] / p['CrossEncoderTrainer']:.2f}×** | {loss[name][0]:.3f} → {loss[name][1]:.3f} |")
    return lines + ["", "Goal: ≥ 1.3× a plain (fp32) CrossEncoderTrainer run.", ""]


def _update_section(results: dict[str, Any]) -> list[str]:
    return update_bench.markdown(results["update"])


def _segments_section(results: dict[str, Any]) -> list[str]:
    rows = sorted(results["segments"]["rows"], key=lambda row: row["documents"])

    def line(name: str, cell) -> list[Any]:
        return [name, *(cell(row) for row in rows)]

    def adds(key: str, digits: int = 2):
        return lambda row: " / ".join(f"{row['adds'][n][key]:.{digits}f}" for n in ("10", "100", "1000"))

    def p50(kind: str):
        return lambda row: " / ".join(f"{row['search'][n][f'{kind}_p50_ms']:.1f}" for n in ("1", "4", "10", "30"))

    def merge(key: str):
        return lambda row: (f"{row[key]['seconds']:.1f} s, {row[key]['peak_mib']:,.0f} MiB" if key in row
                            else "not measured (a rewrite of the whole index, HNSW included)")

    table = [line("measured", lambda row: row.get("measured_utc", "")),
             line("build: BM25 + HNSW (blended vectors), s", lambda row: f"{row['build_s']:.0f}"),
             line("add 10 / 100 / 1,000: encoding, s", adds("encode_s", 1)),
             line("add 10 / 100 / 1,000: beyond encoding, s", adds("beyond_encoding_s")),
             line("…until `ranker serve` answers with them, s", adds("served_after_s")),
             line("BM25 p50, 1 (as built) / 4 / 10 / 30 segments, ms", p50("bm25")),
             line("hybrid p50, 1 (as built) / 4 / 10 / 30 segments, ms", p50("hybrid")),
             line("`ranker merge --max-segments 2` (from 30)", merge("merge_to_2")),
             line("`ranker merge` (into 1)", merge("merge_to_1")),
             line("disk with 30 segments, MiB", lambda row: f"{row['disk_mib_30_segments']:,.0f}")]
    return ["## Segmented indexes (`make bench-segments`: `benchmarks/segments_bench.py`, synthetic news-length "
            "articles, 200 news test titles, k=10)", "",
            *_table(["", *(f"{row['documents']:,}" for row in rows)], table), "",
            "Encoding is the real model on the added articles; search p50 in one process, warm.", ""]


def _memory_section(results: dict[str, Any]) -> list[str]:
    return ["## Peak memory (resident set size, each step in a fresh process)", "", "| step | peak MiB |", "|---|---|",
            *(f"| {step} | {mib:,.0f} |" for step, mib in results["memory"].items()), ""]


def _shares(found: dict[str, float]) -> str:
    """Shares of the time as a sentence's list.

    Example:
        >>> _shares({"forward": 0.75, "backward": 0.25})
        'forward 75%, backward 25%'
    """
    return ", ".join(f"{name} {share:.0%}" for name, share in found.items())


def _profiles_section(results: dict[str, Any]) -> list[str]:
    x = results["profiles"]
    train = "; ".join(f"{precision} {sum(phases.values()):.2f} s "
                      f"({_shares({k: v / sum(phases.values()) for k, v in phases.items()})})"
                      for precision, phases in x["train"].items())
    return ["## Where the time goes (`python -m benchmarks.profiles bm25|rerank|train`, cProfile)", "",
            f"- BM25 search, {x['bm25_documents']:,} documents, 200 titles: {_shares(x['bm25'])}. The rest is our "
            "wrapper (the known-term check, the tie-break sort, the result arrays): a difference from raw bm25s "
            "above that share is the machine's noise, not our code.",
            f"- One reranking pass (fp32): {_shares(x['rerank'])}. Both sides run the same forward pass, so fp32 "
            "cannot be much faster than CrossEncoder.predict; the number format is the lever.",
            "- One training step, 8 groups of 4 pairs at 128 tokens: " + train
            + ". News articles fill the 128 tokens, so length grouping saves no padding here; forward and "
            "backward are nearly all of it, and only the number format changes them.", ""]


def _fairness_section(results: dict[str, Any]) -> list[str]:
    x = results["fairness"]
    rows = [["yes" if r["rerank"] else "no", f"{r['idle']['light_p50_ms']:.0f}", f"{r['together']['light_p50_ms']:.0f}",
             f"{r['together']['light_p99_ms']:.0f}", f"{r['heavy_alone']['heavy_queries_per_second']:.1f}",
             f"{r['together']['heavy_queries_per_second']:.1f}", r["together"]["refused"], r["together"]["failed"]]
            for r in x["rows"]]
    return [f"## `ranker serve` beside heavy clients (`benchmarks/fairness_bench.py`: {x['seconds']:.0f} s idle, "
            f"{2 * x['seconds']:.0f} s with the heavy clients)", "",
            f"Three clients send, back to back, the largest request the service accepts ({x['heavy_request']}); a "
            "fourth sends one `GET /search` (k=10) after another. Reranker "
            f"{x['reranker']}; the service's default fairness settings (a slice of {x.get('slice_ms', 250):g} "
            "estimated ms per client's turn).",
            "", *_table(["reranked", "light p50 idle ms", "light p50 beside ms", "light p99 beside ms",
                         "heavy queries/s alone", "heavy queries/s beside", "refused", "failed"], rows), ""]


#: Each benchmark's section of RESULTS.md, in the page's order.
SECTIONS = (("bm25", _bm25_section), ("dense", _dense_section), ("dense_scale", _dense_scale_section),
            ("rerank", _rerank_section), ("encode", _encode_section), ("cli", _cli_section),
            ("serve", _serve_section), ("fairness", _fairness_section), ("scale", _scale_section),
            ("mine", _mine_section),
            ("train", _train_section), ("update", _update_section), ("segments", _segments_section),
            ("memory", _memory_section),
            ("profiles", _profiles_section))

#: What the page says was left out, and why; always last.
NOT_BENCHMARKED = ["## Not benchmarked", "",
                   "- sentence-transformers' ONNX backend: it does not install beside our pins "
                   "(`optimum-onnx` 0.1.0, the newest, requires transformers < 4.58; we pin 5.24).",
                   "- Dense retrieval at 1M vectors: HNSW and IVF-PQ builds would take most of the 30-minute budget "
                   "on 2 cores.", ""]


def markdown(results: dict[str, Any]) -> str:
    """RESULTS.md's text: the machine, the goals, a section for each benchmark in ``results``."""
    lines = [*_header(results), *goal_lines(results)]
    for key, section in SECTIONS:
        if key in results:
            lines += section(results)
    return "\n".join([*lines, *NOT_BENCHMARKED])
