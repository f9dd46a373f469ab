"""How every cost of a BM25 + document-store index grows with the corpus (issue 23).

For each size, a synthetic corpus (words drawn from the news articles' frequencies,
:func:`benchmarks.synthetic.synthetic_corpus`) is written as JSONL and indexed the
way ``ranker index`` does (``stream_articles`` into ``build_index``, BM25 only), in
a fresh process whose peak resident memory (``VmHWM``) is its own. The old path,
what ranker did before the streaming build (the whole corpus read into a list,
the document store written from it, bm25s's own ``BM25.index`` on its tokens), is
built the same way beside it, and both indexes answer the same queries: the
top 10 and scores must be identical.

A second fresh process opens the index and measures: time to open (manifest, the
files' sha256s vouched for by the build, BM25 memory-mapped) and, in a third, the
same with an empty cache (every file hashed); resident memory after opening;
BM25 queries/s for 200 news test titles, each run once to warm up and then timed,
ours and raw bm25s (loaded its default way, into memory) on the same files and
tokens, with the numpy and the numba backend; and the document store's lookup
latency. Disk size is the folder's bytes.

Each cost's growth is the slope of log(cost) against log(size) between the
smallest and largest size: about 0 is flat, about 1 linear.

Run: ``python -m benchmarks.run --only scale`` (sizes in ``benchmarks/run.py``).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

BUILD = """
import json, time
from ranker.data.readers import stream_articles
from ranker.index.folder import build_index
from ranker.retrieve.bm25 import BM25Config
began = time.perf_counter()
manifest = build_index(stream_articles({corpus!r}), {out!r}, bm25=BM25Config(), dense=None, show_progress=False)
print("RESULT", json.dumps({{**manifest["stage_seconds"], "total": time.perf_counter() - began}}))
"""

# What build_index did before the streaming build (commit 5cdc723): every article in a
# list, the document store written from it, bm25s's own index over bm25s's own tokens.
OLD_BUILD = """
import json, time, pathlib
import bm25s
from ranker.data.readers import read_articles
from ranker.index.docstore import write_docstore
from ranker.retrieve.bm25 import Analyzer, BM25Config
began = time.perf_counter()
articles = read_articles({corpus!r}).records
read = time.perf_counter() - began
out = pathlib.Path({out!r}); out.mkdir()
write_docstore(out / "docs.sqlite", articles)
stored = time.perf_counter() - began - read
config = BM25Config()
model = bm25s.BM25(k1=config.k1, b=config.b, delta=config.delta, method=config.variant, backend=config.backend)
model.index(Analyzer(config).token_ids([a.text for a in articles], show_progress=False), show_progress=False)
model.save(out / "bm25", show_progress=False)
print("RESULT", json.dumps({{"read": read, "docstore": stored, "bm25": time.perf_counter() - began - read - stored,
                            "total": time.perf_counter() - began}}))
"""

OPEN = """
import json, time
import numpy as np
began = time.perf_counter()
from ranker.index.folder import Index
index = Index.open({out!r})
bm25 = index.bm25()
opened = time.perf_counter() - began
rss = [int(line.split()[1]) / 1024 for line in open("/proc/self/status") if line.startswith("VmRSS:")][0]
queries = json.loads(open({queries!r}).read())
result = {{"open_seconds": opened, "rss_after_open_mib": rss}}
if {full}:
    import bm25s
    from dataclasses import replace
    from ranker.retrieve.bm25 import BM25Retriever

    def rate(search):
        search()  # warm: the memory-mapped columns paged in, numba compiled
        began = time.perf_counter(); search(); return len(queries) / (time.perf_counter() - began)

    def raw_search(raw):
        split = bm25.analyzer.tokens(queries)  # the same analysis ours does, timed as ours is
        keep = [q for q in split if any(t in raw.vocab_dict for t in q)]
        raw.retrieve(keep, k=10, show_progress=False, n_threads=0)

    for backend in ("numpy", "numba"):
        raw = bm25s.BM25.load({out!r} + "/bm25", allow_pickle=False, show_progress=False, backend=backend)
        ours = BM25Retriever(replace(bm25.config, backend=backend), bm25s.BM25.load(
            {out!r} + "/bm25", allow_pickle=False, show_progress=False, backend=backend, mmap=True))
        suffix = "" if backend == "numpy" else "_numba"
        result["bm25_qps" + suffix] = rate(lambda: ours.search(queries, 10))
        result["bm25s_qps" + suffix] = rate(lambda: raw_search(raw))
    top = bm25.search(queries, 10)
    result["top10"] = {{"rows": top.rows.tolist(), "scores": top.scores.tolist()}}
    rng = np.random.default_rng(0)
    rows = rng.integers(0, index.manifest["doc_count"], 1000).tolist()
    began = time.perf_counter()
    for row in rows:
        index.docs.get([row])
    result["lookup_ms"] = 1000 * (time.perf_counter() - began) / len(rows)
print("RESULT", json.dumps(result))
"""

OLD_SEARCH = """
import json
from ranker.retrieve.bm25 import BM25Config, BM25Retriever
import bm25s
queries = json.loads(open({queries!r}).read())
old = BM25Retriever(BM25Config(), bm25s.BM25.load({out!r} + "/bm25", allow_pickle=False, show_progress=False))
top = old.search(queries, 10)
print("RESULT", json.dumps({{"rows": top.rows.tolist(), "scores": top.scores.tolist()}}))
"""


def _run(code: str, env: dict[str, str] | None = None) -> tuple[dict[str, Any], float]:
    """``code`` in a fresh interpreter: the JSON it printed after RESULT, and its peak MiB."""
    probe = ("\nfor line in open('/proc/self/status'):\n"
             "    if line.startswith('VmHWM:'):\n        print('PEAK', line.split()[1])\n")
    done = subprocess.run([sys.executable, "-c", code + probe], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-2000:])
    lines = done.stdout.splitlines()
    result = json.loads([x for x in lines if x.startswith("RESULT ")][-1][len("RESULT "):])
    return result, int([x for x in lines if x.startswith("PEAK ")][-1].split()[1]) / 1024


def _size_on_disk(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def measure(data: Path, sizes: list[int], queries: list[str], old_path: bool = True) -> dict[str, Any]:
    """Every cost at every size, the old path's build beside it, and each cost's growth exponent."""
    from benchmarks.synthetic import synthetic_corpus
    from ranker.data.readers import read_articles

    texts = [a.text for a in read_articles(data).records]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        query_file = Path(tmp) / "queries.json"
        query_file.write_text(json.dumps(queries))
        for n in sizes:
            corpus, out, old = Path(tmp) / f"corpus-{n}.jsonl", Path(tmp) / f"index-{n}", Path(tmp) / f"old-{n}"
            with open(corpus, "w", encoding="utf-8") as handle:
                for article in synthetic_corpus(texts, n):
                    handle.write(json.dumps({"_id": article.doc_id, "title": "", "text": article.text}) + "\n")
            built, peak = _run(BUILD.format(corpus=str(corpus), out=str(out)))
            opened, open_peak = _run(OPEN.format(out=str(out), queries=str(query_file), full=True))
            with tempfile.TemporaryDirectory() as empty:  # no record of the build's hashes: every file hashed
                cold, _ = _run(OPEN.format(out=str(out), queries=str(query_file), full=False), {"RANKER_CACHE": empty})
            row = {"documents": n, "corpus_mib": corpus.stat().st_size / 2**20, "build_seconds": built,
                   "build_peak_rss_mib": peak, "disk_mib": _size_on_disk(out) / 2**20, **opened,
                   "open_peak_rss_mib": open_peak, "open_unvouched_seconds": cold["open_seconds"]}
            top = row.pop("top10")
            if old_path:
                old_built, old_peak = _run(OLD_BUILD.format(corpus=str(corpus), out=str(old)))
                old_top, _ = _run(OLD_SEARCH.format(out=str(old), queries=str(query_file)))
                row["old_path"] = {"build_seconds": old_built, "build_peak_rss_mib": old_peak,
                                   "disk_mib": _size_on_disk(old) / 2**20, "same_top10_and_scores": old_top == top}
                shutil.rmtree(old)
            rows.append(row)
            corpus.unlink()
            shutil.rmtree(out)
    return {"sizes": sizes, "rows": rows, "growth": growth(rows)}


#: the costs whose growth is stated: (name, how to read it from a row)
COSTS = {
    "build time": lambda r: r["build_seconds"]["total"],
    "build peak RSS": lambda r: r["build_peak_rss_mib"],
    "disk size": lambda r: r["disk_mib"],
    "time to open": lambda r: r["open_seconds"],
    "RSS after open": lambda r: r["rss_after_open_mib"],
    "BM25 query time": lambda r: 1 / r["bm25_qps"],
    "document lookup": lambda r: r["lookup_ms"],
}


def growth(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Each cost of :data:`COSTS`: its growth (:func:`growth_of`)."""
    if len(rows) < 2:
        return {}
    return {name: growth_of(rows, cost) for name, cost in COSTS.items()}


def growth_of(rows: list[dict[str, Any]], cost) -> dict[str, Any]:
    """``cost``'s log-log slope between the smallest and the largest size, and what it reads as.

    Example:
        >>> r = [{"documents": 10, "disk_mib": 1.0}, {"documents": 1000, "disk_mib": 100.0}]
        >>> growth_of(r, lambda x: x["disk_mib"])
        {'exponent': 1.0, 'reads': 'linear'}
    """
    first, last = rows[0], rows[-1]
    slope = math.log(cost(last) / cost(first)) / math.log(last["documents"] / first["documents"])
    reads = "flat" if slope < 0.2 else "sublinear" if slope < 0.8 else "linear" if slope < 1.2 else "faster than linear"
    return {"exponent": round(slope, 2), "reads": reads}


def plot(result: dict[str, Any], out: Path) -> None:
    """Each cost against the corpus size, log-log, relative to its value at the smallest size."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = result["rows"]
    sizes = [r["documents"] for r in rows]
    figure, axes = plt.subplots(figsize=(7, 4.5))
    for name, cost in COSTS.items():
        values = [cost(r) / cost(rows[0]) for r in rows]
        axes.plot(sizes, values, marker="o", label=f"{name} (slope {result['growth'][name]['exponent']:.2f})")
    axes.plot(sizes, [s / sizes[0] for s in sizes], color="grey", linestyle=":", label="linear")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("documents")
    axes.set_ylabel("cost, relative to the smallest corpus")
    axes.set_title("BM25 + document store: how each cost grows (log-log slope)")
    axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)
