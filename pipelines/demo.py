"""``make demo``: the news benchmark end to end.

Builds the benchmark from its recipe, indexes it with BM25 and dense embeddings
(all-MiniLM-L6-v2, FAISS), runs the test split's title and subtitle queries (and,
for comparison with published figures, every title query) through BM25, dense
and hybrid retrieval and evaluates them; then mines hard negatives for the quick
preset's training queries, fine-tunes the BERT cross-encoder on them, reranks
hybrid's top 10 for a sample of the test titles, prints every system's metrics
on that sample and one reranked query, and writes the evaluation report
(``reports/demo/index.html``: intervals, paired tests, plots, failures, cost).

Run: ``python -m pipelines.demo [--data data/news] [--index indexes/news] [--retrain]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from pipelines.reranking import first_stage, mine_groups, print_table, reranked_runs, table_rows, train
from ranker.core.display import format_hits, format_table
from ranker.core.errors import InputError
from ranker.core.exits import run_reporting_errors
from ranker.core.outputs import INDEX, NEWS, REPORT, check_output, folder_of
from ranker.data.datasets.news import SPLITS, build_news_benchmark
from ranker.data.qrels import beir_split, read_qrels
from ranker.data.readers import read_articles, read_queries
from ranker.eval.metrics import evaluate
from ranker.eval.runs import write_run
from ranker.index.folder import RETRIEVERS, Index, build_index
from ranker.models.checkpoints import read_about
from ranker.rerank import DEFAULT_DEPTH
from ranker.rerank.reranker import RerankConfig, Reranker
from ranker.retrieve.dense import DenseConfig
from ranker.search.searcher import search_hits, search_run
from ranker.train.presets import PRESETS

#: A question this corpus (news of 2016-2017, nearly all from its last four months) can answer.
EXAMPLE_QUERY = "oil prices after the OPEC production cut"
#: The chapter's own example, which this corpus cannot answer: it predates the outbreak.
CHAPTER_QUERY = "oil industry during the virus outbreak"
#: Searched over titles and text, as a person would search their own news.
TITLE_QUERY = "Quotable"
#: Test title queries the demo reranks (all 760 take about 5 minutes more).
TEST_SAMPLE = 200


def write_demo_report(args: argparse.Namespace, name: str, qrels: dict, model: Path) -> Path:
    """The evaluation report of the reranked sample: every system against hybrid, the stage the reranker reranks."""
    from ranker.eval.report import write_report
    from ranker.eval.report.build import ReportConfig, build_report

    runs = {system: args.runs / f"{system}.{name}.trec" for system in RETRIEVERS}
    runs["reranked (alone)"] = args.runs / f"reranked.{name}.trec"
    runs["reranked (mixed)"] = args.runs / f"reranked-mixed.{name}.trec"
    heads = args.heads if any(args.heads.glob("*/metrics.json")) else None
    report = build_report(runs, qrels, ReportConfig(baseline="hybrid", focus="reranked (mixed)"), data=args.data,
                          heads=heads, index=args.index, model=model,
                          title=f"News search: {len(qrels)} test title queries, hybrid retrieval reranked by the "
                                "fine-tuned cross-encoder",
                          qrels_name=f"{name} of {args.data / 'qrels' / 'test-title.tsv'}")
    return write_report(args.report, report)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("data/news"))
    parser.add_argument("--cache", type=Path, default=Path("data/cache"))
    parser.add_argument("--index", type=Path, default=Path("indexes/news"))
    parser.add_argument("--runs", type=Path, default=Path("runs/demo"))
    parser.add_argument("--models", type=Path, default=Path("models/demo"), help="where the quick reranker is trained")
    parser.add_argument("--report", type=Path, default=Path("reports/demo"), help="where the evaluation report goes")
    parser.add_argument("--titles-index", type=Path, default=Path("indexes/news-titles"),
                        help="a BM25 index over titles and text, for the demo's title search")
    parser.add_argument("--heads", type=Path, default=Path("runs/heads"),
                        help="head metrics to include in the report, if python -m pipelines.heads wrote them there")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the data and the index even if present")
    parser.add_argument("--retrain", action="store_true", help="mine and fine-tune again even if a demo model exists")
    args = parser.parse_args(argv)
    return run_reporting_errors(lambda: run(args))


#: What the demo writes in its runs and models folders, and so may write over.
RUNS_FOLDER = folder_of("a demo runs folder", r".+\.trec(\.meta\.json)?")
MODELS_FOLDER = folder_of("a demo models folder", r"mined|model")


def usable(load) -> bool:
    """Whether ``load()`` opens an artifact this version can read (one written by an
    older ranker, or changed since, is made again rather than stopping the demo)."""
    try:
        load()
    except InputError:
        return False
    return True


def check_outputs(args: argparse.Namespace) -> bool:
    """Every output checked before any work (the demo's flags can point anywhere); whether the
    news benchmark is to be built."""
    building = args.rebuild or not (args.data / "corpus.jsonl").exists()
    if building:
        check_output(args.data, NEWS, [("--cache", args.cache)])
    inputs = [("--data", args.data), ("--cache", args.cache), ("--heads", args.heads)]
    check_output(args.index, INDEX, inputs)
    for folder, kind in ((args.runs, RUNS_FOLDER), (args.models, MODELS_FOLDER), (args.report, REPORT),
                         (args.titles_index, INDEX)):
        check_output(folder, kind, [*inputs, ("--index", args.index)])
    return building


def news_benchmark(args: argparse.Namespace, building: bool) -> None:
    """Step 1: the news benchmark from its recipe, unless it is there."""
    if building:
        print(f"[1/7] building the news benchmark -> {args.data}")
        summary = build_news_benchmark(args.data, args.cache)
        print(f"      {summary.articles} articles kept of {summary.rows}; dropped {dict(summary.dropped)}")
    else:
        print(f"[1/7] news benchmark already built in {args.data}")


def news_index(args: argparse.Namespace) -> None:
    """Step 2: the article bodies indexed with BM25 and dense embeddings, unless a usable index has both."""
    manifest_path = args.index / "manifest.json"
    complete = (manifest_path.exists() and usable(lambda: Index.open(args.index))
                and {"bm25", "dense"} <= set(json.loads(manifest_path.read_text())["components"]))
    if args.rebuild or not complete:
        print(f"[2/7] indexing the article bodies with BM25 and dense embeddings -> {args.index} (the benchmark's "
              "protocol: its queries are the titles; encoding takes a few minutes on a CPU)")
        manifest = build_index(read_articles(args.data).records, args.index, dense=DenseConfig(),
                               source=str(args.data), fields=("text",))
        print(f"      {manifest['doc_count']} documents in {manifest['build_seconds']:.1f}s "
              f"(dense: {manifest['components']['dense']['encode_and_build_seconds']:.1f}s)")
    else:
        print(f"[2/7] index already built in {args.index}")


def search_and_evaluate(args: argparse.Namespace) -> Index:
    """Step 3: every retriever on the test titles, the test subtitles and every title; their runs
    written, their metrics printed; the index, opened."""
    print("[3/7] searching and evaluating")
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
            found = search_run(retriever, chosen, doc_ids, k=100, show_progress=False)
            seconds = time.perf_counter() - begun
            write_run(args.runs / f"{system}.{name}.trec", found, tag=system)
            scores = evaluate(found, qrels)
            rows.append([system, name, len(chosen), *(f"{v:.3f}" for v in scores.values()),
                         f"{1000 * seconds / len(chosen):.2f}"])
    print()
    print(format_table(["system", "queries", "n", *scores, "ms/query"], sorted(rows, key=lambda r: (r[1], r[0]))))
    print(f"\nruns written to {args.runs}/")
    return index


def quick_reranker(args: argparse.Namespace, index: Index) -> Path:
    """Steps 4 and 5: hard negatives mined and the cross-encoder fine-tuned on them (the quick
    preset), unless a usable model is there; the model's folder."""
    preset = PRESETS["quick"]
    model = args.models / "model" / "model"
    if args.retrain or not model.exists() or not usable(lambda: read_about(model)):
        print(f"\n[4/7] mining hard negatives from hybrid retrieval ({preset.description})")
        mine_groups(index, args.data, preset, args.models / "mined")
        print("\n[5/7] fine-tuning the BERT cross-encoder on them (quick preset)")
        metrics = train(args.index, args.data, preset, args.models / "mined", args.models / "model")
        done = metrics["train"]
        print(f"      {done['examples']} pairs in {done['seconds']:.0f}s ({done['examples_per_second']:.1f} pairs/s)")
    else:
        print(f"\n[4/7] [5/7] quick reranker already trained in {model} (--retrain to train it again)")
    return model


def rerank_sample(args: argparse.Namespace, index: Index, model: Path) -> tuple[str, dict]:
    """Step 6: hybrid's top results (the default depth) reranked for a sample of the test titles,
    every system's metrics on it printed; the sample's run name and qrels."""
    print(f"\n[6/7] reranking hybrid's top {DEFAULT_DEPTH} for {TEST_SAMPLE} test title queries")
    queries, qrels = beir_split(args.data, "test-title", sample=TEST_SAMPLE)
    name = f"test-title-sample{TEST_SAMPLE}"
    firsts = first_stage(index, queries, args.runs, name)
    reranked, speed = reranked_runs(index, model, queries, firsts["hybrid"], args.runs, name)
    print(f"      {speed:.1f} pairs/s\n")
    print_table(table_rows({**{s: first.run for s, first in firsts.items()}, **reranked}, qrels, name))
    return name, qrels


def example_searches(args: argparse.Namespace, index: Index, model: Path) -> None:
    """One query reranked, and a headline searched over bodies alone and then over titles and text."""
    print(f'\nexample query, hybrid reranked by the cross-encoder: "{EXAMPLE_QUERY}"\n')
    reranker = Reranker(RerankConfig(model=str(model)))
    print(format_hits(search_hits(index, index.retriever("hybrid"), EXAMPLE_QUERY, k=5, reranker=reranker)))
    best = search_hits(index, index.retriever("hybrid"), CHAPTER_QUERY, k=1, reranker=reranker)[0]
    print(f'\nthe chapter\'s query, "{CHAPTER_QUERY}", has no answer here: the corpus is news of 2016 '
          f'and 2017, nearly all from December 2016 to March 2017, years before the outbreak '
          f'(its best match: "{best.title}")')
    print(f'\nthe benchmark indexes bodies alone, so a headline finds nothing: "{TITLE_QUERY}" over {args.index} '
          f"finds {len(search_hits(index, index.retriever('bm25'), TITLE_QUERY, k=5))} articles; over titles and text "
          f"(BM25, {args.titles_index}, what 'ranker index' builds by default):\n")
    titles = build_index(read_articles(args.data).records, args.titles_index, dense=None, source=str(args.data),
                         fields=("title", "text"), show_progress=False)
    opened = Index.open(args.titles_index)
    print(format_hits(search_hits(opened, opened.retriever("bm25"), TITLE_QUERY, k=3)))
    print(f"      ({titles['doc_count']} documents indexed in {titles['build_seconds']:.1f}s)")


def run(args: argparse.Namespace) -> int:
    """The demo on parsed arguments (see the module)."""
    started = time.perf_counter()
    building = check_outputs(args)
    news_benchmark(args, building)
    news_index(args)
    index = search_and_evaluate(args)
    model = quick_reranker(args, index)
    name, qrels = rerank_sample(args, index, model)
    example_searches(args, index, model)
    print(f"\n[7/7] writing the evaluation report -> {args.report}")
    page = write_demo_report(args, name, qrels, model)
    print(f"\ndemo finished in {time.perf_counter() - started:.1f}s")
    print(f"report: {page}")
    print("search it in a browser (a page at http://127.0.0.1:8000/, the JSON API at /docs; Ctrl-C stops it):")
    print(f"  .venv/bin/ranker serve {args.index} --reranker {model}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
