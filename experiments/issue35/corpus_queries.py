"""Issue 35's experiment harness, kept as it was run (not part of ranker).

Generated queries -> mined -> the cross-encoder trained in one or two stages -> dev metrics.
"""

import argparse
import json
import time
from pathlib import Path

import numpy as np
from head_window import head_and_window  # beside this script

from ranker.data.datasets.news_qa import load_questions
from ranker.data.qrels import read_qrels
from ranker.data.readers import read_articles, read_queries
from ranker.index.folder import Index
from ranker.retrieve import passages as _passages
from ranker.train.corpus_queries import GenerationConfig, allowed_articles, cut_from, generate_queries
from ranker.train.groups import TextGroup, dev_sample
from ranker.train.mine import MiningConfig, TrainingQuery, mine_index, training_queries

_original_passages_for = _passages.passages_for


def passages_for(queries, texts, width):
    if a.head_window is None:
        return _original_passages_for(queries, texts, width)
    h, w = (int(x) for x in a.head_window.split(","))
    return head_and_window(queries, texts, h, w)


_passages.passages_for = passages_for  # make_dev_set imports it from the module at call time
from ranker.train.loop import TrainConfig, fit  # noqa: E402  (after the patch above)
from ranker.train.reranker import RerankerTrainConfig, make_dev_set, reranker_task  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--index", default="indexes/news")
p.add_argument("--kinds", default="lead:1,ict:2,span:1,keywords:2,news_qa:1")
p.add_argument("--gen-limit", type=int, default=None, help="sample this many generated queries")
p.add_argument("--stage1-steps", type=int, default=0)
p.add_argument("--stage2-steps", type=int, default=0)
p.add_argument("--mixed", action="store_true", help="one stage over generated + labelled")
p.add_argument("--max-length", type=int, default=128)
p.add_argument("--passage-words", type=int, default=None)
p.add_argument(
    "--head-window", type=str, default=None, help="H,W: the first H words, then the best W-word window of the rest"
)
p.add_argument("--lr", type=float, default=1e-4)
p.add_argument("--lr2", type=float, default=None)
p.add_argument("--batch", type=int, default=8)
p.add_argument("--seed", type=int, default=13)
p.add_argument("--eval-every", type=int, default=None)
p.add_argument("--out", required=True)
p.add_argument("--dev-n", type=int, default=200)
p.add_argument("--dev-depth", type=int, default=20)
p.add_argument("--limit-labelled", type=int, default=None)
a = p.parse_args()
out = Path(a.out)
out.mkdir(parents=True, exist_ok=True)
index = Index.open(a.index)
docs = index.docs
ids = index.doc_ids()
row_of = {d: i for i, d in enumerate(ids)}
t0 = time.time()


def groups_from(mined, cut_of):
    rows = sorted({r for g in mined for r in g.negatives} | {row_of[g.query.positive] for g in mined})
    text_of = dict(zip(rows, docs.texts(rows), strict=True))
    out = []
    for g in mined:
        pos = cut_from(text_of[row_of[g.query.positive]], cut_of.get(g.query.qid, ""))
        texts = [pos] + [text_of[r] for r in g.negatives]
        read = passages_for([g.query.text] * len(texts), texts, a.passage_words)
        out.append(TextGroup(g.query.text, read[0], tuple(read[1:])))
    return out


cache = Path("runs/issue35-cache")
cache.mkdir(parents=True, exist_ok=True)


def mined_cached(name, training):
    f = cache / f"{name}.json"
    if f.exists():
        return [TextGroup(q, p_, tuple(n)) for q, p_, n in json.loads(f.read_text())]
    return None


# labelled groups
lab_key = f"labelled-{Path(a.index).name}-pw{a.passage_words}-hw{a.head_window}"
labelled = mined_cached(lab_key, None)
if labelled is None:
    tq = training_queries(read_queries("data/news").records, read_qrels("data/news/qrels/train.tsv"))
    mined, rep = mine_index(index, tq, MiningConfig())
    labelled = [g for g in groups_from(mined, {}) if g.negatives]
    (cache / f"{lab_key}.json").write_text(json.dumps([[g.query, g.positive, list(g.negatives)] for g in labelled]))
print(f"labelled groups {len(labelled)} ({time.time() - t0:.0f}s)", flush=True)

generated = []
if a.stage1_steps or a.mixed:
    per = {k: int(v) for k, v in (x.split(":") for x in a.kinds.split(","))}
    kinds = a.kinds.replace(":", "").replace(",", "_")
    gen_key = f"gen-{Path(a.index).name}-{kinds}-pw{a.passage_words}-hw{a.head_window}-s{a.seed}"
    generated = mined_cached(gen_key, None)
    if generated is None:
        arts = read_articles("data/news").records
        allowed = allowed_articles(
            arts,
            read_qrels("data/news/qrels/train.tsv"),
            [read_qrels(f"data/news/qrels/{s}.tsv") for s in ("dev", "test")],
        )
        made = generate_queries(allowed, GenerationConfig(per_article=per, seed=a.seed), load_questions("train"))
        tq = [TrainingQuery(q.qid, q.text, q.target, frozenset({q.target})) for q in made]
        mined, rep = mine_index(index, tq, MiningConfig(seed=a.seed))
        print("\n".join(rep.lines(3)))
        generated = [g for g in groups_from(mined, {q.qid: q.cut for q in made}) if g.negatives]
        (cache / f"{gen_key}.json").write_text(
            json.dumps([[g.query, g.positive, list(g.negatives)] for g in generated])
        )
    if a.gen_limit:
        rng = np.random.default_rng(a.seed)
        generated = [generated[i] for i in sorted(rng.permutation(len(generated))[: a.gen_limit])]
print(f"generated groups {len(generated)} ({time.time() - t0:.0f}s)", flush=True)

qids, texts, qrels = dev_sample(Path("data/news"), Path("data/news/qrels/dev.tsv"), a.dev_n, 13)
first = index.retriever("hybrid").search(texts, a.dev_depth)
if a.limit_labelled:
    rng0 = np.random.default_rng(a.seed)
    labelled = [labelled[i] for i in sorted(rng0.permutation(len(labelled))[: a.limit_labelled])]
dev = make_dev_set(qids, texts, first, qrels, docs, a.passage_words if a.head_window is None else 1)
cfg = RerankerTrainConfig(max_length=a.max_length, passage_words=a.passage_words)
results = {"args": vars(a)}


def stage(name, groups, steps, model, lr):
    from dataclasses import replace

    c = replace(cfg, model=model)
    tc = TrainConfig(
        learning_rate=lr,
        epochs=100,
        max_steps=steps,
        batch_size=a.batch,
        eval_every=a.eval_every or steps,
        checkpoint_every=10**6,
        precision="auto",
        seed=a.seed,
    )
    task = reranker_task(groups, c, tc, dev)
    m = fit(task, tc, out / name, show_progress=False)
    print(name, json.dumps({k: m[k] for k in m if k in ("best", "train", "evaluations")})[:3000], flush=True)
    return m


model = "all-MiniLM-L6-v2"
if a.mixed:
    rng = np.random.default_rng(a.seed)
    allg = generated + labelled
    results["mixed"] = stage("mixed", allg, a.stage1_steps + a.stage2_steps, model, a.lr)
else:
    if a.stage1_steps:
        results["stage1"] = stage("stage1", generated, a.stage1_steps, model, a.lr)
        model = str(out / "stage1" / "model")
    if a.stage2_steps:
        results["stage2"] = stage("stage2", labelled, a.stage2_steps, model, a.lr2 or a.lr)
results["seconds"] = time.time() - t0
(out / "results.json").write_text(json.dumps(results, indent=1, default=str))
print("done", results["seconds"])
