"""Where the time goes, for the goals ``make bench`` says are missed or close.

Run: ``python -m benchmarks.profiles bm25|rerank|train`` (prints a summary).
RESULTS.md quotes these summaries; the profiler is the standard library's
cProfile, so nothing more needs installing.

* ``bm25``: our search on the synthetic 100k corpus, split into bm25s's own
  retrieval, the query analyzer and the rest (our wrapper).
* ``rerank``: one scoring pass split into the transformer's forward pass and
  the rest (tokenising, sorting by length, batching).
* ``train``: one training step of 32 pairs at 128 tokens split into
  tokenising, forward, backward, clipping and the optimizer, fp32 and bf16.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
from collections.abc import Callable
from pathlib import Path


def shares(fn: Callable[[], object], parts: dict[str, str], repeat: int = 10) -> dict[str, float]:
    """The share of ``fn``'s time spent in each part (a function name, as cProfile names
    it, whose cumulative time counts), and in ``the rest``.

    Example:
        >>> import math
        >>> out = shares(lambda: sorted(math.sqrt(i) for i in range(1000)), {"sqrt": "sqrt"}, repeat=2)
        >>> 0 <= out["sqrt"] <= 1 and abs(sum(out.values()) - 1) < 1e-9
        True
    """
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(repeat):
        fn()
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # {(file, line, name): (calls, _, own, cumulative, callers)}
    total = sum(own for _, _, own, _, _ in stats.values())
    found = {}
    for label, name in parts.items():
        # the outermost call of that name: its cumulative time holds its callees
        found[label] = max((cum for (_, _, fname), (_, _, _, cum, _) in stats.items() if fname == name), default=0.0)
    out = {label: seconds / total for label, seconds in found.items()}
    out["the rest"] = max(0.0, 1.0 - sum(out.values()))
    return out


def bm25(n_docs: int = 100_000) -> dict[str, float]:
    """Shares of our BM25 search (numba backend, 200 news test titles, ``n_docs`` synthetic documents)."""
    from benchmarks.run import test_titles
    from benchmarks.synthetic import synthetic_corpus
    from ranker.data.readers import read_articles
    from ranker.retrieve.bm25 import BM25Config, BM25Retriever

    corpus = synthetic_corpus([a.text for a in read_articles(Path("data/news")).records], n_docs)
    ours = BM25Retriever(BM25Config(variant="robertson", backend="numba"))
    ours.index([a.text for a in corpus], show_progress=False)
    titles = test_titles(Path("data/news"), 200)
    ours.search(titles, 10)  # numba compiles here
    return shares(lambda: ours.search(titles, 10), {"bm25s retrieve": "retrieve", "query analyzer": "tokens"})


def rerank(n_queries: int = 20) -> dict[str, float]:
    """Shares of one scoring pass of hybrid's top 20 for ``n_queries`` test titles (128 tokens)."""
    from benchmarks.run import rerank_pairs
    from ranker.models.checkpoints import load_pair_scorer, load_tokenizer
    from ranker.rerank.reranker import score_pairs

    queries, texts = rerank_pairs(Path("data/news"), Path("indexes/news"), n_queries)
    net, tokenizer = load_pair_scorer("all-MiniLM-L6-v2"), load_tokenizer("all-MiniLM-L6-v2")
    net.eval()
    return shares(lambda: score_pairs(net, tokenizer, queries, texts, 128), {"transformer forward": "forward"},
                  repeat=1)


def train(steps: int = 6) -> dict[str, dict[str, float]]:
    """Seconds per training step by phase (8 groups of 4 pairs, 128 tokens), in fp32 and bf16;
    the first two steps are warm-up and not counted."""
    import torch

    from benchmarks.run import mined_groups
    from benchmarks.train_bench import load_groups
    from ranker.models.checkpoints import load_pair_scorer, load_tokenizer

    groups = load_groups(mined_groups(), "indexes/news", 8 * (steps + 2), 3)
    out = {}
    for precision in ("fp32", "bf16"):
        net, tokenizer = load_pair_scorer("all-MiniLM-L6-v2"), load_tokenizer("all-MiniLM-L6-v2")
        net.train()
        optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4)
        phases = dict.fromkeys(("tokenise", "forward", "backward", "clip", "optimizer"), 0.0)
        for step in range(steps + 2):
            batch = groups[8 * step: 8 * (step + 1)]
            marks = [time.perf_counter()]
            encoded = tokenizer([g.query for g in batch for _ in range(4)],
                                [t for g in batch for t in (g.positive, *g.negatives)],
                                truncation="longest_first", max_length=128, padding=True, return_tensors="pt")
            marks.append(time.perf_counter())
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=precision == "bf16"):
                logits = net(**encoded).logits.view(8, 4)
            loss = torch.nn.functional.cross_entropy(logits.float(), torch.zeros(8, dtype=torch.long))
            marks.append(time.perf_counter())
            loss.backward()
            marks.append(time.perf_counter())
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            marks.append(time.perf_counter())
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            marks.append(time.perf_counter())
            if step >= 2:
                for name, began, ended in zip(phases, marks, marks[1:], strict=False):  # one more mark than phases
                    phases[name] += (ended - began) / steps
        out[precision] = phases
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["bm25", "rerank", "train"])
    args = parser.parse_args(argv)
    if args.what == "train":
        for precision, phases in train().items():
            step = sum(phases.values())
            print(f"{precision}: {step:.2f} s a step; " + ", ".join(f"{k} {v / step:.0%}" for k, v in phases.items()))
    else:
        found = bm25() if args.what == "bm25" else rerank()
        print(", ".join(f"{k} {v:.1%}" for k, v in found.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
