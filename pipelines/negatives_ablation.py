"""The negatives ablation: which negatives make the better reranker, at the same budget?

Trains one cross-encoder per kind of negatives — random, BM25, dense, hybrid, and
hybrid denoised by the hybrid-trained cross-encoder (RocketQA) — on the same
training queries with the same settings and steps, reranks the same first stage
(hybrid's top 20) for the test split's title queries, and writes the table next
to BM25, dense and hybrid without reranking. Each finished strategy is kept in
``OUT/<strategy>/``, so an interrupted ablation continues where it stopped.

Run: ``python -m pipelines.negatives_ablation [--train-queries 800] [--out runs/ablation]``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, replace
from pathlib import Path

from pipelines.reranking import (
    METRICS,
    first_stage,
    mine_groups,
    print_table,
    reranked_runs,
    table_rows,
    train,
)
from ranker.core.exits import run_reporting_errors
from ranker.core.files import atomic_write_text
from ranker.core.outputs import check_output, folder_of
from ranker.data.qrels import beir_split
from ranker.index.folder import Index
from ranker.train.presets import PRESETS

STRATEGIES = ("random", "bm25", "dense", "hybrid", "hybrid-denoised")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data/news"))
    parser.add_argument("--index", type=Path, default=Path("indexes/news"))
    parser.add_argument("--out", type=Path, default=Path("runs/ablation"))
    parser.add_argument("--train-queries", type=int, default=800, help="training queries per strategy (default: 800)")
    parser.add_argument("--test", default="test-title",
                        help="the qrels the systems are compared on (default: test-title)")
    parser.add_argument("--test-sample", type=int, default=400,
                        help="a fixed random sample of that many test queries (default: 400; 0 for all)")
    parser.add_argument("--dev-queries", type=int, default=100,
                        help="dev queries each model is evaluated and mixed on (default: 100)")
    parser.add_argument("--strategies", default=",".join(STRATEGIES),
                        help=f"comma-separated (default: {','.join(STRATEGIES)})")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    return run_reporting_errors(lambda: run(args))


def run(args: argparse.Namespace) -> int:
    """The ablation on parsed arguments (see the module)."""
    check_output(args.out, folder_of("an ablation folder", "|".join(["runs", r"summary\.json", *STRATEGIES])),
                 [("--data", args.data), ("--index", args.index)])
    # The quick preset's recipe (the demo's): its 100 steps are the budget every kind of negatives gets.
    base = PRESETS["quick"]
    preset = replace(base, name="ablation", train_queries=args.train_queries, train=replace(base.train, eval_every=0),
                     reranker=replace(base.reranker, dev_queries=args.dev_queries))
    started = time.perf_counter()
    index = Index.open(args.index)
    queries, qrels = beir_split(args.data, args.test, sample=args.test_sample or None)
    firsts = first_stage(index, queries, args.out / "runs", args.test)
    rows = table_rows({system: first.run for system, first in firsts.items()}, qrels, args.test)
    speeds = {}
    for strategy in args.strategies.split(","):
        folder = args.out / strategy
        done = folder / "rows.json"
        if done.exists():
            rows += json.loads(done.read_text())
            print(f"{strategy}: done before ({done})")
            continue
        print(f"== {strategy} negatives: mining")
        kind = strategy.removesuffix("-denoised")
        denoise = args.out / "hybrid" / "model" / "model" if strategy.endswith("-denoised") else None
        if denoise is not None and not denoise.exists():
            raise SystemExit(f"{strategy} needs the hybrid-trained cross-encoder first ({denoise})")
        mining = replace(preset.mining, strategy=kind)
        mined = mine_groups(index, args.data, preset, folder / "mined", mining, denoise)
        print(f"== {strategy} negatives: fine-tuning")
        metrics = train(args.index, args.data, preset, folder / "mined", folder / "model", args.quiet)
        reranked, speeds[strategy] = reranked_runs(
            index, folder / "model" / "model", queries, firsts["hybrid"], folder / "runs", args.test, label=strategy
        )
        new = table_rows(reranked, qrels, args.test)
        atomic_write_text(folder / "summary.json", json.dumps(
            {"mining": mined, "train": metrics["train"], "dev_best": metrics["best"],
             "rerank_pairs_per_second": speeds[strategy]},
            indent=2) + "\n")
        atomic_write_text(done, json.dumps(new) + "\n")
        rows += new
        print_table(rows)
    print()
    print_table(rows)
    summary = {
        "preset": asdict(preset),
        "first_stage_reranked": "hybrid top 20",
        "table": [dict(zip(["system", "queries", "n", *METRICS], r, strict=True)) for r in rows],
        "seconds_this_call": round(time.perf_counter() - started, 1),
    }
    atomic_write_text(args.out / "summary.json", json.dumps(summary, indent=2) + "\n")
    print(f"\nsummary -> {args.out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
