"""Index folders that take changes as segments (issue 37): ranker add/delete/merge through
the library and the CLI, against fresh builds of the same articles."""

from __future__ import annotations

import json
import random
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from ranker.cli import main
from ranker.core.integrity import verify, write_listed
from ranker.index.folder import Index, build_index
from ranker.index.segmented import SEGMENTS, segment_problems, store_of
from ranker.index.update import merge_index, update_index
from ranker.retrieve.bm25 import BM25Config
from tests.test_update import _ranker, articles, check_against_fresh, dense_config, results


def _verified(folder: Path) -> None:
    assert verify(folder, (SEGMENTS, segment_problems)) == ("index", [])


@pytest.mark.timeout(600)
@pytest.mark.parametrize("seed", [1, 2])
def test_random_adds_deletes_replaces_and_merges_equal_a_fresh_build(seed, tmp_path, tiny_model):
    rng = random.Random(seed)
    pool = articles(60)
    dense = dense_config(tiny_model)
    folder = tmp_path / "idx"
    expected = pool[:20]
    build_index(expected, folder, BM25Config(), dense, show_progress=False)
    fresh_ids = iter(range(1000))
    for _ in range(7):
        held = [a.doc_id for a in expected]
        unused = [a for a in pool if a.doc_id not in held]
        action = rng.choice(["add", "delete", "replace", "merge"])
        if action == "add" and unused:
            new = rng.sample(unused, min(len(unused), rng.randint(1, 6)))
            update_index(folder, add=new, show_progress=False)
            expected = expected + new
        elif action == "delete" and len(held) > 3:
            gone = set(rng.sample(held, rng.randint(1, 3)))
            update_index(folder, delete=sorted(gone), show_progress=False)
            expected = [a for a in expected if a.doc_id not in gone]
        elif action == "replace":
            old = rng.choice(expected)
            new = type(old)(old.doc_id, f"changed {next(fresh_ids)}", old.text + " w001x", {})
            update_index(folder, add=[new], replace=True, show_progress=False)
            expected = [a for a in expected if a.doc_id != old.doc_id] + [new]
        else:
            segments = len(store_of(folder).current().segments) if store_of(folder) else 1
            merge_index(folder, max_segments=max(1, rng.randint(1, segments)), show_progress=False)
        check_against_fresh(folder, expected, tmp_path, dense)
    merge_index(folder, show_progress=False)  # one segment: the folder written whole, as a build writes it
    assert not (folder / SEGMENTS).exists()
    check_against_fresh(folder, expected, tmp_path, dense)


def _bm25_index(tmp_path: Path, n: int = 12) -> tuple[Path, list]:
    corpus = articles(n)
    folder = tmp_path / "idx"
    build_index(corpus[:6], folder, BM25Config(), None, show_progress=False)
    return folder, corpus


def _jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps({"_id": a.doc_id, "title": a.title, "text": a.text}) + "\n" for a in rows))
    return path


def test_ranker_merge_folds_segments_and_expunges_deleted_text(tmp_path, capsys):
    folder, corpus = _bm25_index(tmp_path)
    for at in (6, 8, 10):
        assert main(["add", str(folder), str(_jsonl(tmp_path / f"{at}.jsonl", corpus[at:at + 2])), "--quiet"]) == 0
    secret = "w777secretx"
    assert main(["add", str(folder), str(_jsonl(tmp_path / "s.jsonl", [type(corpus[0])("gone", "", secret)])),
                 "--quiet"]) == 0
    assert main(["delete", str(folder), "gone", "d1", "--quiet"]) == 0
    capsys.readouterr()
    before = results(folder)
    assert main(["merge", str(folder), "--max-segments", "3", "--json"]) == 0
    done = json.loads(capsys.readouterr().out)
    assert (done["segments_before"], done["segments"], done["documents"]) == (5, 3, 11)
    assert results(folder) == before
    _verified(folder)
    # the base still holds d1's text; the merged segments no longer hold "gone"'s
    on_disk = b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())
    assert secret.encode() not in on_disk
    assert main(["merge", str(folder), "--max-segments", "3", "--expunge-deletes"]) == 0
    assert not (folder / SEGMENTS).exists()  # the base held a deleted article: written whole again
    on_disk = b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())
    assert NEWS_D1_WORDS.encode() not in on_disk and results(folder) == before
    _verified(folder)
    assert main(["merge", str(folder), "--max-segments", "0"]) == 2
    assert "--max-segments" in capsys.readouterr().err


#: Words of article d1 that no other article holds (tests/conftest.py's NEWS).
NEWS_D1_WORDS = "OPEC failed to agree"


def test_an_index_built_before_segments_is_written_once_then_takes_segments(tmp_path, capsys):
    folder, corpus = _bm25_index(tmp_path)
    for name in ("tf.npy", "lengths.npy"):  # what a build before issue 37 wrote
        (folder / "bm25" / name).unlink()
    manifest = json.loads((folder / "manifest.json").read_text())
    write_listed(folder, "manifest.json", manifest)
    _verified(folder)
    capsys.readouterr()
    assert main(["add", str(folder), str(_jsonl(tmp_path / "a.jsonl", corpus[6:8]))]) == 0
    assert "built before segments: it is written again once" in capsys.readouterr().err
    assert (folder / "bm25" / "tf.npy").is_file() and not (folder / SEGMENTS).exists()
    assert main(["add", str(folder), str(_jsonl(tmp_path / "b.jsonl", corpus[8:10])), "--quiet"]) == 0
    assert (folder / SEGMENTS).is_dir() and Index.open(folder).live_ids() == [a.doc_id for a in corpus[:10]]
    _verified(folder)


def test_a_reader_keeps_its_generation_while_merges_remove_its_files(tmp_path):
    folder, corpus = _bm25_index(tmp_path)
    update_index(folder, add=corpus[6:8], show_progress=False)
    reader = Index.open(folder)
    retriever = reader.bm25()
    before = retriever.search(["w001x w002x", "oil prices"], 5)
    first = [reader.docs.get([r])[0].doc_id for r in before.rows[0] if r >= 0]
    update_index(folder, add=corpus[8:10], delete=["d2"], show_progress=False)
    merge_index(folder, max_segments=2, show_progress=False)
    update_index(folder, add=corpus[10:12], show_progress=False)
    assert (folder / SEGMENTS / "seg-000001").is_dir()  # merged away, but the reader holds it
    again = retriever.search(["w001x w002x", "oil prices"], 5)
    np.testing.assert_array_equal(again.rows, before.rows)
    assert [reader.docs.get([r])[0].doc_id for r in again.rows[0] if r >= 0] == first
    assert not reader.is_current()
    _verified(folder)
    reader.docs.close()  # the reader lets go: the next commit removes what only it held
    update_index(folder, delete=["d4"], show_progress=False)
    assert not (folder / SEGMENTS / "seg-000001").exists()
    assert len(store_of(folder).numbers()) == 1


@pytest.mark.timeout(600)
def test_a_killed_merge_leaves_a_whole_generation_and_the_next_commit_no_stray_file(tmp_path):
    folder, corpus = _bm25_index(tmp_path, 400)
    for at in range(6, 400, 80):
        update_index(folder, add=corpus[at:at + 80], show_progress=False)
    update_index(folder, delete=["r7", "r100"], show_progress=False)
    want = Index.open(folder).live_ids()
    before = results(folder)
    began = time.monotonic()
    assert _ranker("merge", folder, "--max-segments", "2", "--quiet").wait(timeout=300) == 0
    whole = time.monotonic() - began
    for fraction in (0.3, 0.6, 0.8, 0.95):
        build_index(corpus[:6], folder, BM25Config(), None, show_progress=False)
        for at in range(6, 400, 80):
            update_index(folder, add=corpus[at:at + 80], show_progress=False)
        update_index(folder, delete=["r7", "r100"], show_progress=False)
        process = _ranker("merge", folder, "--max-segments", "2", "--quiet")
        time.sleep(whole * fraction)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        _verified(folder)
        assert Index.open(folder).live_ids() == want and results(folder) == before
        update_index(folder, add=[type(corpus[0])("after", "", "w001x")], show_progress=False)
        _verified(folder)
        named = (store_of(folder).current().files() - {"base"}) | {"store.json"}
        assert {p.name for p in (folder / SEGMENTS).iterdir()} == named


def test_stats_and_verify_name_segments_and_damage(tmp_path, capsys):
    folder, corpus = _bm25_index(tmp_path)
    update_index(folder, add=corpus[6:9], delete=["d3"], show_progress=False)
    index = Index.open(folder)
    assert (index.manifest["doc_count"], index.manifest["segments"], index.manifest["deleted"]) == (8, 2, 1)
    segment = next(p for p in (folder / SEGMENTS).iterdir() if p.name.startswith("seg-"))
    with open(segment / "docs.sqlite", "r+b") as handle:
        handle.truncate(100)
    assert main(["verify", str(folder)]) == 2
    assert f"segments/{segment.name}/docs.sqlite: sha256 differs" in capsys.readouterr().out
    marks = next((folder / SEGMENTS).glob("base.del-*.npy"))
    marks.write_bytes(marks.read_bytes()[:-1] + b"\x01")
    assert any("unreadable deletion marks" in p for p in segment_problems(folder))


@pytest.mark.timeout(300)
def test_serve_merges_small_segments_in_the_background_and_answers_meanwhile(tmp_path):
    from tests.test_serve import call, serving_index

    folder, corpus = _bm25_index(tmp_path, 30)
    for at in range(6, 30, 2):  # twelve small segments beside the build's
        update_index(folder, add=corpus[at:at + 2], show_progress=False)
    with serving_index(folder, merge_every=0.2, watch_every=0.1) as url:
        deadline, stats = time.monotonic() + 120, {}
        while time.monotonic() < deadline:
            status, stats = call(url, "/stats")
            assert status == 200 and call(url, "/search?q=w001x+w002x&k=5&retriever=bm25")[0] == 200
            if stats["index"]["segments"] == 2 and stats["index"]["merges"]:  # loaded, and the merge's end seen
                break
            time.sleep(0.1)
        assert stats["index"]["merges"] >= 1 and stats["index"]["segments"] == 2, stats
        assert stats["index"]["documents"] == 30 and not stats["index"]["failed"]
    assert Index.open(folder).live_ids() == [a.doc_id for a in corpus[:30]]
    _verified(folder)


def test_a_new_generation_opened_with_reuse_shares_the_build_and_answers_as_a_fresh_open(tmp_path, tiny_model):
    corpus = articles(20)
    folder = tmp_path / "idx"
    build_index(corpus[:10], folder, BM25Config(), dense_config(tiny_model), show_progress=False)
    update_index(folder, add=corpus[10:14], show_progress=False)
    old = Index.open(folder)
    old.retriever("hybrid")
    update_index(folder, add=corpus[14:], delete=["d1"], show_progress=False)
    new, fresh = Index.open(folder, reuse=old), Index.open(folder)
    assert new.dense().base is old.dense().base  # the build's retriever and model, not loaded again
    assert new.segments.cache[("faiss", "seg-000001")] is old.segments.cache[("faiss", "seg-000001")]
    for name in ("bm25", "dense", "hybrid"):
        got, want = new.retriever(name).search(["oil prices", "w001x"], 8), fresh.retriever(name).search(
            ["oil prices", "w001x"], 8)
        np.testing.assert_array_equal(got.rows, want.rows)
        np.testing.assert_allclose(got.scores, want.scores, rtol=0, atol=1e-6)
    merge_index(folder, show_progress=False)  # a new build: nothing of the old one is taken over
    assert Index.open(folder, reuse=new).shared == {}


def test_segments_of_another_index_or_a_newer_ranker_are_refused_in_one_line(tmp_path, capsys):
    import shutil

    folder, corpus = _bm25_index(tmp_path)
    other = tmp_path / "other"
    build_index(corpus[:6], other, BM25Config(k1=2.0), None, show_progress=False)
    update_index(other, add=corpus[6:8], show_progress=False)
    shutil.copytree(other / SEGMENTS, folder / SEGMENTS)
    capsys.readouterr()
    assert main(["search", str(folder), "oil"]) == 2
    assert "segments built with other bm25 settings than this index's" in capsys.readouterr().err
    shutil.rmtree(folder / SEGMENTS)
    update_index(folder, add=corpus[6:8], show_progress=False)
    settings = json.loads((folder / SEGMENTS / "store.json").read_text())
    (folder / SEGMENTS / "store.json").write_text(json.dumps({**settings, "format_version": 99}))
    assert main(["search", str(folder), "oil"]) == 2
    assert "written by a newer ranker (format version 99" in capsys.readouterr().err
