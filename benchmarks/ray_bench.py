"""The Ray engine against one process: encoding speed with 1 and 2 workers, Ray's
fixed overhead on a small corpus, and whether the index and a reranked run come
out the same.

Run (after ``make demo``): ``python -m benchmarks.ray_bench --index indexes/news --reranker models/demo/model/model``.
It starts a local Ray on this machine's CPUs (or joins ``RAY_ADDRESS``) and
writes ``benchmarks/ray_results.json``.

* Encoding: the first ``--docs`` news articles in shards of ``--shard-size``
  through :func:`ranker.retrieve.embed.encode_corpus`, in this process (torch on
  every core) and on Ray with 1 worker (all cores) and 2 workers (one core each).
  Each side's time starts when its call starts, so Ray's times include starting
  the actors and loading a model in each; ``ray.init`` itself is timed apart.
* Overhead: the same on ``--small`` articles, where the fixed costs dominate.
* Same index: the whole corpus encoded on Ray, then every test title query's
  dense top 10 compared with the index's (built in one process).
* Same run: ``--rerank-queries`` test titles' hybrid top 20 scored in one process
  and on 2 workers.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from ranker.core.files import atomic_write_text


def timed_encode(embedder, texts: list[str], shard_size: int, ray=None) -> tuple[np.ndarray, float]:
    """Vectors and seconds for one encode of ``texts`` (fresh shard folder each time)."""
    from ranker.retrieve.embed import encode_corpus

    folder = Path(tempfile.mkdtemp(prefix="ray-bench-"))
    try:
        began = time.perf_counter()
        encode_missing = None
        if ray is not None:
            from ranker.models.ray_engine import shard_encoder

            encode_missing = shard_encoder(ray, embedder)
        vectors = encode_corpus(embedder, texts, folder, shard_size, show_progress=False, encode_missing=encode_missing)
        return vectors, time.perf_counter() - began
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def encoding(embedder, texts: list[str], shard_size: int) -> dict:
    """docs/s in one process and on Ray with 1 and 2 workers, and the largest vector difference."""
    import os

    from ranker.models.ray_engine import RayConfig

    cores = os.cpu_count() or 2
    local, seconds = timed_encode(embedder, texts, shard_size)
    out = {"docs": len(texts), "shard_size": shard_size,
           "local": {"seconds": round(seconds, 2), "docs_per_s": round(len(texts) / seconds, 2)}}
    for workers in (1, 2):
        config = RayConfig(workers=workers, cpus_per_worker=max(1, cores // workers))
        vectors, seconds = timed_encode(embedder, texts, shard_size, config)
        out[f"ray_{workers}"] = {"seconds": round(seconds, 2), "docs_per_s": round(len(texts) / seconds, 2),
                                 "cpus_per_worker": config.cpus_per_worker,
                                 "max_abs_diff": float(np.abs(vectors - local).max())}
    return out


def same_index(index, embedder, shard_size: int, data: Path) -> dict:
    """The whole corpus encoded on Ray against the index's own vectors: top-10 agreement on test titles."""
    import faiss

    from ranker.data.qrels import beir_split
    from ranker.models.ray_engine import RayConfig

    texts = [a.text for a in index.docs.get(list(range(len(index.doc_ids()))))]
    vectors, seconds = timed_encode(embedder, texts, shard_size, RayConfig(workers=2))
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    queries, _ = beir_split(data, "test-title")
    q = embedder.encode([x.text for x in queries])
    _, rows = flat.search(q, 10)
    theirs = index.dense().search([x.text for x in queries], 10).rows
    same = float(np.mean([a.tolist() == b.tolist() for a, b in zip(rows, theirs, strict=True)]))
    recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(rows, theirs, strict=True)]))
    return {"docs": len(texts), "seconds": round(seconds, 1), "docs_per_s": round(len(texts) / seconds, 2),
            "queries": len(queries), "identical_top10": same, "recall_at_10": recall}


def same_run(index, model: Path, data: Path, n: int) -> dict:
    """Hybrid's top 20 for ``n`` test titles reranked in one process and on 2 workers."""
    from ranker.data.qrels import beir_split
    from ranker.models.ray_engine import RayConfig, pair_scorer
    from ranker.rerank.reranker import RerankConfig, Reranker

    queries, _ = beir_split(data, "test-title", sample=n)
    first = index.retriever("hybrid").search([q.text for q in queries], 20)
    out = {"queries": len(queries)}
    results = {}
    for name, ray in (("local", None), ("ray_2", RayConfig(workers=2))):
        reranker = Reranker(RerankConfig(model=str(model)), score_elsewhere=pair_scorer(ray) if ray else None)
        began = time.perf_counter()
        reranked = reranker.rerank(first, [q.text for q in queries], index.docs)
        seconds = time.perf_counter() - began
        results[name] = reranked
        out[name] = {"seconds": round(seconds, 2), "pairs_per_s": round(int((first.rows >= 0).sum()) / seconds, 1)}
    a, b = results["local"].results, results["ray_2"].results
    out["identical_order"] = bool((a.rows == b.rows).all())
    out["max_abs_score_diff"] = float(np.abs(a.scores - b.scores)[np.isfinite(a.scores)].max())
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=Path("indexes/news"))
    parser.add_argument("--data", type=Path, default=Path("data/news"))
    parser.add_argument("--reranker", type=Path, default=Path("models/demo/model/model"))
    parser.add_argument("--docs", type=int, default=768)
    parser.add_argument("--small", type=int, default=32)
    parser.add_argument("--shard-size", type=int, default=128)
    parser.add_argument("--rerank-queries", type=int, default=100)
    parser.add_argument("--skip-full", action="store_true", help="skip encoding the whole corpus on Ray")
    parser.add_argument("--only-run", action="store_true", help="only the reranked-run comparison (merged into --out)")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/ray_results.json"))
    args = parser.parse_args(argv)

    import ray

    from ranker.index.folder import Index
    from ranker.models.ray_engine import RayConfig, connect

    index = Index.open(args.index)
    if args.only_run:
        results = json.loads(args.out.read_text()) if args.out.is_file() else {}
        results["same_run"] = same_run(index, args.reranker, args.data, args.rerank_queries)
        print("same run", json.dumps(results["same_run"]))
        atomic_write_text(args.out, json.dumps(results, indent=2) + "\n")
        return 0
    embedder = index.dense().embedder
    texts = [a.text for a in index.docs.get(list(range(args.docs)))]
    began = time.perf_counter()
    connect(RayConfig(), show_progress=False)
    results = {"ray_init_seconds": round(time.perf_counter() - began, 2), "cpus": ray.cluster_resources().get("CPU")}
    print(f"ray.init: {results['ray_init_seconds']}s, {results['cpus']} CPUs")
    results["encoding"] = encoding(embedder, texts, args.shard_size)
    print("encoding", json.dumps(results["encoding"]))
    results["overhead"] = encoding(embedder, texts[: args.small], args.shard_size // 4)
    print("overhead", json.dumps(results["overhead"]))
    if not args.skip_full:
        results["same_index"] = same_index(index, embedder, 512, args.data)
        print("same index", json.dumps(results["same_index"]))
    results["same_run"] = same_run(index, args.reranker, args.data, args.rerank_queries)
    print("same run", json.dumps(results["same_run"]))
    atomic_write_text(args.out, json.dumps(results, indent=2) + "\n")
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
