"""Recall@10 of the approximate FAISS indexes against exact search, on an index's
own embeddings.

Reads the vectors back out of the index's exact (``flat``) dense component,
builds HNSW and IVF-PQ over them, and searches with the queries' embeddings.

Run: ``python -m pipelines.ann_recall --index indexes/news --queries data/news --split test-title``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ranker.core.display import format_table
from ranker.data.qrels import read_qrels
from ranker.data.readers import read_queries
from ranker.index.folder import Index
from ranker.retrieve.dense import DenseConfig, build_faiss


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=Path("indexes/news"))
    parser.add_argument("--queries", type=Path, default=Path("data/news"))
    parser.add_argument("--split", default="test-title")
    parser.add_argument("-k", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    retriever = Index.open(args.index).dense()
    exact = retriever.faiss_index
    if retriever.config.resolved_type(exact.ntotal, exact.d) != "flat":
        raise SystemExit("the index's dense component must be exact (flat) to serve as the reference")
    vectors = exact.reconstruct_n(0, exact.ntotal)
    judged = read_qrels(args.queries / "qrels" / f"{args.split}.tsv")
    texts = [q.text for q in read_queries(args.queries).records if q.qid in judged]
    queries = retriever.embedder.encode(texts)
    _, truth = exact.search(queries, args.k)

    rows, out = [], {}
    for kind in ("hnsw", "ivfpq"):
        began = time.perf_counter()
        index = build_faiss(vectors, DenseConfig(index_type=kind))
        built = time.perf_counter() - began
        began = time.perf_counter()
        _, found = index.search(queries, args.k)
        searched = time.perf_counter() - began
        recall = float(np.mean([len(set(a) & set(b)) / args.k for a, b in zip(found, truth, strict=True)]))
        out[kind] = {"recall": recall, "build_s": built, "ms_per_query": 1000 * searched / len(texts)}
        rows.append([kind, f"{recall:.4f}", f"{built:.2f}", f"{1000 * searched / len(texts):.3f}"])
    if args.json:
        print(json.dumps({"vectors": int(exact.ntotal), "queries": len(texts), "k": args.k, **out}, indent=2))
    else:
        print(f"{exact.ntotal} vectors, {len(texts)} queries ({args.split}), recall@{args.k} against exact search")
        print(format_table(["index", f"recall@{args.k}", "build s", "ms/query"], rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
