"""``make bench``: run the benchmarks and write ``benchmarks/results.json`` and ``RESULTS.md``.

Run: ``python -m benchmarks.run [--quick] [--only bm25,rerank,cli]``. ``--quick``
uses the small sizes (about 5.5 minutes); the full run about 25 minutes. Needs the
news benchmark and its index (``make demo`` builds both) for the reranking and
CLI benchmarks; the BM25 benchmark builds its synthetic corpora itself.
"""

from __future__ import annotations

import argparse
import json
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
from benchmarks.results_markdown import markdown
from benchmarks.synthetic import synthetic_corpus

HERE = Path(__file__).parent
# quick leaves IVF-PQ out: training its quantisers takes about 2 minutes at any size here
SIZES = {"quick": {"memory_docs": 10_000, "bm25_docs": [10_000], "dense_vectors": 20_000,
                   "dense_kinds": ("flat", "hnsw"), "rerank_queries": 20, "cli_queries": 20, "mine_queries": 100,
                   "train_steps": 4, "update_docs": 10_000, "update_add": 100, "serve_seconds": 5,
                   "fairness_seconds": 5, "scale_docs": [10_000, 100_000], "dense_scale_vectors": None},
         "full": {"memory_docs": 100_000, "bm25_docs": [10_000, 100_000], "dense_vectors": 100_000,
                  "dense_kinds": ("flat", "hnsw", "ivfpq"), "rerank_queries": 100, "cli_queries": 50,
                  "mine_queries": 300, "train_steps": 20, "update_docs": 100_000, "update_add": 1_000,
                  "serve_seconds": 20, "fairness_seconds": 20, "scale_docs": [10_000, 100_000, 1_000_000],
                  "dense_scale_vectors": 1_000_000}}
EVERY = {"bm25", "dense", "dense_scale", "encode", "rerank", "cli", "serve", "fairness", "scale", "memory", "mine",
         "train", "profiles", "update"}


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


# -- the measurements, one step per benchmark, each printing its progress -------------


def measure_bm25(data: Path, sizes: list[int], titles: list[str]) -> list[dict[str, Any]]:
    """BM25 against rank_bm25 and raw bm25s on synthetic corpora of each size."""
    from ranker.data.readers import read_articles

    texts = [a.text for a in read_articles(data).records]
    rows = []
    for n in sizes:
        print(f"bm25: {n:,} synthetic documents")
        corpus = synthetic_corpus(texts, n)
        row = bm25_bench.compare(corpus, titles, oracle_queries=50 if n <= 10_000 else 10)
        row["ratios"] = bm25_bench.ratios(row)
        rows.append(row)
        print(f"      {row['ratios']}")
    return rows


def measure_dense(data: Path, index: Path, sizes: dict[str, Any], titles: list[str]) -> dict[str, Any]:
    """Encoding speed, then each FAISS index over vectors blended from the index's."""
    from ranker.data.readers import read_articles
    from ranker.index.folder import Index

    dense = Index.open(index).dense()
    real = dense.faiss_index.reconstruct_n(0, dense.faiss_index.ntotal)
    articles = [a.text for a in read_articles(data).records[:200]]
    _, encode_s = timed(lambda: dense.embedder.encode(articles))
    n = sizes["dense_vectors"]
    print(f"dense: encoding, then flat / hnsw / ivfpq over {n:,} vectors")
    row = dense_bench.compare(dense_bench.blended_vectors(real, n), dense.embedder.encode(titles),
                              kinds=sizes["dense_kinds"])
    row["encode_docs_per_second"] = len(articles) / encode_s
    print(f"      {row}")
    return row


def measure_dense_scale(index: Path, n: int, titles: list[str]) -> dict[str, Any]:
    """Every FAISS index at ``n`` vectors, and what ``auto`` picks there."""
    from ranker.index.folder import Index
    from ranker.retrieve.dense import DenseConfig

    dense = Index.open(index).dense()
    real = dense.faiss_index.reconstruct_n(0, dense.faiss_index.ntotal)
    print(f"dense_scale: flat / hnsw / ivfpq over {n:,} vectors (HNSW takes about 15 minutes to build here)")
    row = dense_bench.compare(dense_bench.blended_vectors(real, n), dense.embedder.encode(titles))
    row["auto"] = DenseConfig().resolved_type(n)
    print(f"      {row}")
    return row


def measure_encode(data: Path, titles: list[str]) -> dict[str, Any]:
    """Our encoders against SentenceTransformer.encode on the same articles."""
    from ranker.data.readers import read_articles

    print("encode: the same articles both ways")
    articles = [a.text for a in read_articles(data).records[:256]]
    row = encode_bench.compare(articles, titles[:100])
    print("      " + ", ".join(f"{k} {v:.1f}/s" for k, v in row["articles_per_second"].items()))
    return row


def measure_update(data: Path, index: Path, sizes: dict[str, Any]) -> dict[str, Any]:
    """Adding articles to an index against building it again."""
    print(f"update: adding {sizes['update_add']:,} articles to {sizes['update_docs']:,}, against a rebuild")
    row = update_bench.measure(data, index, sizes["update_docs"], sizes["update_add"])
    print(f"      {row['update_total']:.1f}s against {row['rebuild_total']:.1f}s")
    return row


def measure_mine(data: Path, index: Path, n: int) -> dict[str, Any]:
    """Mining dense negatives against sentence-transformers' mine_hard_negatives."""
    print(f"mine: {n} training queries, dense negatives, both ways")
    row = mine_bench.compare(index, data, n)
    print(f"      same negatives {row['same_negatives']:.3f}, {row['ratio']:.2f}×, "
          f"without query encoding {row['ratio_without_encoding']:.2f}×")
    return row


def measure_train(index: Path, steps: int) -> dict[str, Any]:
    """Our training loop against CrossEncoderTrainer on the same mined groups."""
    print(f"train: {steps} steps of 8 groups (1 positive + 3 negatives), 128 tokens, both ways")
    groups = train_bench.load_groups(mined_groups(), index, steps * 8, negatives=3)
    row = train_bench.compare("all-MiniLM-L6-v2", groups, steps, bf16=True)
    print(f"      {row['ratio']:.2f}×, ours in bf16 {row['ratio_bf16']:.2f}×")
    return row


def measure_rerank(data: Path, index: Path, model: Path, n_queries: int) -> dict[str, Any]:
    """Our reranker in each runtime and precision against CrossEncoder.predict on the same pairs."""
    print("rerank: scoring the same pairs both ways")
    queries, texts = rerank_pairs(data, index, n_queries)
    row = rerank_bench.compare(model, queries, texts)
    speed = row["pairs_per_second"]
    row["ratio"] = {name: v / speed["CrossEncoder.predict"] for name, v in speed.items()}
    print("      " + ", ".join(f"{name} {v:.2f}×" for name, v in row["ratio"].items()))
    return row


def measure_cli(data: Path, index: Path, model: Path, n_queries: int) -> dict[str, Any]:
    """``ranker --help``, a cold start, and warm latency in each runtime and precision."""
    from ranker.models.runtime import resolve_runtime

    print("cli: --help, cold start, warm latency")
    queries = test_titles(data, n_queries)
    default = resolve_runtime("auto")
    variants = [("torch", "fp32"), ("torch", "bf16"), ("torch", "int8"), ("openvino", "fp32"), ("openvino", "bf16")]
    warm = [{**cli_bench.warm_latency(index, model, queries, depth, precision, runtime),
             "default": (runtime, precision) == (default, "bf16") or (runtime, precision) == (default, "auto")}
            for depth in (20, 50) for runtime, precision in variants]
    row = {"help_seconds": cli_bench.help_seconds(), "cold_start": cli_bench.cold_start(index, model, queries[0]),
           "warm": warm}
    print(f"      {row}")
    return row


def measure_serve(data: Path, index: Path, seconds: float) -> dict[str, Any]:
    """``ranker serve`` under 1, 4 and 16 clients, reranked and not."""
    print("serve: 1, 4 and 16 clients, reranked and not")
    with tempfile.TemporaryDirectory() as tmp:
        row = serve_bench.measure(index, cross_encoder(Path(tmp)), test_titles(data, 400), seconds)
    for r in row["rows"]:
        print(f"      rerank={r['rerank']} clients={r['clients']}: {r['requests_per_second']:.1f}/s, "
              f"p50 {r['p50_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms, {r['errors']} errors, batch {r['mean_batch']:.1f}")
    return row


def measure_fairness(data: Path, index: Path, seconds: float) -> dict[str, Any]:
    """``ranker serve`` with one light client beside three sending the largest request."""
    from benchmarks import fairness_bench

    print("fairness: one light client beside three heavy ones, reranked and not")
    with tempfile.TemporaryDirectory() as tmp:
        row = fairness_bench.measure(index, cross_encoder(Path(tmp)), data / "corpus.jsonl", test_titles(data, 400),
                                     seconds)
    for r in row["rows"]:
        print(f"      rerank={r['rerank']}: light p50 {r['together']['light_p50_ms']:.0f} ms beside, "
              f"{r['idle']['light_p50_ms']:.0f} ms idle ({r['p50_ratio']:.1f}x), p99 {r['p99_ratio']:.1f}x; "
              f"heavy {r['heavy_share']:.0%} of alone; {r['together']['refused']} refused, "
              f"{r['together']['failed']} failed")
    return row


def measure_scale(data: Path, sizes: list[int], out: Path) -> dict[str, Any]:
    """Building, opening and searching BM25 + the document store at each size; the plot of their growth."""
    print(f"scale: BM25 + document store at {', '.join(f'{n:,}' for n in sizes)} documents")
    row = scale_bench.measure(data, sizes, test_titles(data, 200))
    if row["growth"]:
        scale_bench.plot(row, out / "scale.png")
    for r in row["rows"]:
        print(f"      {r['documents']:,}: build {r['build_seconds']['total']:.1f}s, "
              f"peak {r['build_peak_rss_mib']:,.0f} MiB, open {r['open_seconds']:.2f}s, "
              f"{r['rss_after_open_mib']:,.0f} MiB, BM25 {r['bm25_qps']:,.0f} q/s (raw bm25s {r['bm25s_qps']:,.0f}); "
              f"old path peak {r.get('old_path', {}).get('build_peak_rss_mib', 0):,.0f} MiB")
    return row


def measure_memory(data: Path, n_docs: int) -> dict[str, Any]:
    """The peak memory of each step, each in a fresh process."""
    print("memory: peak RSS of each step in a fresh process")
    with tempfile.TemporaryDirectory() as tmp:
        row = memory_bench.measure(data, Path(tmp) / "bm25", n_docs)
    print(f"      {row}")
    return row


def measure_profiles(bm25_docs: int) -> dict[str, Any]:
    """Where the time goes in a BM25 search, a reranking pass and a training step."""
    print("profiles: BM25 search, a reranking pass, a training step")
    row = {"bm25_documents": bm25_docs, "bm25": profiles.bm25(bm25_docs), "rerank": profiles.rerank(),
           "train": profiles.train()}
    print(f"      {row}")
    return row


# -- the command ----------------------------------------------------------------------


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="small sizes, no IVF-PQ, no 1M scale row (about 5.5 minutes)")
    parser.add_argument("--only", default=",".join(sorted(EVERY)),
                        help="comma-separated: " + ", ".join(sorted(EVERY)))
    parser.add_argument("--data", type=Path, default=Path("data/news"))
    parser.add_argument("--index", type=Path, default=Path("indexes/news"))
    parser.add_argument("--out", type=Path, default=HERE, help="where results.json and RESULTS.md go")
    parser.add_argument("--render", action="store_true", help="only rewrite RESULTS.md from results.json")
    return parser.parse_args(argv)


def starting_results(out: Path, mode: str, only: set[str]) -> dict[str, Any]:
    """The mode and the machine; a partial run also keeps the other benchmarks' figures from
    the last run of the same mode."""
    results: dict[str, Any] = {"mode": mode, "machine": machine()}
    earlier = out / "results.json"
    if only != EVERY and earlier.is_file():
        kept = json.loads(earlier.read_text())
        if kept.get("mode") == mode:
            results = {**{k: v for k, v in kept.items() if k not in only}, "mode": mode, "machine": machine()}
            # say which figures are new, so RESULTS.md does not date the kept ones to today
            rest = kept.get("partial", {}).get("rest_measured") or kept["machine"]["date"]
            remeasured = sorted(only | set(kept.get("partial", {}).get("sections", [])))
            results["partial"] = {"sections": remeasured, "rest_measured": rest}
    return results


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    if args.render:
        results = json.loads((args.out / "results.json").read_text())
        write_results(args.out, with_segments(args.out, results), markdown(with_segments(args.out, results)))
        return 0
    mode = "quick" if args.quick else "full"
    sizes, only = SIZES[mode], set(args.only.split(","))
    results = starting_results(args.out, mode, only)
    titles = test_titles(args.data, 200) if only & {"bm25", "dense", "dense_scale", "encode"} else []
    if "bm25" in only:
        results["bm25"] = measure_bm25(args.data, sizes["bm25_docs"], titles)
    if "dense" in only:
        results["dense"] = measure_dense(args.data, args.index, sizes, titles)
    if "dense_scale" in only and sizes["dense_scale_vectors"]:
        results["dense_scale"] = measure_dense_scale(args.index, sizes["dense_scale_vectors"], titles)
    if "encode" in only:
        results["encode"] = measure_encode(args.data, titles)
    if "update" in only:
        results["update"] = measure_update(args.data, args.index, sizes)
    if "mine" in only:
        results["mine"] = measure_mine(args.data, args.index, sizes["mine_queries"])
    if "train" in only:
        results["train"] = measure_train(args.index, sizes["train_steps"])
    if only & {"rerank", "cli"}:
        with tempfile.TemporaryDirectory() as tmp:
            model = cross_encoder(Path(tmp))
            if "rerank" in only:
                results["rerank"] = measure_rerank(args.data, args.index, model, sizes["rerank_queries"])
            if "cli" in only:
                results["cli"] = measure_cli(args.data, args.index, model, sizes["cli_queries"])
    if "serve" in only:
        results["serve"] = measure_serve(args.data, args.index, sizes["serve_seconds"])
    if "fairness" in only:
        results["fairness"] = measure_fairness(args.data, args.index, sizes["fairness_seconds"])
    if "scale" in only:
        results["scale"] = measure_scale(args.data, sizes["scale_docs"], args.out)
    if "memory" in only:
        results["memory"] = measure_memory(args.data, sizes["memory_docs"])
    if "profiles" in only:
        results["profiles"] = measure_profiles(sizes["bm25_docs"][-1])
    results = with_segments(args.out, results)
    write_results(args.out, results, markdown(results))
    print(f"results -> {args.out / 'RESULTS.md'}")
    return 0


def with_segments(out: Path, results: dict[str, Any]) -> dict[str, Any]:
    """``results`` with the last ``make bench-segments`` run's rows (``segments.json``, measured apart: it takes
    most of an hour), when there is one."""
    path = out / "segments.json"
    return {**results, "segments": json.loads(path.read_text())} if path.is_file() else results


if __name__ == "__main__":
    raise SystemExit(main())
