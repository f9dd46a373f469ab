"""Choose the hybrid fusion (method and weights) on a dev split, never on test.

Searches BM25 and dense once, fuses their rankings under each setting of a small
grid, and prints MRR@10, nDCG@10 and R@100 for each; the best by MRR@10 is
printed last as a ``[hybrid]`` TOML table to pass with ``--config``.

Run: ``python -m pipelines.tune_fusion --index indexes/news --queries data/news --split dev-title``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ranker.core.display import format_table
from ranker.data.qrels import read_qrels
from ranker.data.readers import read_queries
from ranker.eval.metrics import evaluate
from ranker.index.folder import Index
from ranker.retrieve.hybrid import HybridConfig, fuse

WEIGHTS = [(1.0, 0.0), (0.0, 1.0), (1.0, 1.0), (0.6, 0.4), (0.7, 0.3), (0.8, 0.2), (0.5, 0.5), (0.4, 0.6)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=Path("indexes/news"))
    parser.add_argument("--queries", type=Path, default=Path("data/news"))
    parser.add_argument("--split", default="dev",
                        help="a qrels split of the BEIR folder (default: dev, both query kinds)")
    parser.add_argument("--depth", type=int, default=100)
    args = parser.parse_args(argv)

    index = Index.open(args.index)
    doc_ids = index.doc_ids()
    qrels = read_qrels(args.queries / "qrels" / f"{args.split}.tsv")
    queries = [q for q in read_queries(args.queries).records if q.qid in qrels]
    texts = [q.text for q in queries]
    rankings = [index.bm25().search(texts, args.depth), index.dense().search(texts, args.depth)]

    rows, best = [], None
    for method in ("rrf", "weighted"):
        for weights in WEIGHTS:
            config = HybridConfig(method=method, weights=weights, depth=args.depth)
            fused = fuse(rankings, args.depth, config)
            run = {q.qid: {doc_ids[row]: score for row, score in fused.hits(i)} for i, q in enumerate(queries)}
            scores = evaluate(run, qrels, ["MRR@10", "nDCG@10", "R@100"])
            rows.append([method, ",".join(f"{w:g}" for w in weights), *(f"{v:.4f}" for v in scores.values())])
            if best is None or scores["MRR@10"] > best[1]:
                best = (config, scores["MRR@10"])
    print(f"{len(queries)} queries of {args.split}")
    print(format_table(["method", "weights (bm25,dense)", "MRR@10", "nDCG@10", "R@100"], rows))
    config = best[0]
    print(f'\nbest by MRR@10:\n[hybrid]\nmethod = "{config.method}"\n'
          f'weights = [{", ".join(f"{w:g}" for w in config.weights)}]')
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
