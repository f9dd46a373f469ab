"""``ranker index``, ``add``, ``delete``, ``merge`` and ``verify``: index folders built, updated, merged, checked."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ranker.cli.common import fields, inputs, on_invalid, rejects_path, report_rejects, runtime, say
from ranker.cli.options import add_engine, add_fields, add_runtime
from ranker.core.errors import InputError
from ranker.core.flags import count, number


def add_commands(commands) -> None:
    """Add ``index``, ``add``, ``delete``, ``merge`` and ``verify``."""
    _add_index(commands)
    add = commands.add_parser(
        "add", help="add articles to an index without rebuilding it (only the new ones are encoded)",
        description="Add the articles of FILE to INDEX: only they are encoded, and they are written as a new "
        "segment of the index (their documents, BM25 postings and vectors) committed by renaming one small file, "
        "so a reader sees the old index or the new one and nothing already indexed is written again. Searches "
        "score BM25 with the statistics of every segment, as a fresh build would. An id the index already holds "
        "is an error unless --replace. 'ranker merge' folds segments together.",
    )
    add.add_argument("index", type=Path, help="an index folder")
    add.add_argument("corpus", type=Path, metavar="FILE", help="a BEIR folder or a .jsonl/.csv/.tsv/.parquet file")
    add.add_argument("--replace", action="store_true", help="replace the articles whose ids the index already holds")
    add_fields(add)
    add_runtime(add, "encoding the new articles")
    add.add_argument("--json", action="store_true", help="print what was done as JSON")
    add.add_argument("--quiet", action="store_true", help="no progress bars")
    add.set_defaults(handler=update_command)
    delete = commands.add_parser(
        "delete", help="delete articles from an index by id, without rebuilding it",
        description="Delete the articles with these ids from INDEX: deletion marks are committed at once (no "
        "search finds them); their text stays on disk until 'ranker merge --expunge-deletes'. An id the index does "
        "not hold is an error.",
    )
    delete.add_argument("index", type=Path, help="an index folder")
    delete.add_argument("ids", nargs="*", metavar="ID", help="article ids")
    delete.add_argument("--ids", dest="ids_file", type=Path, help="a UTF-8 file of ids, one per line")
    delete.add_argument("--json", action="store_true", help="print what was done as JSON")
    delete.add_argument("--quiet", action="store_true", help="no progress bars")
    delete.set_defaults(handler=update_command, corpus=None, replace=False)
    merge = commands.add_parser(
        "merge", help="merge an index's segments (and drop deleted articles from them)",
        description="Each 'ranker add' writes a small segment; searches over many cost a little more. Merge "
        "neighbouring segments, smallest first, until at most --max-segments remain; the articles deleted from "
        "the merged segments are dropped. Merging into one segment writes the whole index again from the vectors "
        "it holds (nothing is encoded), and equals a fresh build. Readers keep answering from the segments they "
        "opened.",
    )
    merge.add_argument("index", type=Path, help="an index folder")
    merge.add_argument("--max-segments", type=count(1), default=None, metavar="N",
                       help="merge until at most N segments remain (default: 1, the whole index)")
    merge.add_argument("--tiered", action="store_true",
                       help="merge only what the tiered policy plans (ten neighbouring segments of one size class; "
                       "what 'ranker serve' does in the background), never the build's own articles")
    merge.add_argument("--expunge-deletes", action="store_true",
                       help="also rewrite every segment that holds deleted articles, so their text leaves the disk")
    merge.add_argument("--json", action="store_true", help="print what was done as JSON")
    merge.add_argument("--quiet", action="store_true", help="no progress bars")
    merge.set_defaults(handler=merge_command)
    verify = commands.add_parser(
        "verify", help="check index, model and mined-table folders against the sha256s they list",
        description="Every index folder (manifest.json), trained model (ranker.json) and mined-table folder "
        "(mining.json) lists the sha256 of its "
        "other files; loading checks them, and this command checks whole folders on demand: missing, changed or "
        "truncated files, and files the list does not name. Exit status 2 if anything is wrong.",
    )
    verify.add_argument("folders", type=Path, nargs="+", metavar="FOLDER", help="index, model or mined-table folders")
    verify.add_argument("--json", action="store_true", help="print JSON")
    verify.set_defaults(handler=verify_command)


def _add_index(commands) -> None:
    index = commands.add_parser(
        "index", help="index a corpus (BEIR folder, JSONL, CSV or Parquet) with BM25 and dense embeddings",
        description="Index a corpus with BM25 and dense embeddings. BM25 and the document store read the corpus "
                    "as it streams (a dense build also keeps its texts, to encode them): a million articles build "
                    "with BM25 in about 3.5 minutes at 1.5 GiB on 2 cores, and the index opens in under half a "
                    "second (docs/scale.md).",
    )
    index.add_argument("corpus", type=Path, help="a BEIR folder or a .jsonl/.csv/.tsv/.parquet file")
    index.add_argument("--out", type=Path, required=True, help="the index folder to write (replaced only on success)")
    add_fields(index)
    index.add_argument("--config", type=Path, help="a TOML file with [bm25] and [dense] tables; flags override it")
    index.add_argument("--fields", help="what is searched: title, text or both, comma-separated (default: title,text "
                       "when the corpus has titles, else text; BM25, the embedder and the reranker all read them)")
    index.add_argument("--title-boost", type=count(1, 10), help="BM25: how many times a title is counted, 1-10 "
                       "(default: 2, chosen on the hand-written queries: docs/realistic.md)")
    index.add_argument(
        "--retrievers", default="bm25,dense",
        help="which kinds to build, comma-separated: bm25, dense (default: both)",
    )
    index.add_argument("--model", help="dense: a local SentenceTransformer folder or hub name (default: "
                       "all-MiniLM-L6-v2, packaged)")
    index.add_argument("--max-length", type=count(1), help="dense: tokens kept of each document (default: 256)")
    index.add_argument("--batch-size", type=count(1), help="dense: texts per encoding batch (default: 32)")
    index.add_argument("--dense-index", dest="index_type", choices=["auto", "flat", "hnsw", "ivfpq"],
                       help="FAISS index type (default: auto: flat under 100k vectors, HNSW32 up to 5M at 384 "
                            "dimensions, IVF-PQ beyond)")
    index.add_argument("--shards", type=Path,
                       help="dense: where embeddings are kept while encoding, to resume an interrupted build")
    add_runtime(index, "encoding the articles (dense)")
    index.add_argument(
        "--bm25-variant", dest="variant", choices=["robertson", "lucene", "atire", "bm25l", "bm25+"],
        help="BM25 formula (default: lucene)",
    )
    index.add_argument("--k1", type=number(0), help="term-frequency saturation (default: 1.5)")
    index.add_argument("--b", type=number(0, 1), help="length normalisation (default: 0.75)")
    index.add_argument("--stopwords", choices=["en", "none"], help="stopword list (default: en)")
    index.add_argument("--stemmer", help="Snowball stemmer language, or none (default: english)")
    add_engine(index, "encoding the articles")
    index.add_argument("--quiet", action="store_true", help="no progress bars")
    index.set_defaults(handler=index_command)


def _index_settings(args: argparse.Namespace):
    """(BM25 settings or None, dense settings or None, the searched fields or None) from the flags and --config."""
    from ranker.core.config import resolve_config
    from ranker.retrieve.bm25 import BM25Config

    kinds = {k.strip() for k in args.retrievers.split(",") if k.strip()}
    if not kinds or kinds - {"bm25", "dense"}:
        raise InputError("command line", "--retrievers", f"expected bm25, dense or both, got '{args.retrievers}'")
    searched = None
    if args.fields is not None:
        from ranker.data.fields import parse_fields

        try:
            searched = parse_fields(args.fields)
        except ValueError as err:
            raise InputError("command line", "--fields", str(err)) from None
    flags = {name: getattr(args, name) for name in ("variant", "k1", "b", "stopwords", "stemmer", "title_boost")}
    bm25 = resolve_config(BM25Config, "bm25", path=args.config, flags=flags) if "bm25" in kinds else None
    dense = None
    if "dense" in kinds:
        from ranker.retrieve.dense import DenseConfig
        from ranker.retrieve.embed import EmbedderConfig

        # [dense.embedder] is a table of its own inside [dense]
        embedder = resolve_config(EmbedderConfig, "dense.embedder", path=args.config,
                                  flags={"model": args.model, "max_length": args.max_length,
                                         "batch_size": args.batch_size, "runtime": args.runtime,
                                         "precision": args.precision})
        dense = resolve_config(DenseConfig, "dense", path=args.config,
                               flags={"embedder": embedder, "index_type": args.index_type})
    return bm25, dense, searched


def index_command(args: argparse.Namespace) -> int:
    """``ranker index``: :func:`ranker.index.folder.build_index` over the corpus as it streams."""
    from ranker.cli.common import ray_config
    from ranker.core.outputs import INDEX, SHARDS, check_output
    from ranker.data.readers import stream_articles
    from ranker.index.folder import build_index

    read = inputs(args)
    out = check_output(args.out, INDEX, read)
    rejects = rejects_path(args, out, read)
    shards = check_output(args.shards, SHARDS, [*read, ("--out", out)]) if args.shards else None
    bm25, dense, searched = _index_settings(args)
    # read as it is indexed: a million articles never sit in memory at once
    reading = stream_articles(args.corpus, fields(args), on_invalid(args))
    manifest = build_index(reading, out, bm25, dense, source=str(args.corpus), show_progress=not args.quiet,
                           shards=shards, fields=searched, ray=ray_config(args, dense is not None))
    report_rejects(reading, rejects)  # after the index: a failed build leaves no side file
    built = " and ".join(manifest["components"])
    say(f"indexed {manifest['doc_count']} documents ({built}) over {' and '.join(manifest['fields'])} "
        f"in {manifest['build_seconds']:.1f}s -> {args.out}")
    return 0


def update_command(args: argparse.Namespace) -> int:
    """``ranker add`` and ``ranker delete``: :func:`ranker.index.update.update_index`."""
    from ranker.core.outputs import INDEX, check_output
    from ranker.index.folder import check_index_folder
    from ranker.index.update import update_index

    read = [("FILE", args.corpus)] if args.corpus is not None else []
    check_output(args.index, INDEX, read)
    rejects = rejects_path(args, args.index, read)
    check_index_folder(args.index)
    added, deleted, reading = [], [], None
    if args.corpus is not None:
        from ranker.data.readers import read_articles

        reading = read_articles(args.corpus, fields(args), on_invalid(args))
        added = reading.records
        if not added:
            raise InputError(args.corpus, None, "no articles to add")
    else:
        from ranker.data.readers import read_ids

        deleted = list(args.ids) + (read_ids(args.ids_file) if args.ids_file is not None else [])
        if not deleted:
            raise InputError("command line", "ID", "name the ids to delete, or --ids FILE")
    done = update_index(args.index, added, deleted, replace=args.replace, source=str(args.corpus or ""),
                        show_progress=not args.quiet, **runtime(args))
    if reading is not None:
        report_rejects(reading, rejects)  # after the update: a failed one leaves no side file
    if args.json:
        print(json.dumps({"index": str(args.index), **vars(done)}, indent=2))
    else:
        say(f"{args.index}: {done.added} added, {done.replaced} replaced, {done.deleted} deleted; {done.documents} "
            f"documents ({_timings(done.seconds)})")
    return 0


def _timings(seconds: dict[str, float]) -> str:
    """Stage times in words: ``encode 1.2s, commit 0.1s``."""
    return ", ".join(f"{stage} {value:.1f}s" for stage, value in seconds.items()) or "nothing to do"


def merge_command(args: argparse.Namespace) -> int:
    """``ranker merge``: :func:`ranker.index.update.merge_index`."""
    from ranker.core.outputs import INDEX, check_output
    from ranker.index.folder import check_index_folder
    from ranker.index.merge_policy import TieredPolicy
    from ranker.index.update import merge_index

    check_index_folder(args.index)
    check_output(args.index, INDEX)
    if args.tiered and args.max_segments is not None:
        raise InputError("command line", "--tiered", "give --tiered or --max-segments, not both")
    before = _segments(args.index)
    done = merge_index(args.index, args.max_segments or 1, args.expunge_deletes, show_progress=not args.quiet,
                       policy=TieredPolicy() if args.tiered else None)
    after = _segments(args.index)
    if args.json:
        print(json.dumps({"index": str(args.index), "documents": done.documents, "segments_before": before,
                          "segments": after, "seconds": done.seconds}, indent=2))
    else:
        say(f"{args.index}: {before} segment{'s' * (before != 1)} -> {after}; {done.documents} documents "
            f"({_timings(done.seconds)})")
    return 0


def _segments(index: Path) -> int:
    from ranker.index.segmented import store_of

    store = store_of(index)
    return len(store.current().segments) if store is not None else 1


def verify_command(args: argparse.Namespace) -> int:
    """``ranker verify``: :func:`ranker.core.integrity.verify_folders`; exit 2 if anything is wrong."""
    from ranker.core.integrity import verify_folders
    from ranker.index.segmented import SEGMENTS, segment_problems

    found = verify_folders(args.folders, (SEGMENTS, segment_problems))
    if args.json:
        print(json.dumps(found, indent=2))
    else:
        for f in found:
            say(f"{'ok' if f['ok'] else 'FAILED'}: {f['kind']} {f['folder']}")
            for problem in f["problems"]:
                say(f"  {problem}")
            for leftover in f["leftovers"]:
                say(f"  {leftover}: left by a killed writer; the next write to this folder removes it (or delete it)")
    return 0 if all(f["ok"] for f in found) else 2
