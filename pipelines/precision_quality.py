"""Does a faster runtime or number format keep the ranking? Every variant on the test split.

For the test titles and subtitles, hybrid's top 20 are scored by the same
fine-tuned cross-encoder in each variant (runtime and precision); the
cross-encoder alone and mixed with the first stage (at the model's dev-tuned
weight) are evaluated, and each variant's scores are compared with PyTorch
fp32's (Pearson, largest difference). The gate for a default: the mixed system
within 0.002 MRR@10 of PyTorch fp32 and the cross-encoder alone within 0.005.

The dense retriever's encoder is checked the same way: the corpus and the test
queries encoded by each runtime, and the top 10 of each query compared with
PyTorch fp32's (recall@10 against it; the gate is 0.99). ``make bench`` puts
both tables in benchmarks/RESULTS.md.

Run: ``python -m pipelines.precision_quality --model runs/reranker-full/model/model``
(about 40 minutes on 2 cores for every variant; ``--variants`` picks some).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ranker.core.files import atomic_write_text

OUT = Path("benchmarks/precision_quality.json")
#: (runtime, precision); the first is the reference the others are compared with
VARIANTS = (("torch", "fp32"), ("openvino", "fp32"), ("openvino", "bf16"), ("torch", "bf16"), ("torch", "int8"))
ENCODERS = (("torch", "fp32"), ("openvino", "fp32"), ("openvino", "bf16"))


def measure(model: Path, index_path: Path, data: Path, splits: tuple[str, ...] = ("test-title", "test-subtitle"),
            variants: tuple[tuple[str, str], ...] = VARIANTS) -> dict:
    """MRR@10 and nDCG@10 of the reranked runs (alone and mixed) per split and variant, with
    each variant's score agreement with the first.
    Example: ``measure(Path("models/demo/model/model"), Path("indexes/news"), Path("data/news"))``."""
    from ranker.data.qrels import beir_split
    from ranker.eval.metrics import evaluate
    from ranker.index.folder import Index
    from ranker.rerank.reranker import RerankConfig, Reranker, rerank_scores
    from ranker.retrieve.base import Results
    from ranker.search.searcher import to_run

    index = Index.open(index_path)
    hybrid, doc_ids = index.retriever("hybrid"), index.doc_ids()
    firsts = {}
    for split in splits:
        queries, qrels = beir_split(data, split)
        firsts[split] = (queries, qrels, hybrid.search([q.text for q in queries], 20))
    rows, reference = [], {}
    for runtime, precision in variants:
        reranker = Reranker(RerankConfig(model=str(model), precision=precision, runtime=runtime))
        for split, (queries, qrels, first) in firsts.items():
            top = Results(first.rows[:, : reranker.config.depth], first.scores[:, : reranker.config.depth])
            cross = reranker.score(*reranker.pairs(top, [q.text for q in queries], index.docs), show_progress=True)
            reference.setdefault(split, cross)
            # no speed here: this job may share the CPU; `make bench` times the variants side by side
            row = {"runtime": runtime, "precision": precision, "split": split, "queries": len(queries),
                   "pearson": float(np.corrcoef(cross, reference[split])[0, 1]),
                   "max_abs_difference": float(np.abs(cross - reference[split]).max())}
            for system, weight in (("alone", 1.0), ("mixed", float(reranker.config.weight))):
                run = to_run(rerank_scores(top, cross, weight).results, [q.qid for q in queries], doc_ids)
                row[system] = evaluate(run, qrels, ("MRR@10", "nDCG@10"))
            rows.append(row)
            print(f"{runtime} {precision} {split}: alone {row['alone']['MRR@10']:.4f}, "
                  f"mixed {row['mixed']['MRR@10']:.4f} MRR@10; Pearson {row['pearson']:.5f}, "
                  f"largest difference {row['max_abs_difference']:.3f}")
    return {"model": str(model), "weight": float(reranker.config.weight), "rows": rows}


def measure_encoders(index_path: Path, data: Path, splits: tuple[str, ...] = ("test-title", "test-subtitle"),
                     encoders: tuple[tuple[str, str], ...] = ENCODERS) -> dict:
    """Each runtime's dense top 10 of the test queries over the whole corpus, against the first's."""
    from ranker.data.qrels import beir_split
    from ranker.data.readers import read_articles
    from ranker.index.folder import Index
    from ranker.retrieve.embed import Embedder, EmbedderConfig

    stored = Index.open(index_path).manifest["components"]["dense"]["config"]["embedder"]
    texts = [a.text for a in read_articles(data).records]
    queries = [q.text for split in splits for q in beir_split(data, split)[0]]
    tops, rows = [], []
    for runtime, precision in encoders:
        embedder = Embedder(EmbedderConfig(**{**stored, "runtime": runtime, "precision": precision}))
        found = np.argsort(-(embedder.encode(queries) @ embedder.encode(texts).T), axis=1)[:, :10]
        tops.append(found)
        recall = float(np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, tops[0], strict=True)]))
        rows.append({"runtime": runtime, "precision": precision, "recall@10": recall,
                     "identical_top10": float(np.mean([list(a) == list(b)
                                                       for a, b in zip(found, tops[0], strict=True)]))})
        print(f"encoder {runtime} {precision}: recall@10 against {encoders[0][0]} {encoders[0][1]} {recall:.4f}")
    return {"model": stored["model"], "documents": len(texts), "queries": len(queries), "rows": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path, default=Path("runs/reranker-full/model/model"))
    parser.add_argument("--index", type=Path, default=Path("indexes/news"))
    parser.add_argument("--data", type=Path, default=Path("data/news"))
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--variants", help="RUNTIME:PRECISION,... (default: every one; the first is the reference)")
    args = parser.parse_args(argv)
    variants = tuple(tuple(v.split(":")) for v in args.variants.split(",")) if args.variants else VARIANTS
    found = measure(args.model, args.index, args.data, variants=variants)
    found["encoders"] = measure_encoders(args.index, args.data)
    atomic_write_text(args.out, json.dumps(found, indent=2) + "\n")
    print(f"-> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
