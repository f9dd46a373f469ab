"""Index and model folders list the sha256 of their files: loading refuses a changed,
truncated or missing file with a one-line error naming it, and `ranker verify` reports
every problem with exit status 2."""

from __future__ import annotations

import json

import pytest

from ranker.cli import main
from ranker.core.errors import InputError
from ranker.index.folder import Index, build_index


@pytest.fixture
def index(tmp_path, news_articles):
    build_index(news_articles, tmp_path / "idx", show_progress=False)
    return tmp_path / "idx"


@pytest.fixture
def model(tmp_path, tiny_bert):
    from ranker.models.checkpoints import load_pair_scorer, load_tokenizer, save_model

    folder = tmp_path / "model"
    folder.mkdir()
    save_model(load_pair_scorer(str(tiny_bert)), load_tokenizer(str(tiny_bert)), folder, {"task": "reranker"})
    return folder


def flip_last_byte(path):
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", ["changed", "truncated", "missing"])
def test_a_damaged_index_file_is_refused_by_name(index, damage):
    target = index / "bm25" / "params.index.json"
    assert target.is_file()
    if damage == "changed":
        flip_last_byte(target)
    elif damage == "truncated":
        target.write_bytes(target.read_bytes()[:-5])
    else:
        target.unlink()
    with pytest.raises(InputError) as err:
        Index.open(index)
    expected = "missing" if damage == "missing" else "sha256 differs from the list (changed or truncated)"
    assert str(err.value) == (f"{target}: {expected}; the index changed after it was built: "
                              "restore the file or rebuild the index")


def test_an_index_is_hashed_once_and_a_file_written_since_is_hashed_again(index, monkeypatch):
    import os

    import ranker.core.integrity

    hashed = []
    real = ranker.core.integrity.problems
    monkeypatch.setattr(ranker.core.integrity, "problems", lambda *a, **k: hashed.append(1) or real(*a, **k))
    monkeypatch.setattr(ranker.core.integrity, "_CHECKED", set())  # as a new process: only the cache remembers
    Index.open(index)
    assert hashed == []  # the build hashed its files and recorded them as they are
    # the same size, the same modification time, one byte different: the change time still moves
    target = index / "bm25" / "data.csc.index.npy"
    before = target.stat()
    flip_last_byte(target)
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert (target.stat().st_size, target.stat().st_mtime_ns) == (before.st_size, before.st_mtime_ns)
    with pytest.raises(InputError, match="data.csc.index.npy: sha256 differs from the list"):
        Index.open(index)
    assert hashed == [1]
    flip_last_byte(target)  # put back: hashed once more, then remembered again
    Index.open(index)
    Index.open(index)
    assert hashed == [1, 1]


def test_a_file_changed_while_its_list_is_written_is_not_vouched_for(tmp_path, monkeypatch):
    import ranker.core.integrity
    from ranker.core.integrity import check, write_listed

    (tmp_path / "w.bin").write_bytes(b"weights")
    real = ranker.core.integrity.file_hashes

    def hash_then_change(folder, leave_out):
        hashes = real(folder, leave_out)
        (tmp_path / "w.bin").write_bytes(b"WEIGHTS")  # a write lands between the hashing and the list
        return hashes

    monkeypatch.setattr(ranker.core.integrity, "file_hashes", hash_then_change)
    about = write_listed(tmp_path, "ranker.json", {"task": "demo"})
    monkeypatch.setattr(ranker.core.integrity, "_CHECKED", set())
    with pytest.raises(InputError, match="w.bin: sha256 differs"):
        check(tmp_path, about["files"], "retrain")


def test_no_usable_cache_means_hashing_not_failing(index, monkeypatch):
    import ranker.core.files
    import ranker.core.integrity

    def no_home():
        raise RuntimeError("Could not determine home directory.")  # what Path.home() raises without HOME or passwd

    monkeypatch.setattr(ranker.core.files, "cache_root", no_home)
    monkeypatch.setattr(ranker.core.integrity, "_CHECKED", set())
    assert Index.open(index).manifest["doc_count"] > 0


def test_a_manifest_without_its_file_list_is_refused(index):
    manifest = json.loads((index / "manifest.json").read_text())
    del manifest["files"]
    (index / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InputError, match="manifest.json: no file list with sha256s: .*: rebuild the index"):
        Index.open(index)


def test_a_changed_model_is_refused_before_it_loads(model):
    from ranker.models.checkpoints import load_pair_scorer
    from ranker.rerank.reranker import RerankConfig, Reranker

    load_pair_scorer(str(model))  # intact: loads
    flip_last_byte(model / "model.safetensors")
    for load in (lambda: load_pair_scorer(str(model)), lambda: Reranker(RerankConfig(model=str(model)))):
        with pytest.raises(InputError, match="model.safetensors: sha256 differs from the list.*retrain"):
            load()


def test_verify_reports_every_problem_and_exits_2(index, model, capsys):
    assert main(["verify", str(index), str(model)]) == 0
    assert capsys.readouterr().out == f"ok: index {index}\nok: model {model}\n"
    flip_last_byte(index / "docs.sqlite")
    (index / "stray.txt").write_text("x")
    (model / "tokenizer.json").unlink()
    assert main(["verify", str(index), str(model), "--json"]) == 2
    found = json.loads(capsys.readouterr().out)
    assert found[0]["problems"] == ["docs.sqlite: sha256 differs from the list (changed or truncated)",
                                    "stray.txt: not in the list"]
    assert found[1] == {"folder": str(model), "kind": "model", "ok": False, "problems": ["tokenizer.json: missing"],
                        "leftovers": []}
    assert main(["verify", str(index.parent)]) == 2
    assert ("not an index (manifest.json), a trained model (ranker.json) or mined tables (mining.json)"
            in capsys.readouterr().out)


class Bomb:
    """Unpickling this runs a shell command that creates a file: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def rehash(index):
    """Update the manifest's sha256s and checksum, as an attacker who can write the folder would."""
    from ranker.core.integrity import write_listed

    write_listed(index, "manifest.json", json.loads((index / "manifest.json").read_text()))


def test_a_pickle_bomb_in_an_index_is_refused_and_never_runs(index, tmp_path):
    import numpy as np

    marker = tmp_path / "ran"
    bomb = np.empty(1, dtype=object)
    bomb[0] = Bomb(marker)
    np.save(index / "bm25" / "data.csc.index.npy", bomb, allow_pickle=True)
    rehash(index)  # the sha256 check passes: only the loader stands between the bomb and us
    # refused by numpy either way: memory-mapped (as BM25 opens) it cannot map Python objects
    with pytest.raises(InputError, match=r"bm25: not a readable bm25s index .*(allow_pickle=False|Python objects)"):
        Index.open(index).bm25()
    assert not marker.exists()


def test_a_pickled_model_checkpoint_is_refused_and_never_runs(model, tmp_path):
    import pickle

    from ranker.models.checkpoints import load_pair_scorer

    marker = tmp_path / "ran"
    (model / "model.safetensors").unlink()
    (model / "pytorch_model.bin").write_bytes(pickle.dumps(Bomb(marker)))
    # a description rewritten to list the swapped files: only the loader stands in the way
    rehash_model = json.loads((model / "ranker.json").read_text())
    from ranker.core.integrity import write_listed

    write_listed(model, "ranker.json", rehash_model)
    with pytest.raises(InputError, match="cannot load a transformers model with safetensors weights"):
        load_pair_scorer(str(model))
    assert not marker.exists()


def test_no_code_path_reads_pickle_or_remote_code():
    from pathlib import Path

    import ranker

    sources = {p: p.read_text() for p in Path(ranker.__file__).parent.rglob("*.py")}
    for path, text in sources.items():
        for forbidden in ("import pickle", "pickle.load", "allow_pickle=True", "trust_remote_code=True", "torch.load("):
            assert forbidden not in text, f"{path} uses {forbidden}"


def test_a_changed_checkpoint_is_refused_on_resume(tmp_path, tiny_bert):
    from ranker.train.loop import TrainConfig, fit
    from tests.test_reranker import make_task

    config = TrainConfig(max_steps=4, checkpoint_every=2, precision="fp32")
    assert fit(make_task(tiny_bert), config, tmp_path / "run", stop_after=3, show_progress=False) == {"stopped_at": 3}
    flip_last_byte(tmp_path / "run" / "checkpoint" / "optimizer.safetensors")
    with pytest.raises(InputError, match="optimizer.safetensors: sha256 differs from the list.*without --resume"):
        fit(make_task(tiny_bert), config, tmp_path / "run", resume=True, show_progress=False)
