"""The reranking job's stages, shared by ``make demo``, the full preset and the
negatives ablation: mine → fine-tune → evaluate every system on the same queries.

A preset with an embedder recipe (``full``) first mines from the given index,
fine-tunes the dense retriever's embedder on those groups and rebuilds the index
with it (``OUT/index``); the cross-encoder is then mined for, trained and
evaluated on the rebuilt index, whose hybrid first stage it reranks.

Run the full preset: ``python -m pipelines.reranking --preset full``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import NamedTuple

from ranker.core.config import resolve_config
from ranker.core.display import format_table
from ranker.core.exits import run_reporting_errors
from ranker.core.files import atomic_write_text
from ranker.core.flags import count
from ranker.core.outputs import check_output, folder_of
from ranker.data.qrels import beir_split, read_qrels
from ranker.data.readers import read_queries
from ranker.data.records import Query
from ranker.eval.metrics import evaluate
from ranker.eval.runs import write_run
from ranker.index.folder import RETRIEVERS, Index
from ranker.retrieve.base import Results
from ranker.search.searcher import to_run
from ranker.train.mine import MiningConfig, check_tables_folder, mine_to_folder
from ranker.train.presets import PRESETS, Preset

METRICS = ("nDCG@10", "MRR@10", "R@1", "R@10", "R@100")


def mine_groups(index: Index, data: Path, preset: Preset, out: Path, mining: MiningConfig | None = None,
                denoise: Path | None = None) -> dict:
    """Mine negatives for the preset's training queries (train split, titles and subtitles)."""
    check_tables_folder(out)
    config = mining or preset.mining
    queries = read_queries(data).records
    about, report = mine_to_folder(index, queries, read_qrels(data / "qrels" / "train.tsv"), config, out,
                                   preset.train_queries, denoise)
    print("      " + "\n      ".join(report.lines(config.num_negatives)))
    return about


def train(index_path: Path, data: Path, preset: Preset, groups: Path, out: Path, quiet: bool = False) -> dict:
    """Fine-tune the preset's cross-encoder on ``groups``, evaluated on the dev split."""
    from ranker.train.reranker import train_reranker

    return train_reranker(groups, index_path, out, preset.reranker, preset.train,
                          dev=(data, data / "qrels" / "dev.tsv"), show_progress=not quiet)


def tune_embedder(index: Index, data: Path, preset: Preset, out: Path, quiet: bool = False) -> tuple[Path, list[str]]:
    """Mine from ``index``, fine-tune the preset's embedder, rebuild the index with it in
    ``out/index``; returns that index's folder and what an earlier run into ``out`` had
    left and was used as it was (its mined groups, its model, its index), each said aloud,
    because a figure from a reused model is not what the command alone gives."""
    from ranker.data.readers import read_articles
    from ranker.index.folder import build_index
    from ranker.retrieve.bm25 import BM25Config
    from ranker.retrieve.dense import DenseConfig
    from ranker.retrieve.embed import Embedder, EmbedderConfig, same_model
    from ranker.train.embedder import train_embedder

    recipe = preset.embedder
    model, rebuilt = out / "embedder" / "model", out / "index"
    reused = []

    def reuse(part: Path) -> None:
        reused.append(part.relative_to(out).as_posix())
        print(f"      reusing {part}, left by an earlier run into {out} (give a new --out to train it again)")

    if (model / "ranker.json").is_file():
        reuse(model)
    else:
        if (out / "mined-embedder" / "mining.json").is_file():
            reuse(out / "mined-embedder")
        else:
            mine_groups(index, data, preset, out / "mined-embedder")
        # a run killed mid-way continues from its checkpoint
        resume = (out / "embedder" / "checkpoint").is_dir()
        metrics = train_embedder(out / "mined-embedder", index.path, out / "embedder", recipe.config, recipe.train,
                                 dev=(data, data / "qrels" / "dev.tsv"), resume=resume, show_progress=not quiet)
        best = metrics["best"] or {}
        print(f"      dense retrieval on dev: MRR@10 {best.get('MRR@10', float('nan')):.4f} "
              f"({metrics['train']['steps']} steps, {metrics['train']['seconds']:.0f}s)")
    embedder = EmbedderConfig(model=str(model))
    manifest = rebuilt / "manifest.json"
    # Reuse the rebuilt index only if it holds this very model's vectors.
    current = manifest.is_file() and same_model(json.loads(manifest.read_text())["components"]["dense"]["fingerprint"],
                                                Embedder(embedder).fingerprint())
    if current:
        reuse(rebuilt)
    else:
        print(f"      rebuilding the index with the fine-tuned embedder -> {rebuilt}")
        # BM25 as the given index has it, so that only the embedder differs
        bm25 = (BM25Config(**index.manifest["components"]["bm25"]) if "bm25" in index.manifest["components"]
                else BM25Config())
        # the benchmark's protocol: the article bodies only (its queries are the titles)
        build_index(read_articles(data).records, rebuilt, bm25=bm25, dense=DenseConfig(embedder=embedder),
                    source=str(data), fields=("text",))
    return rebuilt, reused


class FirstStage(NamedTuple):
    """One retriever's top k for a query set: the results, the run, and how long the search took."""

    results: Results
    run: dict
    seconds: float


def first_stage(index: Index, queries: list[Query], runs: Path, name: str, k: int = 100) -> dict[str, FirstStage]:
    """Every retriever's top ``k`` for ``queries``, runs (with their timing side files) written to ``runs``."""
    doc_ids = index.doc_ids()
    out = {}
    for system in RETRIEVERS:
        begun = time.perf_counter()
        results = index.retriever(system).search([q.text for q in queries], k)
        seconds = time.perf_counter() - begun
        run = to_run(results, [q.qid for q in queries], doc_ids)
        write_run(runs / f"{system}.{name}.trec", run, tag=system,
                  meta={"seconds": {"retrieve": round(seconds, 3)}, "index": str(index.path)})
        out[system] = FirstStage(results, run, seconds)
    return out


def reranked_runs(index: Index, model: Path, queries: list[Query], first: FirstStage, runs: Path, name: str,
                  label: str = "reranked", quiet: bool = False) -> tuple[dict[str, dict], float]:
    """The cross-encoder alone and mixed with the first stage (at its dev-tuned weight),
    from one scoring pass; returns the runs by system name and the pairs/s."""
    from ranker.rerank.reranker import RerankConfig, Reranker, rerank_scores, with_tail

    reranker = Reranker(RerankConfig(model=str(model)))
    depth = reranker.config.depth
    top = Results(first.results.rows[:, :depth], first.results.scores[:, :depth])
    begun = time.perf_counter()
    cross = reranker.score(*reranker.pairs(top, [q.text for q in queries], index.docs), show_progress=not quiet)
    meta = {"seconds": {"retrieve": round(first.seconds, 3), "rerank": round(time.perf_counter() - begun, 3)},
            "index": str(index.path), "model": str(model), "depth": depth}
    doc_ids, qids = index.doc_ids(), [q.qid for q in queries]
    out = {}
    weight = float(reranker.config.weight)
    for system, w in ((f"{label} (cross-encoder alone)", 1.0), (f"{label} (mixed, w={weight:g})", weight)):
        run = to_run(with_tail(rerank_scores(top, cross, w).results, first.results), qids, doc_ids)
        write_run(runs / f"{system.split()[0]}{'' if w == 1.0 else '-mixed'}.{name}.trec", run, tag=label, meta=meta)
        out[system] = run
    return out, reranker.pairs_per_second


def table_rows(runs: dict[str, dict], qrels: dict, name: str) -> list[list[str]]:
    """One table row per system: its metrics on ``qrels``."""
    rows = []
    for system, run in runs.items():
        scores = evaluate(run, qrels, METRICS)
        rows.append([system, name, str(len(qrels)), *(f"{scores[m]:.3f}" for m in METRICS)])
    return rows


def print_table(rows: list[list[str]]) -> None:
    print(format_table(["system", "queries", "n", *METRICS], rows))


#: The command-line flags that override a preset's settings.
OVERRIDES = ("learning_rate", "max_length", "epochs", "train_queries", "passage_words", "negatives", "precision")


def preset_from_args(args: argparse.Namespace) -> Preset:
    """The chosen preset with the command line's overrides applied, and named in its description.

    Example:
        >>> args = argparse.Namespace(preset="full", learning_rate=None, max_length=256, epochs=None,
        ...     train_queries=None, passage_words=None, negatives=None, precision=None)
        >>> preset_from_args(args).reranker.max_length, preset_from_args(args).description[-28:]
        (256, '; max_length overridden: 256')
    """
    preset = PRESETS[args.preset]
    # One dict both applies the overrides and names them, so the description says what was run.
    given = {name: getattr(args, name) for name in OVERRIDES if getattr(args, name)}
    named = "".join(f"; {name} overridden: {value}" for name, value in given.items())

    def pick(section, name, **fields):  # the preset's section, then the flags given (ranker.core.config's one order)
        return resolve_config(type(section), name, preset=section,
                              flags={field: given.get(arg) for field, arg in fields.items()})

    chosen = replace(
        preset,
        description=preset.description + named,
        train_queries=given.get("train_queries", preset.train_queries),
        mining=pick(preset.mining, "mine", num_negatives="negatives"),
        reranker=pick(preset.reranker, "reranker", max_length="max_length", passage_words="passage_words"),
        train=pick(preset.train, "train", learning_rate="learning_rate", epochs="epochs", precision="precision"),
    )
    seed = getattr(args, "seed", None)
    if seed is None:
        return chosen
    # one seed for every stage that draws: the queries sampled, the embedder's and the
    # cross-encoder's batch order, dropout, new head weights and dev samples
    embedder = chosen.embedder and replace(chosen.embedder, train=replace(chosen.embedder.train, seed=seed))
    return replace(chosen, description=chosen.description + f"; seed {seed}", mining=replace(chosen.mining, seed=seed),
                   train=replace(chosen.train, seed=seed), embedder=embedder)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", choices=sorted(PRESETS), default="full")
    parser.add_argument("--data", type=Path, default=Path("data/news"))
    parser.add_argument("--index", type=Path, default=Path("indexes/news"))
    parser.add_argument("--out", type=Path, help="default: runs/reranker-<preset>")
    parser.add_argument("--learning-rate", type=float, help="override the preset's")
    parser.add_argument("--max-length", type=count(1), help="override the preset's")
    parser.add_argument("--epochs", type=count(1), help="override the preset's")
    parser.add_argument("--train-queries", type=count(1), help="override the preset's")
    parser.add_argument("--passage-words", type=count(1), help="override the preset's")
    parser.add_argument("--negatives", type=count(1), help="negatives per training query: override the preset's")
    parser.add_argument("--precision", choices=["fp32", "bf16", "auto"],
                        help="training precision: override the preset's")
    parser.add_argument("--seed", type=count(0), help="one seed for every stage that draws (default: the preset's, 13)")
    parser.add_argument("--no-embedder", action="store_true",
                        help="keep --index's embedder (skip the preset's fine-tuning)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    return run_reporting_errors(lambda: run(args))


#: What this pipeline writes in its output folder, and so may write over.
RUN_FOLDER = folder_of("a reranking pipeline folder", r"embedder|index|mined|model|runs|summary\.json")


def run(args: argparse.Namespace) -> int:
    """The pipeline on parsed arguments (see the module)."""
    preset = preset_from_args(args)
    out = check_output(args.out or Path(f"runs/reranker-{preset.name}"), RUN_FOLDER,
                       [("--data", args.data), ("--index", args.index)])
    started = time.perf_counter()
    index_path, reused = args.index, []
    if preset.embedder is not None and not args.no_embedder:
        print("[0/3] fine-tuning the dense retriever's embedder, then rebuilding the index with it")
        index_path, reused = tune_embedder(Index.open(args.index), args.data, preset, out, args.quiet)
    index = Index.open(index_path)
    print(f"[1/3] mining from {index_path} ({preset.description})")
    mine_groups(index, args.data, preset, out / "mined")
    print("[2/3] fine-tuning the cross-encoder")
    metrics = train(index_path, args.data, preset, out / "mined", out / "model", args.quiet)
    print("[3/3] evaluating on the test split")
    rows, speeds = [], {}
    for name in ("test-title", "test-subtitle"):
        queries, qrels = beir_split(args.data, name)
        firsts = first_stage(index, queries, out / "runs", name)
        runs = {system: first.run for system, first in firsts.items()}
        reranked, speeds[name] = reranked_runs(index, out / "model" / "model", queries, firsts["hybrid"], out / "runs",
                                               name, quiet=args.quiet)
        rows += table_rows({**runs, **reranked}, qrels, name)
    print_table(rows)
    import torch  # loaded by training already: only its thread count is read

    summary = {
        "preset": asdict(preset),
        "index": str(index_path),
        "train": metrics["train"],
        "dev_best": metrics["best"],
        "rerank_pairs_per_second": speeds,
        "table": [dict(zip(["system", "queries", "n", *METRICS], r, strict=True)) for r in rows],
        "seconds": round(time.perf_counter() - started, 1),
        # what a bit-for-bit repeat needs to match: sums split over another number of threads can round
        # differently, and an argmax (best checkpoint, mixing weight) turns that into another model
        "threads": torch.get_num_threads(),
        "reused": reused,
    }
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    print(f"\nsummary -> {out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
