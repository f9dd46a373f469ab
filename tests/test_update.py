"""Adding and deleting articles without a rebuild: after any sequence, search equals
a fresh build of the same articles; a failed or killed update leaves the old index."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import NEWS, random_corpus
from ranker.cli import main
from ranker.core.errors import InputError
from ranker.core.integrity import verify
from ranker.data.records import Article
from ranker.index.folder import Index, build_index
from ranker.index.segmented import SEGMENTS, segment_problems
from ranker.index.update import update_index
from ranker.retrieve.bm25 import BM25Config
from ranker.retrieve.dense import DenseConfig
from ranker.retrieve.embed import EmbedderConfig

QUERIES = ["oil prices", "Brexit Article 50", "dam spillway", "travel ban judge", "nerve agent airport", "w001x w002x"]


def articles(n: int = 0) -> list[Article]:
    """The six news articles, then ``n`` of random words (for the approximate indexes)."""
    news = [Article(i, t, x, {"outlet": "Test"}) for i, t, x in NEWS]
    return news + [Article(f"r{i}", f"random {i}", text) for i, text in enumerate(random_corpus(n, seed=3))]


def dense_config(tiny_model, kind: str = "flat") -> DenseConfig:
    return DenseConfig(embedder=EmbedderConfig(model=str(tiny_model), max_length=32), index_type=kind)


def results(folder: Path, k: int = 10) -> dict[str, list[list[tuple[str, float]]]]:
    """Each retriever's top k (doc id, score) for every query."""
    index = Index.open(folder)
    ids = index.doc_ids()
    out = {}
    for name in index.manifest["components"]:
        found = index.retriever(name).search(QUERIES, k)
        out[name] = [[(ids[r], float(s)) for r, s in found.hits(q)] for q in range(len(QUERIES))]
    return out


def assert_same(updated: dict, fresh: dict, approximate: bool = False) -> None:
    assert updated.keys() == fresh.keys()
    for name in fresh:
        for got, want in zip(updated[name], fresh[name], strict=True):
            if name == "dense" and approximate:
                continue  # measured against exact search instead: check_against_fresh
            else:
                np.testing.assert_allclose([s for _, s in got], [s for _, s in want], rtol=0, atol=1e-6)
                # of articles tied with the k-th, bm25s keeps any (argpartition); segments keep the first rows
                cut = want[-1][1] if len(want) == 10 else -np.inf
                above = [d for d, s in want if s > cut + 1e-6]
                assert [d for d, s in got if s > cut + 1e-6] == above, (name, got, want)


def check_against_fresh(folder: Path, expected: list[Article], tmp_path: Path, dense: DenseConfig | None,
                        approximate: bool = False) -> None:
    kind, problems = verify(folder, (SEGMENTS, segment_problems))
    assert kind == "index" and problems == []
    assert Index.open(folder).live_ids() == [a.doc_id for a in expected]
    fresh = tmp_path / f"fresh-{time.monotonic_ns()}"
    build_index(expected, fresh, BM25Config(), dense, show_progress=False)
    updated, built = results(folder), results(fresh)
    assert_same(updated, built, approximate)
    if approximate:  # the bound: recall@10 against exact search at most 0.01 below a fresh build's
        retriever = Index.open(fresh).dense()
        ids, vectors = Index.open(fresh).doc_ids(), retriever.vectors(fresh / "dense")
        exact = np.argsort(-(retriever.embedder.encode(QUERIES) @ vectors.T), axis=1, kind="stable")[:, :10]

        def recall(found) -> float:
            return float(np.mean([len({d for d, _ in got} & {ids[r] for r in row}) / 10
                                  for got, row in zip(found["dense"], exact, strict=True)]))

        assert recall(updated) >= recall(built) - 0.01, (recall(updated), recall(built))


def test_add_delete_readd_and_replace_equal_a_fresh_build(tmp_path, tiny_model):
    corpus = articles()
    dense = dense_config(tiny_model)
    folder = tmp_path / "idx"
    build_index(corpus[:4], folder, BM25Config(), dense, show_progress=False)
    expected = corpus[:4]

    done = update_index(folder, add=corpus[4:], show_progress=False)
    expected = expected + corpus[4:]
    assert (done.added, done.deleted, done.documents) == (2, 0, 6)
    check_against_fresh(folder, expected, tmp_path, dense)

    update_index(folder, delete=["d2"], show_progress=False)
    expected = [a for a in expected if a.doc_id != "d2"]
    check_against_fresh(folder, expected, tmp_path, dense)

    update_index(folder, add=[corpus[1]], show_progress=False)  # the deleted id, added again
    expected = expected + [corpus[1]]
    check_against_fresh(folder, expected, tmp_path, dense)

    changed = Article("d3", "Brexit letter delayed", "Britain delayed the Article 50 letter to Brussels.", {})
    with pytest.raises(InputError, match="already in the index .*--replace"):
        update_index(folder, add=[changed], show_progress=False)
    done = update_index(folder, add=[changed], replace=True, show_progress=False)
    assert (done.added, done.replaced) == (0, 1)
    expected = [a for a in expected if a.doc_id != "d3"] + [changed]
    check_against_fresh(folder, expected, tmp_path, dense)
    history = Index.open(folder).manifest["history"]
    assert [h["added"] + h["replaced"] for h in history] == [2, 0, 1, 1]


@pytest.mark.parametrize("kind", ["hnsw", "ivfpq"])
def test_approximate_indexes_after_updates_recall_what_a_fresh_build_finds(kind, tmp_path, tiny_model):
    corpus = articles(400)
    dense = dense_config(tiny_model, kind)
    folder = tmp_path / "idx"
    build_index(corpus[:300], folder, BM25Config(), dense, show_progress=False)
    update_index(folder, add=corpus[300:], delete=["r5", "r77"], show_progress=False)
    expected = [a for a in corpus if a.doc_id not in ("r5", "r77")]
    check_against_fresh(folder, expected, tmp_path, dense, approximate=True)
    if kind == "ivfpq":  # a lossy index keeps the vectors it was built from, for the next update
        assert (folder / "dense" / "vectors.npy").is_file()


def test_a_failed_update_leaves_the_old_index(tmp_path, tiny_model, monkeypatch):
    corpus = articles()
    folder = tmp_path / "idx"
    build_index(corpus[:4], folder, BM25Config(), dense_config(tiny_model), show_progress=False)
    before = results(folder)
    listing = sorted(p.name for p in tmp_path.iterdir())

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device", str(folder / "segments" / "tf.npy"))

    monkeypatch.setattr("ranker.retrieve.bm25_segments.Postings.save", broken)
    with pytest.raises(OSError):
        update_index(folder, add=corpus[4:], show_progress=False)
    monkeypatch.undo()
    assert verify(folder, (SEGMENTS, segment_problems)) == ("index", []) and results(folder) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == listing  # no scratch folder left beside it


def test_an_update_refuses_unknown_ids_an_empty_result_and_add_and_delete_of_one_id(tmp_path):
    corpus = articles()
    folder = tmp_path / "idx"
    build_index(corpus[:2], folder, BM25Config(), None, show_progress=False)
    with pytest.raises(InputError, match="not in the index .*'nope'"):
        update_index(folder, delete=["nope"], show_progress=False)
    with pytest.raises(InputError, match="leave the index empty"):
        update_index(folder, delete=["d1", "d2"], show_progress=False)
    with pytest.raises(InputError, match="both added and deleted"):
        update_index(folder, add=[corpus[0]], delete=["d1"], replace=True, show_progress=False)
    assert Index.open(folder).doc_ids() == ["d1", "d2"]


def _ranker(*args, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "ranker", *[str(a) for a in args]], env=env, **kwargs)


@pytest.mark.timeout(600)
def test_a_kill_during_an_add_leaves_the_old_or_the_new_index(tmp_path, tiny_model):
    corpus = articles(800)
    old, new = corpus[:6], corpus
    dense = dense_config(tiny_model)
    write = tmp_path / "new.jsonl"
    write.write_text("".join(json.dumps({"_id": a.doc_id, "title": a.title, "text": a.text}) + "\n" for a in new[6:]))
    fresh_old, fresh_new = tmp_path / "fresh-old", tmp_path / "fresh-new"
    build_index(old, fresh_old, BM25Config(), dense, show_progress=False)
    build_index([Article(a.doc_id, a.title, a.text, {} if i >= 6 else a.metadata) for i, a in enumerate(new)],
                fresh_new, BM25Config(), dense, show_progress=False)
    want_old, want_new = results(fresh_old), results(fresh_new)
    # time one whole add, then kill others at moments spread over it
    folder = tmp_path / "idx"
    build_index(old, folder, BM25Config(), dense, show_progress=False)
    began = time.monotonic()
    assert _ranker("add", folder, write, "--quiet").wait(timeout=300) == 0
    whole = time.monotonic() - began
    for fraction in (0.2, 0.5, 0.8, 0.95):
        build_index(old, folder, BM25Config(), dense, show_progress=False)
        process = _ranker("add", folder, write, "--quiet", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(whole * fraction)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        assert verify(folder, (SEGMENTS, segment_problems)) == ("index", [])
        got = results(folder)
        if got != want_old:  # then it must be the whole new version
            assert_same(got, want_new)
    assert Index.open(folder).manifest["doc_count"] in (len(old), len(new))


def bm25_index_and_more(tmp_path: Path, first: int, overlap: int = 0) -> tuple[Path, Path]:
    """A BM25 index of the first ``first`` news articles, and a file of the rest (from ``first - overlap``)."""
    def write(path: Path, rows) -> Path:
        path.write_text("".join(json.dumps({"_id": i, "title": t, "text": x}) + "\n" for i, t, x in rows))
        return path

    corpus, more = write(tmp_path / "c.jsonl", NEWS[:first]), write(tmp_path / "more.jsonl", NEWS[first - overlap:])
    folder = tmp_path / "idx"
    assert main(["index", str(corpus), "--out", str(folder), "--retrievers", "bm25", "--quiet"]) == 0
    return folder, more


def test_cli_add_and_delete(tmp_path, capsys):
    folder, more = bm25_index_and_more(tmp_path, 4, overlap=1)
    capsys.readouterr()
    assert main(["add", str(folder), str(more), "--quiet"]) == 2
    assert capsys.readouterr().err == (f"ranker: error: {more}: 1 of its ids already in the index (first: 'd4'): "
                                       "pass --replace to replace those articles\n")
    assert main(["add", str(folder), str(more), "--replace", "--quiet", "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert (done["added"], done["replaced"], done["documents"]) == (2, 1, 6)
    ids = tmp_path / "ids.txt"
    ids.write_text("d1\n\nd6\n")
    assert main(["delete", str(folder), "d2", "--ids", str(ids)]) == 0
    assert Index.open(folder).live_ids() == ["d3", "d4", "d5"]
    assert main(["delete", str(folder), "gone"]) == 2
    assert "ranker: error: ids to delete: 1 not in the index (first: 'gone')" in capsys.readouterr().err
    assert main(["delete", str(folder)]) == 2
    assert main(["search", str(folder), "Kim Jong Nam", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["hits"][0]["doc_id"] == "d5"


def test_a_long_lived_query_switches_to_the_new_version_between_queries(tmp_path, capsys):
    folder, more = bm25_index_and_more(tmp_path, 3)
    process = _ranker("query", folder, "--queries", "-", "--json", stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                      text=True)
    try:
        process.stdin.write("Kim Jong Nam airport\n")
        process.stdin.flush()
        first = json.loads(process.stdout.readline())
        assert all(h["doc_id"] != "d5" for h in first["hits"])
        assert main(["add", str(folder), str(more), "--quiet"]) == 0
        process.stdin.write("Kim Jong Nam airport\n")
        process.stdin.flush()
        second = json.loads(process.stdout.readline())
        assert second["hits"][0]["doc_id"] == "d5"
    finally:
        process.stdin.close()
        assert process.wait(timeout=60) == 0


def test_update_bench_at_toy_size(demo_world):
    """The benchmark's code (speed is never asserted): every stage timed on both sides."""
    from benchmarks.update_bench import markdown, measure

    row = measure(demo_world / "data/news", demo_world / "indexes/news", 60, 6)
    assert set(row["rebuild_seconds"]) == {"docstore", "bm25", "faiss", "encode (extrapolated)"}
    assert set(row["update_seconds"]) == {"encode", "commit"} and row["faiss_type"] == "flat"
    assert "| **total** |" in "\n".join(markdown(row))


def test_two_adds_at_once_both_land(tmp_path):
    """Each update reads the index only once it holds the lock: neither loses the other's articles."""
    corpus = articles(600)
    folder = tmp_path / "idx"
    build_index(corpus[:6], folder, BM25Config(), None, show_progress=False)
    files = []
    for name, part in (("a", corpus[6:300]), ("b", corpus[300:])):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("".join(json.dumps({"_id": a.doc_id, "title": a.title, "text": a.text}) + "\n" for a in part))
        files.append(path)
    processes = [_ranker("add", folder, path, "--quiet", stdout=subprocess.DEVNULL) for path in files]
    assert [p.wait(timeout=300) for p in processes] == [0, 0]
    assert sorted(Index.open(folder).live_ids()) == sorted(a.doc_id for a in corpus)
    assert verify(folder, (SEGMENTS, segment_problems)) == ("index", [])
    assert len(Index.open(folder).manifest["history"]) == 2


# -- found by probing by hand ------------------------------------------------------------


def test_an_update_through_a_symlink_updates_its_target_and_the_link_stays(tmp_path):
    folder = tmp_path / "idx"
    build_index(articles()[:3], folder, BM25Config(), None, show_progress=False)
    (tmp_path / "link").symlink_to(folder, target_is_directory=True)
    update_index(tmp_path / "link", add=articles()[3:], show_progress=False)
    assert (tmp_path / "link").is_symlink() and Index.open(folder).manifest["doc_count"] == 6
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx", "link"]


def test_an_add_never_touches_a_users_folder_named_like_its_scratch(tmp_path, tiny_model):
    folder = tmp_path / "didx"
    build_index(articles()[:3], folder, None, dense_config(tiny_model), show_progress=False)
    mine = tmp_path / ".didx.update-shards"
    mine.mkdir()
    (mine / "mine.txt").write_text("precious")
    update_index(folder, add=articles()[3:], show_progress=False)
    assert (mine / "mine.txt").read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == [".didx.update-shards", "didx"]


def test_what_a_killed_add_left_is_named_by_verify_and_removed_by_the_next_add(tmp_path, tiny_model):
    from ranker.core.integrity import verify_folders

    folder = tmp_path / "didx"
    build_index(articles()[:3], folder, None, dense_config(tiny_model), show_progress=False)
    # what an add killed while encoding leaves: its scratch folder, named with its (gone) pid
    left = tmp_path / ".didx.tmp-999999999-1a2b3c4d"
    left.mkdir()
    (left / "shard-00000.npy").write_bytes(b"half")
    assert verify_folders([folder])[0]["leftovers"] == [str(left)]
    update_index(folder, add=articles()[3:], show_progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["didx"]
    found = verify_folders([folder], (SEGMENTS, segment_problems))[0]
    assert found == {"folder": str(folder), "kind": "index", "ok": True, "problems": [], "leftovers": []}


def test_a_build_waits_for_an_update_in_flight(tmp_path):
    """A rebuild and an update of one folder take the same lock: one after the other."""
    from ranker.core.files import one_writer

    folder = tmp_path / "idx"
    build_index(articles()[:3], folder, BM25Config(), None, show_progress=False)
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"_id": "x", "title": "X", "text": "oil prices"}) + "\n")
    with one_writer(folder):  # as an update holds it
        process = _ranker("index", corpus, "--out", folder, "--retrievers", "bm25", "--quiet",
                          stdout=subprocess.DEVNULL)
        time.sleep(3)
        assert process.poll() is None and Index.open(folder).manifest["doc_count"] == 3  # still waiting
    assert process.wait(timeout=120) == 0 and Index.open(folder).doc_ids() == ["x"]


def test_the_library_keeps_a_users_files_and_checks_ids(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "cat.jpg").write_bytes(b"\xff\xd8")
    notes = tmp_path / "notes.txt"
    notes.write_text("mine")
    for out in (photos, notes):
        with pytest.raises(InputError, match="not a ranker index|a folder is written here"):
            build_index(articles()[:2], out, show_progress=False)
    assert (photos / "cat.jpg").read_bytes() == b"\xff\xd8" and notes.read_text() == "mine"
    with pytest.raises(InputError, match="article 2: duplicate id 'd1'"):
        build_index([articles()[0], articles()[0]], tmp_path / "idx", show_progress=False)
    with pytest.raises(InputError, match="article 1: id 'a b' holds whitespace"):
        build_index([Article("a b", "", "oil")], tmp_path / "idx", show_progress=False)
    with pytest.raises(InputError, match="no article has a title"):
        build_index([Article("a", "", "oil")], tmp_path / "idx", fields=("title",), show_progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "photos"]


def test_a_huge_title_boost_is_one_line(tmp_path, capsys):
    assert main(["index", str(tmp_path / "c.jsonl"), "--out", str(tmp_path / "i"), "--title-boost", "99999999999"]) == 2
    assert "--title-boost: must be a whole number from 1 to 10" in capsys.readouterr().err


def test_an_update_checks_its_articles_as_a_build_does(tmp_path):
    folder = tmp_path / "idx"
    build_index(articles()[:2], folder, BM25Config(), None, show_progress=False)
    twice = Article("n1", "", "oil again", {})
    with pytest.raises(InputError, match="duplicate id 'n1'"):
        update_index(folder, add=[twice, twice], show_progress=False)
    with pytest.raises(InputError, match="id 'n 2' holds whitespace"):
        update_index(folder, add=[Article("n 2", "", "gas", {})], show_progress=False)
    assert Index.open(folder).doc_ids() == ["d1", "d2"]
