"""Quality per millisecond: a model's dev MRR@10 (alone, mixed at the weight tuned at each depth) by rerank depth."""

import os
import sys
import time
from pathlib import Path

import numpy as np

from ranker.index.folder import Index
from ranker.rerank.reranker import RerankConfig, Reranker
from ranker.retrieve.base import Results
from ranker.train.groups import dev_sample
from ranker.train.reranker import dev_metrics, make_dev_set

HW = os.environ.get("HEAD_WINDOW")
if HW:
    from head_window import head_and_window  # beside this script

    from ranker.retrieve import passages as _p

    h, w = (int(x) for x in HW.split(","))

    def pf(queries, texts, width):
        return head_and_window(queries, texts, h, w)

    _p.passages_for = pf
model = sys.argv[1]
n = int(sys.argv[2]) if len(sys.argv) > 2 else 10000
index = Index.open(sys.argv[3] if len(sys.argv) > 3 else "indexes/news")
qids, texts, qrels = dev_sample(Path("data/news"), Path("data/news/qrels/dev.tsv"), n, 13)
first = index.retriever("hybrid").search(texts, 20)
r = Reranker(RerankConfig(model=model, depth=20))
dev = make_dev_set(qids, texts, first, qrels, index.docs, r.passage_words or (1 if HW else None))
t = time.perf_counter()
cross = r.score_read(dev.pair_queries, dev.pair_texts, show_progress=False)
s = time.perf_counter() - t
print(f"{len(qids)} dev queries; {len(dev.pair_queries) / s:.0f} pairs/s")
per_q = (first.rows >= 0).sum(1)
for depth in (8, 10, 12, 15, 20):
    offsets = np.concatenate([[0], np.cumsum(per_q)[:-1]])
    keep = np.concatenate([np.arange(m)[: min(m, depth)] + off for m, off in zip(per_q, offsets, strict=True)])
    top = Results(first.rows[:, :depth], first.scores[:, :depth])
    d = make_dev_set(qids, texts, top, qrels, index.docs, r.passage_words or (1 if HW else None))
    m, inter = dev_metrics(d, cross[keep])
    print(
        f"depth {depth:2d}: alone {m['MRR@10']:.4f}  mixed {m['mixed_MRR@10']:.4f} (w {m['mixed_weight']})  "
        f"first {m['first_stage_MRR@10']:.4f}  ~{1000 * depth / (len(dev.pair_queries) / s):.0f} ms/query of scoring"
    )
