"""Issue 35's distillation experiment, kept as it was run (not part of ranker).

Teacher: the mixed system (hybrid + a trained cross-encoder) over hybrid's top 20 for the labelled
training queries; student trained with a listwise KL loss towards it.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np

from ranker.data.qrels import read_qrels
from ranker.data.readers import read_queries
from ranker.index.folder import Index
from ranker.rerank.reranker import RerankConfig, Reranker, combine
from ranker.train.groups import TextGroup, dev_sample
from ranker.train.loop import TrainConfig, fit
from ranker.train.mine import training_queries
from ranker.train.reranker import RerankerTask, RerankerTrainConfig, make_dev_set, reranker_task

p = argparse.ArgumentParser()
p.add_argument("--teacher", required=True)
p.add_argument("--teacher-weight", type=float, default=None, help="default: the teacher's dev-tuned weight")
p.add_argument("--index", default="indexes/news")
p.add_argument("--group", type=int, default=8)
p.add_argument("--batch", type=int, default=4)
p.add_argument("--steps", type=int, default=521)
p.add_argument("--tau", type=float, default=1.0)
p.add_argument("--alpha", type=float, default=0.0, help="weight of the hard-label CE term")
p.add_argument("--max-length", type=int, default=128)
p.add_argument("--lr", type=float, default=1e-4)
p.add_argument("--seed", type=int, default=13)
p.add_argument("--eval-every", type=int, default=130)
p.add_argument("--init", default="all-MiniLM-L6-v2")
p.add_argument("--out", required=True)
a = p.parse_args()
out = Path(a.out)
out.mkdir(parents=True, exist_ok=True)
t0 = time.time()
index = Index.open(a.index)
docs = index.docs
ids = index.doc_ids()
row_of = {d: i for i, d in enumerate(ids)}
cache = Path(f"runs/issue35-cache/teacher-{Path(a.teacher).parent.parent.name}.json")
if cache.exists():
    scored = json.loads(cache.read_text())
else:
    tq = training_queries(read_queries("data/news").records, read_qrels("data/news/qrels/train.tsv"))
    tq = [q for q in tq if q.positive in row_of]
    first = index.retriever("hybrid").search([q.text for q in tq], 20)
    reranker = Reranker(RerankConfig(model=a.teacher))
    pq, pt = reranker.pairs(first, [q.text for q in tq], docs)
    cross = reranker.score(pq, pt, show_progress=True)
    scored, at = [], 0
    for i, q in enumerate(tq):
        m = int((first.rows[i] >= 0).sum())
        ce = cross[at : at + m]
        at += m
        rows = first.rows[i, :m].tolist()
        scored.append(
            {
                "query": q.text,
                "positive": row_of[q.positive],
                "positives": [row_of[d] for d in q.positives if d in row_of],
                "rows": rows,
                "hybrid": first.scores[i, :m].tolist(),
                "ce": [float(x) for x in ce],
            }
        )
    cache.write_text(json.dumps(scored))
print(f"teacher scored {len(scored)} queries ({time.time() - t0:.0f}s)", flush=True)
w = a.teacher_weight
if w is None:
    w = json.loads((Path(a.teacher) / "ranker.json").read_text())["interpolation"]["weight"]
print("teacher weight", w)
rng = np.random.default_rng(a.seed)
groups, teachers = [], []
kept = 0
for s in scored:
    if s["positive"] not in s["rows"]:
        continue  # the teacher never saw the positive among its candidates
    t = combine(np.array(s["hybrid"]), np.array(s["ce"]), w)
    pos_i = s["rows"].index(s["positive"])
    others = [j for j in range(len(s["rows"])) if j != pos_i]
    pick = sorted(rng.permutation(len(others))[: a.group - 1])
    chosen = [pos_i] + [others[j] for j in pick]
    texts = docs.texts([s["rows"][j] for j in chosen])
    groups.append(TextGroup(s["query"], texts[0], tuple(texts[1:])))
    teachers.append([float(t[j]) for j in chosen])
print(f"{len(groups)} groups ({time.time() - t0:.0f}s)", flush=True)


class DistillTask(RerankerTask):
    def loss(self, batch):
        import torch
        import torch.nn.functional as F

        gs = [self.groups[i] for i in batch]
        pairs = [p_ for g in gs for p_ in g.pairs()]
        enc = self.tokenizer(
            [q for q, _ in pairs],
            [t for _, t in pairs],
            truncation="longest_first",
            max_length=self.config.max_length,
            padding=True,
            return_tensors="pt",
        )
        logits = self.net(**enc).logits[:, 0]
        sizes = [1 + len(g.negatives) for g in gs]
        width = max(sizes)
        s = torch.full((len(gs), width), float("-inf"))
        tt = torch.full((len(gs), width), float("-inf"))
        at = 0
        for i, (n, bi) in enumerate(zip(sizes, batch, strict=True)):
            s[i, :n] = logits[at : at + n]
            tt[i, :n] = torch.tensor(teachers[bi][:n]) / a.tau
            at += n
        logp = F.log_softmax(s.float(), dim=1)
        pt_ = F.softmax(tt, dim=1)
        kl = -(pt_ * torch.where(torch.isfinite(logp), logp, torch.zeros_like(logp))).sum(1).mean()
        ce = F.cross_entropy(s.float(), torch.zeros(len(gs), dtype=torch.long))
        return (1 - a.alpha) * kl + a.alpha * ce, len(pairs)


qids, texts, qrels = dev_sample(Path("data/news"), Path("data/news/qrels/dev.tsv"), 200, 13)
first = index.retriever("hybrid").search(texts, 20)
dev = make_dev_set(qids, texts, first, qrels, docs, None)
cfg = RerankerTrainConfig(model=a.init, max_length=a.max_length)
tc = TrainConfig(
    learning_rate=a.lr,
    epochs=100,
    max_steps=a.steps,
    batch_size=a.batch,
    eval_every=a.eval_every,
    checkpoint_every=10**6,
    precision="auto",
    seed=a.seed,
)
base = reranker_task(groups, cfg, tc, dev)
task = DistillTask(groups, base.net, base.tokenizer, cfg, a.batch, dev)
m = fit(task, tc, out / "student", show_progress=False)
for h in m["history"]:
    print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in h.items()}, flush=True)
print("train", m["train"]["examples_per_second"], "done", time.time() - t0)
