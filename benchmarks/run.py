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

from benchmarks import (
    bm25_bench,
    cli_bench,
    dense_bench,
    memory_bench,
    mine_bench,
    profiles,
    rerank_bench,
    train_bench,
    update_bench,
)
from benchmarks.common import machine, timed, write_results
from benchmarks.synthetic import synthetic_corpus

HERE = Path(__file__).parent
# quick leaves IVF-PQ out: training its quantisers takes about 2 minutes at any size here
SIZES = {"quick": {"memory_docs": 10_000, "bm25_docs": [10_000], "dense_vectors": 20_000, "dense_kinds": ("flat", "hnsw"), "rerank_queries": 20,
                   "cli_queries": 20, "mine_queries": 100, "train_steps": 4, "update_docs": 10_000, "update_add": 100},
         "full": {"memory_docs": 100_000, "bm25_docs": [10_000, 100_000], "dense_vectors": 100_000, "dense_kinds": ("flat", "hnsw", "ivfpq"),
                  "rerank_queries": 100, "cli_queries": 50, "mine_queries": 300, "train_steps": 20,
                  "update_docs": 100_000, "update_add": 1_000}}
EVERY = {"bm25", "dense", "rerank", "cli", "memory", "mine", "train", "profiles", "update"}


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


def mined_groups() -> Path:
    """Mined training groups: the full preset's if it was run, else the demo's."""
    for folder in (Path("runs/reranker-full/mined"), Path("models/demo/mined")):
        if (folder / "groups.parquet").is_file():
            return folder / "groups.parquet"
    raise SystemExit("no mined groups: run `make demo` first (it mines models/demo/mined)")


def test_titles(data: Path, n: int) -> list[str]:
    """A fixed sample of ``n`` news test titles: real queries, names and rare words as users type them."""
    from ranker.corpus import beir_split

    return [q.text for q in beir_split(data, "test-title", sample=n)[0]]


def rerank_pairs(data: Path, index: Path, n_queries: int, depth: int = 20) -> tuple[list[str], list[str]]:
    """(query, article) pairs as the reranker meets them: test titles with hybrid's top ``depth``."""
    from ranker.index import Index
    from ranker.rerank import candidate_pairs

    queries = test_titles(data, n_queries)
    opened = Index.open(index)
    found = opened.retriever("hybrid").search(queries, depth)
    return candidate_pairs(found, queries, opened.docs.texts)


def quality_lines(path: Path) -> list[str]:
    """RESULTS.md's table of ranking quality by precision, from ``python -m pipelines.precision_quality``
    (too slow for ``make bench``: it reranks the whole test split three times)."""
    import json

    if not path.is_file():
        return ["Quality by precision: not measured yet (`python -m pipelines.precision_quality`).", ""]
    found = json.loads(path.read_text())
    fp32 = {r["split"]: r for r in found["rows"] if r["precision"] == "fp32"}
    lines = [f"Ranking quality by precision (`python -m pipelines.precision_quality`, model `{found['model']}` written by "
             "`python -m pipelines.reranking --preset full`, "
             f"hybrid's top 20 reranked, mixed at its dev-tuned weight {found['weight']:g}):", "",
             "| precision | queries | MRR@10 alone | mixed | mixed − fp32 |", "|---|---|---|---|---|"]
    for r in found["rows"]:
        change = r["mixed"]["MRR@10"] - fp32[r["split"]]["mixed"]["MRR@10"]
        lines.append(f"| {r['precision']} | {r['split']} ({r['queries']}) | {r['alone']['MRR@10']:.4f} | "
                     f"{r['mixed']['MRR@10']:.4f} | {change:+.4f} |")
    return lines + [""]


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
        for name in ("ranker fp32", "ranker bf16", "ranker int8"):
            value = p[name.replace(" fp32", "")] / p["CrossEncoder.predict"]
            add(f"reranking ≥ 2× CrossEncoder.predict, {name.split()[1]}", value, 2.0, f"{value:.2f}×")
    if "train" in results:
        x = results["train"]["pairs_per_second"]
        for name in ("ranker", "ranker bf16"):
            value = x[name] / x["CrossEncoderTrainer"]
            add(f"training ≥ 1.3× plain CrossEncoderTrainer, {'bf16' if 'bf16' in name else 'fp32'}", value, 1.3, f"{value:.2f}×")
    if "cli" in results:
        c = results["cli"]
        add("`ranker --help` < 1 s", c["help_seconds"], 1.0, f"{c['help_seconds'] * 1000:.0f} ms", higher=False)
        for w in (w for w in c["warm"] if w["depth"] == 20):
            add(f"warm p50 < 300 ms at depth 20, {w['precision']}", w["p50_ms"], 300, f"{w['p50_ms']:.0f} ms", higher=False)
    if not goals:
        return []
    notes = []
    quality = HERE / "precision_quality.json"
    if "rerank" in results and quality.is_file():
        rows = json.loads(quality.read_text())["rows"]
        fp32 = {r["split"]: r for r in rows if r["precision"] == "fp32"}

        def worst(precision: str, system: str) -> float:
            return max(abs(r[system]["MRR@10"] - fp32[r["split"]][system]["MRR@10"]) for r in rows if r["precision"] == precision)

        notes = ["The reranker's default precision is `auto`: bf16 on a CPU with AVX512-BF16 or AMX (this one), fp32 "
                 f"elsewhere. bf16 ranks as fp32 does (test MRR@10 within {max(worst('bf16', 'mixed'), worst('bf16', 'alone')):.4f}, "
                 f"below); int8 keeps the mixed system within {worst('int8', 'mixed'):.4f} MRR@10, but the cross-encoder alone "
                 f"loses up to {worst('int8', 'alone'):.4f}, so it stays a choice (`--precision int8`)."]
        if "profiles" in results:
            notes[0] += (f" The transformer's forward pass is {results['profiles']['rerank']['transformer forward']:.0%} of a "
                         "scoring pass (profiles below): in fp32 we cannot beat sentence-transformers by much, and the number "
                         "format is what moves it; the ONNX backend does not install beside our pins (below).")
        notes.append("")
    return ["## Goals, from this run", "", "| goal | measured | |", "|---|---|---|", *goals, "", *notes]


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
    if "rerank" in results:
        r = results["rerank"]
        p, agree = r["pairs_per_second"], r["agreement_with_fp32"]
        lines += [f"## Reranking (same model, same {r['pairs']:,} pairs, {r['max_length']} tokens, batches of {r['batch_size']})", "",
                  "Ours in fp32 must give CrossEncoder.predict's scores (to 1e-4; largest difference "
                  f"{r['max_abs_difference']:.1e}); bf16 and int8 change the scores, so their agreement with fp32 is shown "
                  "and their ranking quality is measured on the test split (below).", "",
                  "| scorer | pairs/s | vs CrossEncoder.predict | Pearson with fp32 | largest score change |", "|---|---|---|---|---|",
                  f"| CrossEncoder.predict | {p['CrossEncoder.predict']:.1f} | 1.00× | | |",
                  f"| ranker fp32 | {p['ranker']:.1f} | **{p['ranker'] / p['CrossEncoder.predict']:.2f}×** | 1 | 0 |"]
        for name in ("ranker bf16", "ranker int8"):
            lines.append(f"| {name} | {p[name]:.1f} | **{p[name] / p['CrossEncoder.predict']:.2f}×** | "
                         f"{agree[name]['pearson']:.5f} | {agree[name]['max_abs_difference']:.3f} |")
        lines += ["", "Goal: ≥ 2× with MRR@10 on the test split within 0.005 of the unoptimised model.", ""]
        lines += quality_lines(HERE / "precision_quality.json")
    if "cli" in results:
        c = results["cli"]
        lines += ["## The query CLI", "", f"- `ranker --help`: {c['help_seconds'] * 1000:.0f} ms (goal < 1 s)",
                  f"- cold start, process start to the first reranked result: {c['cold_start_seconds']:.1f} s"]
        for w in c["warm"]:
            lines.append(f"- warm, hybrid + rerank depth {w['depth']} {w['precision']}: p50 {w['p50_ms']:.0f} ms, p95 {w['p95_ms']:.0f} ms "
                         f"over {w['queries']} queries" + (" (goal p50 < 300 ms)" if w["depth"] == 20 else ""))
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
    parser.add_argument("--quick", action="store_true", help="small sizes, no IVF-PQ (about 3 minutes)")
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
            results["cli"] = {
                "help_seconds": cli_bench.help_seconds(),
                "cold_start_seconds": cli_bench.cold_start_seconds(args.index, model, queries[0]),
                "warm": [cli_bench.warm_latency(args.index, model, queries, depth, precision)
                         for depth in (20, 50) for precision in ("fp32", "bf16", "int8")],
            }
            print(f"      {results['cli']}")
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
