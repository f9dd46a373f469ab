"""``make bench``: run the benchmarks and write ``benchmarks/results.json`` and ``RESULTS.md``.

Run: ``python -m benchmarks.run [--quick] [--only bm25,rerank,cli]``. ``--quick``
uses the small sizes (about 3 minutes); the full run about 11 minutes. Needs the
news benchmark and its index (``make demo`` builds both) for the reranking and
CLI benchmarks; the BM25 benchmark builds its synthetic corpora itself.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import bm25_bench, cli_bench, dense_bench, memory_bench, rerank_bench
from benchmarks.common import machine, timed, write_results
from benchmarks.synthetic import synthetic_corpus

HERE = Path(__file__).parent
# quick leaves IVF-PQ out: training its quantisers takes about 2 minutes at any size here
SIZES = {"quick": {"memory_docs": 10_000, "bm25_docs": [10_000], "dense_vectors": 20_000, "dense_kinds": ("flat", "hnsw"), "rerank_queries": 20,
                   "cli_queries": 20},
         "full": {"memory_docs": 100_000, "bm25_docs": [10_000, 100_000], "dense_vectors": 100_000, "dense_kinds": ("flat", "hnsw", "ivfpq"),
                  "rerank_queries": 100, "cli_queries": 50}}
EVERY = {"bm25", "dense", "rerank", "cli", "memory"}


def cross_encoder(models: Path) -> Path:
    """The demo's reranker if it exists, else the backbone with a fresh one-output head
    (speed does not depend on what the head learned)."""
    demo = Path("models/demo/model/model")
    if (demo / "config.json").is_file():
        return demo
    from ranker.heads import load_pair_scorer, load_tokenizer, save_model

    folder = models / "cross-encoder"
    folder.mkdir(parents=True, exist_ok=True)
    save_model(load_pair_scorer("all-MiniLM-L6-v2"), load_tokenizer("all-MiniLM-L6-v2"), folder, {"task": "reranker"})
    return folder


def test_titles(data: Path, n: int) -> list[str]:
    """A fixed sample of ``n`` news test titles: real queries, names and rare words as users type them."""
    from pipelines.reranking import judged_queries

    return [q.text for q in judged_queries(data, "test-title", sample=n)[0]]


def rerank_pairs(data: Path, index: Path, n_queries: int, depth: int = 20) -> tuple[list[str], list[str]]:
    """(query, article) pairs as the reranker meets them: test titles with hybrid's top ``depth``."""
    from ranker.index import Index
    from ranker.rerank import candidate_pairs

    queries = test_titles(data, n_queries)
    opened = Index.open(index)
    found = opened.retriever("hybrid").search(queries, depth)
    return candidate_pairs(found, queries, lambda rows: [a.text for a in opened.docs.get(rows)])


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    lines = ["# Benchmarks", "", f"Measured {m['date']} on {m['cpu']} ({m['cores']} cores), Python {m['python']}; "
             + ", ".join(f"{k} {v}" for k, v in m["versions"].items() if v) + f". Mode: {results['mode']}.", "",
             "Ratios are ours over theirs, measured in one run on the same data (above 1: ours is faster). "
             "Each comparison first checks that both sides give the same results.", ""]
    if "bm25" in results:
        lines += ["## BM25 (Robertson, same tokens; synthetic Zipfian corpus from the news word frequencies, 200 news test titles as queries)", "",
                  "Ours and raw bm25s on bm25s's numba backend; bm25s numpy is its default backend. Best of three runs: "
                  "numba's compilation (first batch, below) is not in the rates.", "",
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
        lines += ["", "1M vectors: not run (HNSW and IVF-PQ builds would take most of the 30-minute budget on 2 cores).", ""]
    if "rerank" in results:
        r = results["rerank"]
        p = r["pairs_per_second"]
        lines += ["## Reranking (same model, same pairs, 128 tokens, batches of 32)", "",
                  "| pairs | CrossEncoder.predict pairs/s | ranker pairs/s | ratio | max score difference | ranker int8 pairs/s | ratio | int8 vs fp32 Pearson |",
                  "|---|---|---|---|---|---|---|---|",
                  f"| {r['pairs']:,} | {p['CrossEncoder.predict']:.1f} | {p['ranker']:.1f} | **{r['ratio']:.2f}×** | {r['max_abs_difference']:.1e} | "
                  f"{p['ranker int8']:.1f} | **{r['ratio_int8']:.2f}×** | {r['int8_pearson_with_fp32']:.3f} |",
                  "", "Goal: ≥ 2× with MRR@10 on the test split within 0.005 of the unoptimised model.", ""]
    if "cli" in results:
        c = results["cli"]
        lines += ["## The query CLI", "", f"- `ranker --help`: {c['help_seconds'] * 1000:.0f} ms (goal < 1 s)",
                  f"- cold start, process start to the first reranked result: {c['cold_start_seconds']:.1f} s"]
        for w in c["warm"]:
            lines.append(f"- warm, hybrid + rerank depth {w['depth']}{' int8' if w['int8'] else ''}: p50 {w['p50_ms']:.0f} ms, p95 {w['p95_ms']:.0f} ms "
                         f"over {w['queries']} queries" + (" (goal p50 < 300 ms)" if w["depth"] == 20 else ""))
        lines.append("")
    if "memory" in results:
        lines += ["## Peak memory (resident set size, each step in a fresh process)", "", "| step | peak MiB |", "|---|---|"]
        lines += [f"| {step} | {mib:,.0f} |" for step, mib in results["memory"].items()]
        lines.append("")
    lines += ["## Not yet benchmarked", "", "Mining against `mine_hard_negatives` and training against "
              "`CrossEncoderTrainer` (issue 7).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, no IVF-PQ (about 3 minutes)")
    parser.add_argument("--only", default="bm25,dense,rerank,cli,memory",
                        help="comma-separated: bm25, dense, rerank, cli, memory")
    parser.add_argument("--data", type=Path, default=Path("data/news"))
    parser.add_argument("--index", type=Path, default=Path("indexes/news"))
    parser.add_argument("--out", type=Path, default=HERE, help="where results.json and RESULTS.md go")
    args = parser.parse_args(argv)
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

    from ranker.corpus import read_articles

    if "bm25" in only or "dense" in only:
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
        from ranker.index import Index

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
    with tempfile.TemporaryDirectory() as tmp:
        model = cross_encoder(Path(tmp)) if only & {"rerank", "cli"} else None
        if "rerank" in only:
            print("rerank: scoring the same pairs both ways")
            queries, texts = rerank_pairs(args.data, args.index, sizes["rerank_queries"])
            row = rerank_bench.compare(model, queries, texts)
            speed = row["pairs_per_second"]
            row["ratio"] = speed["ranker"] / speed["CrossEncoder.predict"]
            row["ratio_int8"] = speed["ranker int8"] / speed["CrossEncoder.predict"]
            results["rerank"] = row
            print(f"      fp32 {row['ratio']:.2f}×, int8 {row['ratio_int8']:.2f}×")
        if "cli" in only:
            print("cli: --help, cold start, warm latency")
            queries = test_titles(args.data, sizes["cli_queries"])
            results["cli"] = {
                "help_seconds": cli_bench.help_seconds(),
                "cold_start_seconds": cli_bench.cold_start_seconds(args.index, model, queries[0]),
                "warm": [cli_bench.warm_latency(args.index, model, queries, depth, int8)
                     for depth in (20, 50) for int8 in (False, True)],
            }
            print(f"      {results['cli']}")
    if "memory" in only:
        print("memory: peak RSS of each step in a fresh process")
        with tempfile.TemporaryDirectory() as tmp:
            results["memory"] = memory_bench.measure(args.data, Path(tmp) / "bm25", sizes["memory_docs"])
        print(f"      {results['memory']}")
    write_results(args.out, results, markdown(results))
    print(f"results -> {args.out / 'RESULTS.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
