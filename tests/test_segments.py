"""The segment store (issue 37): adds and deletes equal a fresh build; kills leave a whole generation."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from ranker.core.errors import InputError
from ranker.data.records import Article
from ranker.index.segments import SegmentStore
from ranker.retrieve.analysis import BM25Config
from ranker.retrieve.bm25 import BM25Retriever
from ranker.retrieve.bm25_segments import top
from ranker.retrieve.dense import DenseConfig, build_faiss

WORDS = ["oil", "prices", "fell", "rose", "opec", "cut", "dam", "storm", "election", "vote", "brexit", "court",
         "market", "bank", "rates", "the", "of", "and"]


def _article(rng: random.Random, doc_id: str) -> Article:
    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 30)))
    return Article(doc_id, f"title {doc_id}", text)


def _vectors(articles: list[Article]) -> np.ndarray:
    """A vector per article that depends only on its text (so a fresh build can make it again)."""
    out = []
    for article in articles:
        rng = np.random.default_rng(abs(hash(article.text)) % 2**32)
        v = rng.standard_normal(16).astype(np.float32)
        out.append(v / np.linalg.norm(v))
    return np.stack(out)


def _history(rng: random.Random, store: SegmentStore) -> dict[str, Article]:
    """Random adds, replaces and deletes; the live articles, in row order."""
    live: dict[str, Article] = {}  # an added or replaced article goes last
    for step in range(8):
        action = rng.random()
        if action < 0.6 or len(live) < 3:
            batch = [_article(rng, f"{step}-{n}") for n in range(rng.randint(1, 12))]
            if live and rng.random() < 0.4:  # some of them replace live articles
                for n, old in enumerate(rng.sample(sorted(live), min(2, len(live)))):
                    batch[n] = Article(old, "new title", batch[n].text)
            store.add(batch, _vectors(batch), replace=True)
            for article in batch:
                live.pop(article.doc_id, None)
                live[article.doc_id] = article
        else:
            gone = rng.sample(sorted(live), rng.randint(1, len(live) - 1))
            store.delete(gone)
            for doc_id in gone:
                del live[doc_id]
    return live


def _equals_a_fresh_build(store: SegmentStore, articles: list[Article], rng: random.Random) -> None:
    snapshot = store.open()
    assert snapshot.generation.live == len(articles)
    fresh = BM25Retriever(BM25Config())
    fresh.index([a.text for a in articles], show_progress=False)
    for query in ["oil prices", "dam storm vote", "the bank", "zebra"]:
        got = [(snapshot.article(row).doc_id, score) for row, score in snapshot.bm25.search([query], 10).hits(0)]
        tokens = fresh.analyzer.tokens([query])[0]
        # the fresh build's every score, cut as ours is (bm25s's own cut keeps any of the rows tied at the 10th)
        every = fresh._model.get_scores(tokens) if fresh._model.get_tokens_ids(tokens) else np.zeros(len(articles))
        rows, scores = top(np.asarray(every, dtype=np.float32), 10)
        want = [(articles[row].doc_id, score) for row, score in zip(rows, scores, strict=True) if score > 0]
        assert [d for d, _ in got] == [d for d, _ in want], query
        np.testing.assert_allclose([s for _, s in got], [s for _, s in want], rtol=1e-5)
    queries = _vectors([_article(rng, "q") for _ in range(5)])
    exact = build_faiss(_vectors(articles), DenseConfig(index_type="flat")).search(queries, 5)
    dense = snapshot.dense_search(queries, 5)
    for q in range(len(queries)):
        assert [snapshot.article(row).doc_id for row, _ in dense.hits(q)] == [articles[r].doc_id for r in exact[1][q]]


def _ids_on_disk(folder) -> set[str]:
    """The ids of every article any segment's documents hold, live or not."""
    import sqlite3

    found = set()
    for path in folder.glob("seg-*/docs.sqlite"):
        with sqlite3.connect(path) as connection:
            found |= {row[0] for row in connection.execute("SELECT doc_id FROM docs")}
    return found


@pytest.mark.parametrize("seed", range(4))
def test_adds_deletes_and_replaces_search_as_a_fresh_build(tmp_path, seed):
    rng = random.Random(seed)
    store = SegmentStore.create(tmp_path / "index", BM25Config(), DenseConfig(index_type="flat"))
    _equals_a_fresh_build(store, list(_history(rng, store).values()), rng)


@pytest.mark.parametrize("seed", range(3))
def test_merges_keep_the_search_and_remove_deleted_articles_from_disk(tmp_path, seed):
    rng = random.Random(seed)
    store = SegmentStore.create(tmp_path / "index", BM25Config(), DenseConfig(index_type="flat"))
    live = _history(rng, store)
    reader = store.open()  # opened before the merges: it keeps answering as it was
    before = reader.bm25.search(["oil prices"], 10).hits(0)
    for max_segments in (3, 1):
        merged = store.merge(max_segments)
        assert len(merged.segments) <= max_segments and merged.live == len(live)
        _equals_a_fresh_build(store, list(live.values()), rng)
    after = [Article("after", "", "oil")]
    store.add(after, _vectors(after))
    assert reader.bm25.search(["oil prices"], 10).hits(0) == before  # its files are kept while it holds them
    assert _ids_on_disk(tmp_path / "index") > set(live) | {"after"}
    reader.close()
    store.delete(["after"])  # the first commit after the reader let go removes what only it held
    assert _ids_on_disk(tmp_path / "index") == set(live) | {"after"}  # no deleted article's text is left


def test_expunging_rewrites_each_segment_holding_deleted_articles(tmp_path):
    store = SegmentStore.create(tmp_path / "index", BM25Config())
    for n in range(3):
        store.add([Article(f"{n}-{i}", "", f"oil prices {i}") for i in range(4)])
    before = store.delete(["0-1", "2-3"])
    expunged = store.merge(max_segments=10, expunge_deletes=True)
    assert len(expunged.segments) == 3 and not any(s.deleted for s in expunged.segments)
    assert expunged.segments[1] == before.segments[1]  # untouched: no deletions
    on_disk = _ids_on_disk(tmp_path / "index")
    assert "0-1" not in on_disk and "2-3" not in on_disk and len(on_disk) == 10


def test_merge_plans_fold_the_smallest_neighbours_first():
    from ranker.index.merge_policy import plan_merges

    assert plan_merges([5, 5, 5], 3) == []
    assert plan_merges([100, 1, 1, 100], 3) == [(1, 2)]
    assert plan_merges([100, 1, 1, 100], 1) == [(0, 3)]
    assert plan_merges([0, 7], 5) == [(0, 1)]


def test_an_id_clash_a_missing_id_and_a_newer_format_are_refused(tmp_path):
    (tmp_path / "mine").mkdir()
    with pytest.raises(InputError, match="already exists"):
        SegmentStore.create(tmp_path / "mine", BM25Config())
    with pytest.raises(InputError):
        SegmentStore(tmp_path / "mine")  # not a store
    store = SegmentStore.create(tmp_path / "index", BM25Config())
    store.add([Article("1", "", "oil prices")])
    with pytest.raises(InputError, match="already in the index"):
        store.add([Article("1", "", "oil again")])
    with pytest.raises(InputError, match="1 not in the index"):
        store.delete(["2"])
    settings = json.loads((tmp_path / "index/store.json").read_text())
    (tmp_path / "index/store.json").write_text(json.dumps({**settings, "format_version": 99}))
    with pytest.raises(InputError, match="newer ranker"):
        SegmentStore(tmp_path / "index")


def test_a_reader_keeps_its_generation_while_others_are_committed(tmp_path):
    store = SegmentStore.create(tmp_path / "index", BM25Config())
    store.add([Article("1", "", "oil prices"), Article("2", "", "oil output")])
    old = store.open()
    store.delete(["1"])
    store.add([Article("3", "", "oil rigs")])
    store.delete(["2"])
    assert len(old.bm25.search(["oil"], 5).hits(0)) == 2  # as it was when opened
    assert [store.open().article(r).doc_id for r, _ in store.open().bm25.search(["oil"], 5).hits(0)] == ["3"]


def test_two_writers_at_once_both_land(tmp_path):
    SegmentStore.create(tmp_path / "index", BM25Config())
    errors = []

    def write(n: int) -> None:
        try:
            SegmentStore(tmp_path / "index").add([Article(f"w{n}-{i}", "", "oil prices") for i in range(20)])
        except Exception as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors and SegmentStore(tmp_path / "index").current().live == 80


_ADD = """
import sys
from ranker.data.records import Article
from ranker.index.segments import SegmentStore
store = SegmentStore(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
store.add([Article(f"new-{n}", "", f"oil prices {n}") for n in range(300)], replace=True)
store.delete(["old-0"])
"""


@pytest.mark.timeout(300)
def test_a_write_killed_at_any_moment_leaves_a_whole_generation_and_no_stray_file_after_the_next(tmp_path):
    folder = tmp_path / "index"
    store = SegmentStore.create(folder, BM25Config())
    store.add([Article(f"old-{n}", "", "oil output") for n in range(5)])
    rng, seen = random.Random(3), set()
    # how long a whole add and delete takes here, so that the kills fall before and after its commit
    # however loaded the machine is
    process = subprocess.Popen([sys.executable, "-c", _ADD, str(folder)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    began = time.monotonic()
    process.communicate("go\n", timeout=120)
    whole = time.monotonic() - began
    store.delete(list(store.open().live_rows([f"new-{n}" for n in range(300)])))
    store.add([Article("old-0", "", "oil output")])
    for _ in range(8):
        before = store.current()
        process = subprocess.Popen([sys.executable, "-c", _ADD, str(folder)], stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True)
        assert process.stdout.readline().strip() == "ready"
        process.stdin.write("go\n")
        process.stdin.flush()
        time.sleep(rng.uniform(0.0, 1.3 * whole))
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
        now = store.current()
        assert now.number >= before.number and now.live in (5, 4, 305, 304)
        snapshot = store.open(now)  # every file it names is whole
        assert len(snapshot.bm25.search(["oil"], 400).hits(0)) == now.live
        snapshot.close()
        seen.add(now.live)
        if now.live != 5:  # start the next trial from the five old articles
            new = list(store.open().live_rows([f"new-{n}" for n in range(300)]))
            if new:
                store.delete(new)
            if not store.open().live_rows(["old-0"]):
                store.add([Article("old-0", "", "oil output")])
    assert len(seen) > 1, seen  # the kills fell before and after a commit
    for stray in (".generation-000999.json.tmp-0a1b2c3d", ".seg-000999.tmp-1-0a1b2c3d"):  # as a kill mid-write leaves
        (folder / stray).touch()
    store.add([Article("last", "", "oil")])
    numbers = store.numbers()  # no reader holds an older generation: only the current one is left
    assert len(numbers) == 1 and {p.name for p in folder.iterdir()} == store.current().files() | {"store.json"}


def test_a_document_store_gives_any_number_of_rows_at_once(tmp_path):
    from ranker.index.docstore import DocStore, write_docstore

    write_docstore(tmp_path / "docs.sqlite", (Article(str(n), "", "x") for n in range(260_000)))
    rows = list(range(259_999, -1, -1))  # more than SQLite takes as variables of one statement (250,000 here)
    assert [a.doc_id for a in DocStore(tmp_path / "docs.sqlite").get(rows)] == [str(r) for r in rows]
