"""Pool the top 20 of BM25, dense and hybrid (indexes/news-tt: titles and text, the
default settings) for each query of a writer's queries file, and write what the
judge reads: each pooled article's title, outlet, date, its first 150 words and
the 80-word window that best matches the query.

usage (from the repository root, after `ranker index data/news --out indexes/news-tt`):
    .venv/bin/python data/realistic-test/pool.py WRITER-QUERIES.jsonl OUT-FOLDER
writes OUT-FOLDER/pool-N.md (what the judge read) and pool-N.json (query id -> pooled ids)
"""
import json
import sys
from pathlib import Path

from ranker.index.folder import Index
from ranker.retrieve.passages import passages_for

src, out_folder = Path(sys.argv[1]), Path(sys.argv[2])
part = src.stem.split("-")[-1]
queries = [json.loads(line) for line in src.read_text().splitlines() if line.strip()]
index = Index.open("indexes/news-tt")
ids = index.doc_ids()
pools = {q["_id"]: [] for q in queries}
texts = [q["text"] for q in queries]
for name in ("bm25", "dense", "hybrid"):
    results = index.retriever(name).search(texts, 20)
    for q, rows in zip(queries, results.rows):
        for row in rows:
            if row >= 0 and ids[row] not in pools[q["_id"]]:
                pools[q["_id"]].append(ids[row])
corpus = {}
for line in open("data/news/corpus.jsonl"):
    d = json.loads(line)
    corpus[d["_id"]] = d
out = []
for q in queries:
    pooled = sorted(pools[q["_id"]], key=int)
    target = q["metadata"]["target"]
    out.append(f"# {q['_id']} ({q['metadata']['style']}): {q['text']}\n\nwritten for article {target}; "
               f"{len(pooled)} pooled articles{'' if target in pooled else ' (TARGET NOT POOLED: it is added below)'}\n")
    if target not in pooled:
        pooled.append(target)
    for doc in pooled:
        d = corpus[doc]
        words = d["text"].split()
        lead = " ".join(words[:150]) + (" …" if len(words) > 150 else "")
        window = passages_for([q["text"]], [d["text"]], 80)[0]
        out.append(f"- **{doc}** | {d['title']} | {d['metadata']['outlet']} | {d['metadata']['date']} | {len(words)} words\n"
                   f"  - lead: {lead}\n  - best window: {window}\n")
(out_folder / f"pool-{part}.md").write_text("\n".join(out))
(out_folder / f"pool-{part}.json").write_text(json.dumps({q: sorted(set(p), key=int) for q, p in pools.items()}, indent=1))
print(f"{len(queries)} queries, {sum(len(p) for p in pools.values())} pooled articles -> {out_folder}/pool-{part}.md")
