"""Peak memory (resident set size) of indexing and querying, each in a fresh process.

Each step runs as its own Python process so its peak is its own; the figure is
that process's ``VmHWM`` from ``/proc/self/status`` (Linux), printed by the
process itself at its end. Not ``ru_maxrss``: it survives ``exec``, so a child
started from a large parent (pytest or the benchmark runner, with torch loaded)
reports the parent's size. The baseline
row is a process that only imports ranker, so the steps can be read as
"what the work adds".
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

STEPS = {
    "python + import ranker": "import ranker.index.folder",
    "BM25: index {n} synthetic documents": (
        "from benchmarks.synthetic import synthetic_corpus\n"
        "from ranker.data.readers import read_articles\n"
        "from ranker.retrieve.bm25 import BM25Retriever\n"
        "texts = [a.text for a in read_articles({data!r}).records]\n"
        "r = BM25Retriever(); r.index([a.text for a in synthetic_corpus(texts, {n})], show_progress=False); "
        "r.save({folder!r})\n"
    ),
    "BM25: load that index, answer 200 title queries": (
        "from ranker.data.readers import beir_split\n"
        "from pathlib import Path\n"
        "from ranker.retrieve.bm25 import BM25Retriever\n"
        "r = BM25Retriever.load({folder!r})\n"
        "r.search([q.text for q in beir_split(Path({data!r}), 'test-title', sample=200)[0]], 10)\n"
    ),
}


def peak_mib(code: str) -> float:
    """Run ``code`` in a fresh interpreter; its peak resident memory in MiB."""
    probe = ("\nfor line in open('/proc/self/status'):\n"
             "    if line.startswith('VmHWM:'):\n        print('PEAK', line.split()[1])\n")
    done = subprocess.run([sys.executable, "-c", code + probe], check=True, capture_output=True, text=True)
    line = [x for x in done.stdout.splitlines() if x.startswith("PEAK ")][-1]
    return int(line.split()[1]) / 1024


def measure(data: Path, folder: Path, n: int) -> dict[str, float]:
    """Peak MiB of each step in :data:`STEPS`, run one after another in fresh processes."""
    out = {}
    for name, code in STEPS.items():
        key = name.format(n=f"{n:,}")
        out[key] = peak_mib(code.format(n=n, data=str(data), folder=str(folder)))
    return out
