"""The ``ranker`` command line: one module per command group, each adding its
commands and handing each to one library function.

``data`` (benchmark recipes), ``index`` (index, add, delete, merge, verify), ``search``
(search, query, run), ``serve``, ``evaluate`` (evaluate, report), ``train`` (generate,
mine, train reranker and embedder) and ``heads`` (train, predict and eval the other
heads); ``options`` holds the flags several commands share and ``common`` what
turns them into the library's settings. Heavy modules are imported inside the
command functions, so ``ranker --help`` answers at once.
"""

from __future__ import annotations

import argparse
import sys

from ranker import __version__
from ranker.core.flags import OneLineParser

EXAMPLES = """\
examples: after `make demo`, which leaves data/news, indexes/news and models/demo
  ranker search indexes/news "Brexit Article 50" -k 5
  ranker query indexes/news "oil prices after the OPEC production cut" --reranker models/demo/model/model
  ranker run indexes/news --queries data/news --split test-title --retriever bm25 --out runs/tour/bm25.trec
  ranker evaluate runs/tour/bm25.trec data/news/qrels/test-title.tsv
  ranker report bm25=runs/demo/bm25.test-title.trec hybrid=runs/demo/hybrid.test-title.trec \\
      --qrels data/news/qrels/test-title.tsv --data data/news --out reports/tour
  ranker serve indexes/news --reranker models/demo/model/model   a search page at http://127.0.0.1:8000/
  ranker verify indexes/news models/demo/model/model   check every file against its sha256
  ranker index data/news --out indexes/tour --retrievers bm25
  ranker mine indexes/news --queries data/news --split train --out runs/tour/mined --limit 50
  ranker train reranker --groups runs/tour/mined --index indexes/news --dev data/news --out runs/tour/reranker \\
      --max-steps 20
  ranker data news --out data/news2    build the news benchmark again (BEIR layout)
The README has the tour; docs/heads.md the other heads (ranker train|predict|eval classify|pairs|tag|qa).
"""


def parser() -> argparse.ArgumentParser:
    """Every command's flags, checked before any command runs.

    Example:
        >>> parser().parse_args(["search", "indexes/news", "oil prices", "-k", "3"]).k
        3
    """
    from ranker.cli import data, evaluate, heads, index, search, serve, train

    top = OneLineParser(
        prog="ranker",
        description="Search ranking for news articles: index, search, rerank with a fine-tuned BERT\n"
        "cross-encoder and evaluate; and the other heads on the same BERT core (classify, pairs, tag, qa).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--version", action="version", version=f"ranker {__version__}")
    top.add_argument("--debug", action="store_true", help="show the Python traceback of an unexpected error")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    data.add_commands(commands)
    index.add_commands(commands)
    search.add_commands(commands)
    serve.add_commands(commands)
    evaluate.add_commands(commands)
    heads.add_commands(commands, train.add_commands(commands))
    return top


def main(argv: list[str] | None = None) -> int:
    """Run the CLI. No traceback reaches a user: bad input and operating-system
    errors print one line naming the path and exit 2; a closed standard output
    ends quietly, as Unix tools do; anything unexpected is one line (exit 1) with
    the traceback behind ``--debug``.

    Example:
        >>> main(["--version"])
        ranker 0.1.0
        0
    """
    try:
        args = parser().parse_args(argv)
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
