"""``ranker serve``: search over HTTP, a JSON API and a search page."""

from __future__ import annotations

import argparse
from pathlib import Path

from ranker.cli.common import rerank_config, runtime, warn
from ranker.cli.options import add_reranker, add_runtime
from ranker.core.exits import error_line
from ranker.core.flags import count, number
from ranker.rerank import DEFAULT_DEPTH


def add_commands(commands) -> None:
    """Add ``serve``."""
    serve = commands.add_parser(
        "serve", help="serve search over HTTP: a JSON API and a search page",
        description="Serve an index over HTTP (FastAPI and uvicorn): a search page at /, a JSON API "
        "(GET/POST /search, GET /documents/ID, GET /facets, GET /health, GET /stats, GET /metrics) documented at "
        "/docs; by default "
        "at http://127.0.0.1:8000/. The index and models "
        "load once; concurrent queries are searched and reranked together in batches; an update or rebuild of the "
        "index folder is picked up without dropping a request; SIGTERM or Ctrl-C answers what is in flight, then "
        "exits.",
    )
    serve.add_argument("index", type=Path, help="an index folder")
    add_reranker(serve)
    add_runtime(serve, "encoding queries and reranking", precision=False)
    serve.add_argument("--host", default="127.0.0.1",
                       help="the address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0 for every "
                            "interface)")
    serve.add_argument("--port", type=count(0, 65535), default=8000,
                       help="the port (default: 8000; 0 picks a free one)")
    serve.add_argument("--batch-wait-ms", type=number(0, 1000), default=2.0,
                       help="how long a query waits for others to share its batch, in ms (default: 2)")
    serve.add_argument("--slice-ms", type=number(1, 60_000), default=40.0,
                       help="estimated milliseconds of one client's work the worker takes before turning to the "
                            "next client: a small request waits behind at most one such slice, or one step of a "
                            "search that is larger (default: 40)")
    serve.add_argument("--max-queued", type=count(1, 1_000_000), default=512,
                       help="the most searches waiting; a request that would pass it gets 429 (default: 512)")
    serve.add_argument("--deadline", type=number(0.1, 3600), default=120.0,
                       help="seconds a search may wait and run before it is dropped with a 503 (default: 120: the "
                            "largest request, reranked, beside three others like it)")
    serve.add_argument("--merge-every", type=number(0, 86400), default=10.0, metavar="SECONDS",
                       help="look at the index's segments this often and merge small ones in the background, at the "
                            "lowest CPU priority (default: 10; 0: never, for an index folder this process may not "
                            "write)")
    serve.add_argument("--show-paths", action="store_true",
                       help="let /health show the index's and the model's paths (default: their folders' names only)")
    serve.set_defaults(handler=serve_command)


def serve_command(args: argparse.Namespace) -> int:
    """``ranker serve``: :func:`ranker.serve.server.serve` until interrupted."""
    from ranker.serve.server import serve
    from ranker.serve.service import ServiceConfig

    rerank = rerank_config(args)
    config = ServiceConfig(index=args.index, reranker=str(rerank.model) if rerank else None,
                           depth=rerank.depth if rerank else DEFAULT_DEPTH, weight=rerank.weight if rerank else None,
                           rerank_precision=rerank.precision if rerank else None, batch_wait=args.batch_wait_ms / 1000,
                           show_paths=args.show_paths, slice_ms=args.slice_ms, max_queued=args.max_queued,
                           deadline=args.deadline, merge_every=args.merge_every, **runtime(args))
    failed = serve(config, args.host, args.port, say=warn)
    if failed is not None:  # the message names the file at fault and the fix
        error_line(failed)
        return 2
    return 0
