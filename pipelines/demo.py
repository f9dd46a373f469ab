"""``make demo``: the news benchmark end to end.

Builds the benchmark from its recipe, indexes it with BM25 and dense embeddings
(all-MiniLM-L6-v2, FAISS), runs the test split's title and subtitle queries (and,
for comparison with published figures, every title query) through BM25, dense
and hybrid retrieval, evaluates, prints the metrics table and one example search.

Run: ``python -m pipelines.demo [--data data/news] [--index indexes/news]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ranker.corpus import read_articles, read_qrels, read_queries
from ranker.datasets.news import SPLITS, build_news_benchmark
from ranker.display import format_hits, format_table
from ranker.evaluate import evaluate, write_run
from ranker.index import RETRIEVERS, Index, build_index
from ranker.retrieve.dense import DenseConfig
from ranker.search import search_hits, search_run

EXAMPLE_QUERY = "OPEC oil production cut"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data/news"))
    parser.add_argument("--cache", type=Path, default=Path("data/cache"))
    parser.add_argument("--index", type=Path, default=Path("indexes/news"))
    parser.add_argument("--runs", type=Path, default=Path("runs/demo"))
    parser.add_argument("--rebuild", action="store_true", help="rebuild the data and the index even if present")
    args = parser.parse_args(argv)
    started = time.perf_counter()

    if args.rebuild or not (args.data / "corpus.jsonl").exists():
        print(f"[1/4] building the news benchmark -> {args.data}")
        summary = build_news_benchmark(args.data, args.cache)
        print(f"      {summary.articles} articles kept of {summary.rows}; dropped {dict(summary.dropped)}")
    else:
        print(f"[1/4] news benchmark already built in {args.data}")

    manifest_path = args.index / "manifest.json"
    complete = manifest_path.exists() and {"bm25", "dense"} <= set(json.loads(manifest_path.read_text())["components"])
    if args.rebuild or not complete:
        print(f"[2/4] indexing with BM25 and dense embeddings -> {args.index} (encoding takes a few minutes on a CPU)")
        manifest = build_index(read_articles(args.data).records, args.index, dense=DenseConfig(), source=str(args.data))
        print(f"      {manifest['doc_count']} documents in {manifest['build_seconds']:.1f}s "
              f"(dense: {manifest['components']['dense']['encode_and_build_seconds']:.1f}s)")
    else:
        print(f"[2/4] index already built in {args.index}")

    print("[3/4] searching and evaluating")
    index = Index.open(args.index)
    doc_ids = index.doc_ids()
    queries = read_queries(args.data).records
    qrels_all_titles = {}
    for split in SPLITS:
        qrels_all_titles.update(read_qrels(args.data / "qrels" / f"{split}-title.tsv"))
    evaluations = [
        ("test-title", read_qrels(args.data / "qrels" / "test-title.tsv")),
        ("test-subtitle", read_qrels(args.data / "qrels" / "test-subtitle.tsv")),
        ("all-title", qrels_all_titles),
    ]
    rows = []
    for system in RETRIEVERS:
        retriever = index.retriever(system)
        for name, qrels in evaluations:
            chosen = [q for q in queries if q.qid in qrels]
            begun = time.perf_counter()
            run = search_run(retriever, chosen, doc_ids, k=100, show_progress=False)
            seconds = time.perf_counter() - begun
            write_run(args.runs / f"{system}.{name}.trec", run, tag=system)
            scores = evaluate(run, qrels)
            rows.append([system, name, len(chosen), *(f"{v:.3f}" for v in scores.values()), f"{1000 * seconds / len(chosen):.2f}"])
    print()
    print(format_table(["system", "queries", "n", *scores, "ms/query"], sorted(rows, key=lambda r: (r[1], r[0]))))
    print(f"\nruns written to {args.runs}/")

    print(f'\n[4/4] example search (hybrid): "{EXAMPLE_QUERY}"\n')
    print(format_hits(search_hits(index, index.retriever("hybrid"), EXAMPLE_QUERY, k=5)))
    print(f"\ndemo finished in {time.perf_counter() - started:.1f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
