"""Does a faster number format keep the reranker's quality? fp32, bf16 and int8 on the test split.

For the test titles and subtitles, hybrid's top 20 are scored by the same
fine-tuned cross-encoder in each precision; the cross-encoder alone and mixed
with the first stage (at the model's dev-tuned weight) are evaluated. The goal
for a precision: MRR@10 within 0.005 of fp32. ``make bench`` puts the table in
benchmarks/RESULTS.md.

Run: ``python -m pipelines.precision_quality --model runs/reranker-full/model/model``
(about 20 minutes on 2 cores for the full preset's model).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ranker.files import atomic_write_text

OUT = Path("benchmarks/precision_quality.json")
PRECISIONS = ("fp32", "bf16", "int8")


def measure(model: Path, index_path: Path, data: Path, splits: tuple[str, ...] = ("test-title", "test-subtitle")) -> dict:
    """MRR@10 and nDCG@10 of the reranked runs (alone and mixed) per split and precision.
    Example: ``measure(Path("models/demo/model/model"), Path("indexes/news"), Path("data/news"))``."""
    from ranker.corpus import beir_split
    from ranker.evaluate import evaluate
    from ranker.index import Index
    from ranker.rerank import Reranker, RerankConfig, rerank_scores
    from ranker.retrieve.base import Results
    from ranker.search import to_run

    index = Index.open(index_path)
    hybrid, doc_ids = index.retriever("hybrid"), index.doc_ids()
    firsts = {}
    for split in splits:
        queries, qrels = beir_split(data, split)
        firsts[split] = (queries, qrels, hybrid.search([q.text for q in queries], 20))
    rows = []
    for precision in PRECISIONS:
        reranker = Reranker(RerankConfig(model=str(model), precision=precision))
        for split, (queries, qrels, first) in firsts.items():
            top = Results(first.rows[:, : reranker.config.depth], first.scores[:, : reranker.config.depth])
            cross = reranker.score(*reranker.pairs(top, [q.text for q in queries], index.docs), show_progress=True)
            # no speed here: this job may share the CPU; `make bench` times the precisions side by side
            row = {"precision": precision, "split": split, "queries": len(queries)}
            for system, weight in (("alone", 1.0), ("mixed", float(reranker.config.weight))):
                run = to_run(rerank_scores(top, cross, weight).results, [q.qid for q in queries], doc_ids)
                row[system] = evaluate(run, qrels, ("MRR@10", "nDCG@10"))
            rows.append(row)
            print(f"{precision} {split}: alone {row['alone']['MRR@10']:.4f}, mixed {row['mixed']['MRR@10']:.4f} MRR@10")
    return {"model": str(model), "weight": float(reranker.config.weight), "rows": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("runs/reranker-full/model/model"))
    parser.add_argument("--index", type=Path, default=Path("indexes/news"))
    parser.add_argument("--data", type=Path, default=Path("data/news"))
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    atomic_write_text(args.out, json.dumps(measure(args.model, args.index, args.data), indent=2) + "\n")
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
