"""Does a merge at the lowest CPU priority leave ``ranker serve``'s searches alone?

``ranker serve`` runs its background merges as ``ranker merge --tiered`` in a child
process at ``nice 19`` (:mod:`ranker.serve.merging`). This measures what that buys on
this 2-core machine: a synthetic index (the segments benchmark's: BM25 + HNSW over
blended vectors) with twelve small segments is served (``--merge-every 0``: no
merges of its own), and one client asks the news test titles in a closed loop, BM25
and hybrid in turn (``--clients`` of them), for ``--seconds`` each: with nothing else running, then while
a whole ``ranker merge`` (the heaviest merge there is: BM25 and HNSW of every
article written again) runs at nice 19, then while one runs at normal priority.

Run: ``python -m experiments.issue37.merge_latency --documents 100000`` after
``make demo``. Prints one JSON line: each phase's p50 and p99 in ms and the number
of searches.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

import numpy as np

from benchmarks.dense_bench import blended_vectors
from benchmarks.run import test_titles
from benchmarks.serve_bench import _get, start
from benchmarks.synthetic import synthetic_corpus
from ranker.data.readers import read_articles
from ranker.data.records import Article
from ranker.index.folder import Index, write_index
from ranker.index.update import update_index
from ranker.retrieve.analysis import BM25Config
from ranker.retrieve.dense import DenseConfig, DenseRetriever


def closed_loop(url: str, titles: list[str], seconds: float, clients: int = 1) -> dict[str, float]:
    """``clients`` threads each asking the titles one after another (BM25, then hybrid, in turn)."""
    took: list[float] = []
    stop = time.perf_counter() + seconds

    def client(number: int) -> None:
        at = number * 37
        while time.perf_counter() < stop:
            retriever = ("bm25", "hybrid")[at % 2]
            query = urllib.parse.quote(titles[at % len(titles)])
            began = time.perf_counter()
            status, _ = _get(f"{url}search?q={query}&k=10&retriever={retriever}", client=f"probe-{number}")
            took.append(1000 * (time.perf_counter() - began))
            at += 1
            assert status == 200, status

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"p50_ms": float(np.percentile(took, 50)), "p99_ms": float(np.percentile(took, 99)), "searches": len(took)}


def during_merge(url: str, titles: list[str], seconds: float, folder: Path, niceness: int,
                 clients: int) -> dict[str, float]:
    """The closed loop while ``ranker merge`` runs at ``niceness``; the merge's own seconds too."""
    merge = subprocess.Popen([sys.executable, "-m", "ranker", "merge", str(folder), "--quiet"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.setpriority(os.PRIO_PROCESS, merge.pid, niceness)
    began = time.perf_counter()
    time.sleep(2)  # past the merge's imports, into its work
    row = closed_loop(url, titles, seconds, clients)
    merging = merge.poll() is None
    merge.wait()
    return {**row, "merge_s": time.perf_counter() - began, "merge_outlasted_the_loop": merging}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=1, help="client threads (2 or more keep both cores busy)")
    parser.add_argument("--index", type=Path, default=Path("indexes/news"))
    args = parser.parse_args()
    texts = [a.text for a in read_articles(Path("data/news")).records]
    titles = test_titles(Path("data/news"), 200)
    corpus = synthetic_corpus(texts, args.documents + 24)
    news = Index.open(args.index).dense()
    config = DenseConfig(embedder=news.config.embedder, index_type="hnsw")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "index"
        out = {"documents": args.documents, "seconds": args.seconds, "clients": args.clients}
        for phase in ("idle", "nice 19", "nice 0"):
            write_index(folder, corpus[:args.documents], ("text",), BM25Config(), DenseRetriever(config, news.embedder),
                        blended_vectors(news.vectors(args.index / "dense"), args.documents), {"source": "synthetic"},
                        False, {}, time.perf_counter())
            for at in range(args.documents, args.documents + 24, 2):  # twelve small segments
                update_index(folder, add=[Article(f"a{n}", "", corpus[n].text) for n in (at, at + 1)],
                             show_progress=False)
            process, url, _ = start(folder, None, "--merge-every", "0")
            threading.Event().wait(1)
            try:
                closed_loop(url, titles, 2)  # warm
                if phase == "idle":
                    out[phase] = closed_loop(url, titles, args.seconds, args.clients)
                else:
                    out[phase] = during_merge(url, titles, args.seconds, folder, int(phase.split()[1]), args.clients)
            finally:
                process.terminate()
                process.wait(60)
        print(json.dumps(out))


if __name__ == "__main__":
    main()
