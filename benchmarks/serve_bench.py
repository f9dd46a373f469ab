"""Load test of ``ranker serve``: 1, 4 and 16 clients on loopback for a fixed time each.

The service runs as users run it (``ranker serve INDEX --reranker MODEL --port 0``,
its own process, default runtime); each client is a thread here that sends real
news test titles one after another (``GET /search?q=…&k=10``), each client
starting at its own place in the list so that no two ask the same query at
once. Every request counts: its latency, and an error for anything but a 200.
With and without the reranker (``rerank=false`` on the same service). After each
run the service's ``/stats`` say how large its batches were and where its time
went (first stage, reranking with passage selection, snippets).

Run: ``python -m benchmarks.run --only serve`` (after ``make demo``).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np


def _get(url: str, client: str | None = None) -> tuple[int, bytes]:
    """GET ``url``; ``client`` names the client (``X-Client-ID``): each request opens a new
    connection, and the service would otherwise see every request as a new client."""
    request = urllib.request.Request(url, headers={"X-Client-ID": client} if client else {})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()
    except OSError:
        return 0, b""


def start(index: Path, model: Path | None, *flags: str) -> tuple[subprocess.Popen, str, float]:
    """``ranker serve`` on a free port (with ``flags``): the process, its URL, and seconds to ready."""
    args = [sys.executable, "-m", "ranker", "serve", str(index), "--port", "0", *flags]
    if model is not None:
        args += ["--reranker", str(model)]
    started = time.perf_counter()
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seen = []
    for line in process.stderr:
        seen.append(line)
        found = re.search(r"ready in [\d.]+ s: (http://[^ ]+/)", line)
        if found:
            # keep reading its log so that it never blocks on a full pipe
            threading.Thread(target=lambda: [None for _ in process.stderr], daemon=True).start()
            return process, found.group(1), time.perf_counter() - started
    raise RuntimeError("ranker serve did not start: " + "".join(seen)[-2000:])


def load(url: str, queries: list[str], clients: int, seconds: float, rerank: bool) -> dict[str, Any]:
    """``clients`` threads asking ``queries`` for ``seconds``; rate, latency percentiles, errors."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def client(number: int) -> None:
        position = number * len(queries) // clients
        while time.perf_counter() < stop_at:
            query = queries[position % len(queries)]
            position += 1
            began = time.perf_counter()
            status, _ = _get(f"{url}search?q={urllib.parse.quote(query)}&k=10&rerank={str(rerank).lower()}",
                             client=f"load-{number}")
            took = time.perf_counter() - began
            with lock:
                latencies.append(took)
                errors[0] += status != 200

    before = json.loads(_get(url + "stats")[1])
    began = time.perf_counter()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    after = json.loads(_get(url + "stats")[1])
    ms = 1000 * np.array(latencies)
    stages = {k: after["seconds"][k] - before["seconds"][k] for k in after["seconds"]}
    batches = after["batches"] - before["batches"]
    return {"clients": clients, "rerank": rerank, "seconds": elapsed, "requests": len(latencies), "errors": errors[0],
            "requests_per_second": len(latencies) / elapsed, "p50_ms": float(np.percentile(ms, 50)),
            "p95_ms": float(np.percentile(ms, 95)), "p99_ms": float(np.percentile(ms, 99)),
            "mean_batch": (after["queries"] - before["queries"]) / max(1, batches),
            "stage_ms_per_query": {k: 1000 * v / max(1, len(latencies)) for k, v in stages.items()}}


def measure(index: Path, model: Path, queries: list[str], seconds: float = 20.0,
            clients: tuple[int, ...] = (1, 4, 16)) -> dict[str, Any]:
    """Every (reranked or not) × clients cell against one service; its start-up time too."""
    process, url, ready = start(index, model)
    try:
        for query in queries[:5]:  # warm: the first queries of a process pay for lazy set-up
            _get(f"{url}search?q={urllib.parse.quote(query)}")
        rows = [load(url, queries, n, seconds, rerank) for rerank in (True, False) for n in clients]
    finally:
        process.terminate()
        process.wait(60)
    from ranker.rerank import DEFAULT_DEPTH  # what the service reranks: it is started with its defaults

    return {"index": str(index), "reranker": str(model), "depth": DEFAULT_DEPTH, "seconds_per_cell": seconds,
            "start_seconds": ready, "rows": rows}
