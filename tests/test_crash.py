"""kill -9 at any moment: the previous artifact stays intact and loadable.

A rebuild of an index is killed with SIGKILL at several moments of its life
(importing, reading, indexing, writing, swapping); afterwards the folder is
always either the previous index or the complete new one, opens (every sha256
checked) and answers a query, and the next build cleans what the killed one
left beside it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import random_corpus
from ranker.index.folder import Index

# Moments to kill at, as fractions of an uninterrupted build's time on this machine
# (so a slower machine still sees kills while importing, indexing and writing).
KILL_AT = (0.2, 0.4, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98)


def corpus(path, n, seed):
    path.write_text("".join(json.dumps({"_id": f"d{i}", "text": t}) + "\n"
                            for i, t in enumerate(random_corpus(n, seed=seed))))
    return path


def index_command(source, out):
    return [sys.executable, "-m", "ranker", "index", str(source), "--out", str(out), "--retrievers", "bm25", "--quiet"]


@pytest.mark.timeout(240)
def test_index_killed_at_any_moment_leaves_the_old_or_the_new_index(tmp_path):
    old, new, out = corpus(tmp_path / "old.jsonl", 300, 1), corpus(tmp_path / "new.jsonl", 20_000, 2), tmp_path / "idx"
    began = time.perf_counter()
    subprocess.run(index_command(new, out), check=True, capture_output=True)
    whole = time.perf_counter() - began
    subprocess.run(index_command(old, out), check=True, capture_output=True)
    outcomes = []
    for fraction in KILL_AT:
        process = subprocess.Popen(index_command(new, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(fraction * whole)
        finished = process.poll() is not None
        if not finished:
            os.kill(process.pid, signal.SIGKILL)
        process.wait()
        writing = any(p.name.startswith(".idx.tmp-") for p in tmp_path.iterdir())
        index = Index.open(out)  # raises if any file is missing or half-written
        count = index.manifest["doc_count"]
        assert count in (300, 20_000)
        assert index.retriever("bm25").search(["w001x"], 3).rows.shape == (1, 3)
        outcomes.append("finished" if finished else "new" if count == 20_000
                        else "old, mid-write" if writing else "old")
        if count == 20_000:
            # the swap happened: put the old index back for the next round
            subprocess.run(index_command(old, out), check=True, capture_output=True)
    # some kills landed while the new folder was being written beside the old one
    assert "old, mid-write" in outcomes, outcomes
    subprocess.run(index_command(old, out), check=True, capture_output=True)
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".idx")]
    assert leftovers == [], leftovers


def train_command(mined, index, out, tiny_bert, *extra):
    return [sys.executable, "-m", "ranker", "train", "reranker", "--groups", str(mined), "--index", str(index),
            "--out", str(out), "--model", str(tiny_bert), "--epochs", "40", "--batch-size", "2", "--max-length", "32",
            "--checkpoint-every", "10", "--seed", "5", "--precision", "fp32", "--quiet", *extra]


@pytest.mark.timeout(300)
def test_training_killed_at_any_moment_resumes_to_the_uninterrupted_weights(tmp_path, beir_folder, tiny_bert):
    import torch
    from safetensors.torch import load_file

    from ranker.cli import main

    index, mined = tmp_path / "idx", tmp_path / "mined"
    assert main(["index", str(beir_folder), "--out", str(index), "--retrievers", "bm25", "--quiet"]) == 0
    assert main(["mine", str(index), "--queries", str(beir_folder), "--split", "test", "--out", str(mined),
                 "--strategy", "bm25", "--negatives", "2", "--relative-margin", "-1", "--quiet"]) == 0
    # The first run after an install pays for cold imports (compiling .pyc files) and can take
    # twice as long as those after it; kills timed against it would land after later runs end.
    # So time a second, warm run.
    subprocess.run(train_command(mined, index, tmp_path / "warm-up", tiny_bert), check=True, capture_output=True)
    began = time.perf_counter()
    subprocess.run(train_command(mined, index, tmp_path / "straight", tiny_bert), check=True, capture_output=True)
    whole = time.perf_counter() - began
    straight = load_file(str(tmp_path / "straight" / "model" / "model.safetensors"))
    resumed_after_kill = 0
    for fraction in (0.5, 0.7, 0.85):
        out = tmp_path / f"killed-{fraction}"
        process = subprocess.Popen(train_command(mined, index, out, tiny_bert), stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        time.sleep(fraction * whole)
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait()
        checkpoint = out / "checkpoint" / "state.json"
        # what the kill left is usable: a whole checkpoint to resume, or nothing to resume from
        extra = ("--resume",) if checkpoint.is_file() else ()
        resumed_after_kill += bool(extra)
        subprocess.run(train_command(mined, index, out, tiny_bert, *extra), check=True, capture_output=True)
        weights = load_file(str(out / "model" / "model.safetensors"))
        for name in straight:
            torch.testing.assert_close(weights[name], straight[name], rtol=0, atol=1e-6, msg=name)
    assert resumed_after_kill, "no kill landed after a checkpoint: the run is too short to test resuming"


def test_a_rebuild_while_open_is_never_mixed_with_the_old_index(tmp_path):
    from ranker.core.errors import InputError
    from ranker.data.records import Article
    from ranker.index.folder import build_index

    old = [Article(f"o{i}", "", t) for i, t in enumerate(random_corpus(50, seed=1))]
    new = [Article(f"n{i}", "", t) for i, t in enumerate(random_corpus(80, seed=2))]
    build_index(old, tmp_path / "idx", show_progress=False)
    loaded, lazy = Index.open(tmp_path / "idx"), Index.open(tmp_path / "idx")
    bm25 = loaded.bm25()
    build_index(new, tmp_path / "idx", show_progress=False)
    # loaded before the rebuild: keeps answering from the old index, documents included
    rows = bm25.search(["w001x w002x"], 5).rows[0]
    assert {a.doc_id[0] for a in loaded.docs.get([r for r in rows if r >= 0])} == {"o"}
    # opened before, loading after: refused rather than new arrays over old documents
    with pytest.raises(InputError, match="rebuilt or updated while this process had it open: open it again"):
        lazy.bm25()
    assert Index.open(tmp_path / "idx").manifest["doc_count"] == 80
