"""``ranker search``, ``query`` and ``run``: one query shown to a person, a stream of
queries answered as they arrive, many queries to a TREC run file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ranker.cli.common import (
    hybrid_config,
    inputs,
    judged_queries,
    open_reranker,
    ray_config,
    rejects_path,
    report_rejects,
    rerank_config,
    runtime,
    say,
    warn,
)
from ranker.cli.options import add_engine, add_fields, add_reranker, add_retriever
from ranker.core.display import json_text, visible
from ranker.core.errors import InputError
from ranker.core.flags import count, word

NO_MATCH = "no document matches this query (its words are stopwords or not in the index)"


def add_commands(commands) -> None:
    """Add ``search``, ``query`` and ``run``."""
    search = commands.add_parser("search", help="search an index and print the top results")
    search.add_argument("index", type=Path, help="an index folder")
    add_retriever(search)
    search.add_argument("query", help="the query text")
    search.add_argument("-k", type=count(1), default=10, help="how many results (default: 10)")
    search.add_argument("--precision", choices=["auto", "fp32", "bf16"],
                        help="the query encoder's number format: auto (default): bf16 where the CPU has it, else fp32")
    search.add_argument("--json", action="store_true", help="print JSON instead of a table")
    search.set_defaults(handler=search_command)

    query = commands.add_parser(
        "query", help="search, rerank with a fine-tuned cross-encoder, and print a ranked table",
        description="Search, rerank and print a ranked table (or JSON). Loading the index and the model takes "
        "seconds and a query a fraction of one, so many queries should share one process: --queries FILE "
        "answers one query per line, and --queries - answers lines from standard input as they arrive "
        "(a long-lived process for another program to talk to).",
    )
    query.add_argument("index", type=Path, help="an index folder")
    query.add_argument("query", nargs="?", help="the query text (or use --queries)")
    query.add_argument("--queries", help="a UTF-8 text file with one query per line, or - for standard input; "
                       "with --json each answer is one JSON line")
    add_retriever(query)
    add_reranker(query)
    query.add_argument("-k", type=count(1), default=10, help="how many results (default: 10)")
    query.add_argument("--json", action="store_true", help="print JSON instead of a table")
    query.set_defaults(handler=query_command)

    run = commands.add_parser("run", help="search many queries and write a TREC run file")
    run.add_argument("index", type=Path, help="an index folder")
    add_retriever(run)
    run.add_argument("--queries", type=Path, required=True, help="a BEIR folder or a .jsonl/.tsv/.csv/.parquet file")
    run.add_argument("--split", help="with a BEIR folder: only the queries judged in qrels/SPLIT.tsv (e.g. test-title)")
    run.add_argument("--qrels", type=Path, help="only the queries judged in this qrels file")
    run.add_argument("--out", type=Path, required=True, help="the run file to write")
    run.add_argument("-k", type=count(1), default=100, help="results per query (default: 100)")
    run.add_argument("--tag", type=word, help="the run tag written in the last column (default: the retriever's name)")
    add_reranker(run)
    add_engine(run, "scoring the pairs with --reranker")
    add_fields(run, title=False)
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(handler=run_command)


def _searcher(args: argparse.Namespace, hybrid):
    from ranker.search.searcher import Searcher

    return Searcher(args.index, args.retriever, hybrid=hybrid, model=args.model, **runtime(args))


def search_command(args: argparse.Namespace) -> int:
    """``ranker search``: :meth:`ranker.search.searcher.Searcher.search`."""
    from ranker.core.display import format_hits

    searcher = _searcher(args, hybrid_config(args))
    hits = searcher.search(args.query, args.k)
    if args.json:
        out = {"query": args.query, "retriever": searcher.name, "hits": [h.to_dict() for h in hits]}
        print(json_text(out, indent=2))
        return 0
    say(f"retriever: {searcher.name}")
    if not hits:
        say(NO_MATCH)
        return 0
    print(format_hits(hits))
    return 0


def query_command(args: argparse.Namespace) -> int:
    """``ranker query``: each query searched and reranked by one long-lived
    :class:`~ranker.search.searcher.Searcher`, which follows the index folder through updates."""
    from ranker.core.display import format_hits
    from ranker.data.readers import query_lines

    if (args.query is None) == (args.queries is None):
        raise InputError("command line", "query", "give one query text or --queries FILE (- for standard input), "
                         "not both")
    hybrid, rerank = hybrid_config(args), rerank_config(args)
    texts = [args.query]
    if args.queries == "-":
        texts = query_lines("-")
    elif args.queries is not None:
        # a file is read whole before the model loads: a bad line stops the job before any answer
        texts = list(query_lines(args.queries))
    searcher = _searcher(args, hybrid)
    searcher.reranker = open_reranker(args, rerank)
    setting = {"retriever": searcher.name}
    if searcher.reranker is not None:
        config = searcher.reranker.config
        setting.update(reranker=str(args.reranker), depth=config.depth, weight=config.weight)
    for n, text in enumerate(texts):
        # a long-lived `--queries -` answers every line exactly once, a bad one with an error, and keeps serving
        if isinstance(text, InputError):
            if args.json:
                print(json.dumps({"error": text.problem, "line": int(text.where.split()[-1])}))
            else:
                print(("\n" if n else "") + visible(f"{text.where}: error: {text.problem}"))
            sys.stdout.flush()
            continue
        if searcher.refresh():  # rebuilt or updated since: answer from the new version from now on
            setting["retriever"] = searcher.name
        hits = searcher.search(text, args.k)
        if args.json:
            # one query keeps its readable indented form; a stream is JSON Lines
            indent = 2 if args.queries is None else None
            print(json_text({"query": text, **setting, "hits": [h.to_dict() for h in hits]}, indent=indent))
        else:
            if args.queries is not None:
                print(("\n" if n else "") + visible(f"query: {text}"))
            say("  ".join(f"{k}: {v}" for k, v in setting.items()))
            print(format_hits(hits) if hits else NO_MATCH)
        sys.stdout.flush()  # a program talking to `--queries -` waits for each answer
    return 0


def run_command(args: argparse.Namespace) -> int:
    """``ranker run``: :meth:`ranker.search.searcher.Searcher.run`, written as a TREC run with its timing file."""
    from ranker.core.outputs import RUN, RUN_META, check_output
    from ranker.eval.runs import meta_path, write_run

    read = inputs(args)
    out = check_output(args.out, RUN, read)
    check_output(meta_path(out), RUN_META, read)
    rejects = rejects_path(args, out, read)
    hybrid, rerank = hybrid_config(args), rerank_config(args)
    found = judged_queries(args)
    searcher = _searcher(args, hybrid)
    if args.reranker is None:
        ray_config(args, has_work=False)  # says so if --engine ray was asked for
    searcher.reranker = open_reranker(args, rerank)
    run, meta = searcher.run(found.queries, args.k, show_progress=not args.quiet)
    name = searcher.name if searcher.reranker is None else f"{searcher.name}+reranker"
    if searcher.reranker is not None:
        reranker = searcher.reranker
        warn(f"reranked the top {reranker.config.depth} at {reranker.pairs_per_second:.1f} pairs/s "
             f"(cross-encoder weight {reranker.config.weight})")
    write_run(out, run, tag=args.tag or name, meta=meta)
    report_rejects(found.reading, rejects)  # after the run: a failed job leaves no side file
    say(f"wrote {sum(len(d) for d in run.values())} results for {len(run)} queries -> {args.out}")
    return 0
