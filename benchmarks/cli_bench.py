"""The query CLI: ``ranker --help``, cold start to the first reranked result, and warm latency."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np


def _command_seconds(args: list[str], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "ranker", *args], check=True, capture_output=True)
        best = min(best, time.perf_counter() - started)
    return best


def help_seconds(repeat: int = 3) -> float:
    """Process start to ``ranker --help`` printed (best of ``repeat``)."""
    return _command_seconds(["--help"], repeat)


def cold_start(index: Path, model: Path, query: str, repeat: int = 3) -> dict[str, Any]:
    """Process start to the first reranked result of ``ranker query`` (loading the index and the
    models included; best of ``repeat``, after one run that makes any missing export), with the
    process's peak memory and whether it imported torch."""
    import json

    args = ["query", str(index), query, "--reranker", str(model), "--json"]
    _command_seconds(args, 1)  # exports are made once, on first use: not a cold start
    seconds = _command_seconds(args, repeat)
    # what the query process imported, and its peak memory (as a child of a fresh process, so that
    # no other child of this benchmark counts)
    probe = ("import json, resource, subprocess, sys\n"
             f"done = subprocess.run([sys.executable, '-X', 'importtime', '-m', 'ranker', *{args!r}], "
             "capture_output=True, text=True)\n"
             "rows = [line.split('|') for line in done.stderr.splitlines() if line.startswith('import time:')]\n"
             "names = {row[-1].strip() for row in rows}\n"
             "top = sum(int(row[1]) for row in rows if row[1].strip().isdigit() and not row[-1].startswith('  '))\n"
             "print(json.dumps({'torch': 'torch' in names, 'transformers': 'transformers' in names, "
             "'import_s': top / 1e6, 'rss_mib': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))\n")
    done = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True)
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    return {"seconds": seconds, "imports_torch": seen["torch"], "imports_transformers": seen["transformers"],
            "import_seconds": seen["import_s"], "peak_rss_mib": seen["rss_mib"]}


def warm_latency(index: Path, model: Path, queries: list[str], depth: int, precision: str = "fp32",
                 runtime: str = "torch") -> dict[str, Any]:
    """Per-query latency of retrieve (hybrid) then rerank (``depth`` articles), with everything loaded.

    The first query is run once before timing, so its one-off costs (thread
    pools, lazy imports) are not counted.
    """
    from ranker.index.folder import Index
    from ranker.rerank.reranker import RerankConfig, Reranker
    from ranker.search.searcher import search_hits

    opened = Index.open(index, runtime, "auto" if precision == "int8" else precision)
    retriever = opened.retriever("hybrid")
    reranker = Reranker(RerankConfig(model=str(model), depth=depth, precision=precision, runtime=runtime))
    search_hits(opened, retriever, queries[0], k=10, reranker=reranker)
    times = []
    for query in queries:
        started = time.perf_counter()
        search_hits(opened, retriever, query, k=10, reranker=reranker)
        times.append(time.perf_counter() - started)
    ms = 1000 * np.array(times)
    return {"depth": depth, "runtime": runtime, "precision": precision, "queries": len(queries),
            "p50_ms": float(np.percentile(ms, 50)), "p95_ms": float(np.percentile(ms, 95)), "mean_ms": float(ms.mean())}
