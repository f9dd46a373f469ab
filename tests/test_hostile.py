"""A hostile user: nothing a user owns is ever destroyed, and nothing is silently wrong.

Every case asserts the exact outcome: the right result, or exactly one line on
stderr ("ranker...error: ..."), exit status 2, no traceback (in-process: ``main``
returns 2 and raises nothing), and no file created, changed or removed outside
the command's own output. The folders holding the inputs are snapshotted
(every file's bytes, a marker per folder and symlink) before and after.

Sections: 1 output paths, 2 ids and text, 3 arguments checked first,
4 no traceback reaches a user, 5 quietly wrong becomes loud, 6 long-lived query mode.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import NEWS
from ranker.cli import main

DIR = b"<dir>"
SENTINEL = b"a user's own notes: never touch\n"
NOTES = b"my notes\n"


# -- helpers ------------------------------------------------------------------------


def snapshot(folder: str | Path, exclude: tuple[str, ...] = ()) -> dict[str, bytes]:
    """Every file under ``folder`` (relative path -> bytes), a marker for each folder and
    symlink (not followed); ``exclude``: relative paths left out with all below them."""
    folder = Path(folder)
    found: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        for name in sorted(dirnames + filenames):
            path = Path(dirpath) / name
            rel = path.relative_to(folder).as_posix()
            if any(rel == e or rel.startswith(e.rstrip("/") + "/") for e in exclude):
                continue
            if path.is_symlink():
                found[rel] = b"<symlink>" + os.fsencode(os.readlink(path))
            elif path.is_dir():
                found[rel] = DIR
            else:
                found[rel] = path.read_bytes()
    return found


def call(capsys, *argv) -> tuple[int, str, str]:
    """``main(argv)`` in this process: (exit status, stdout, stderr). It must return, never raise."""
    args = [str(a) for a in argv]
    try:
        code = main(args)
    except SystemExit as exit:  # argparse's way; a user still sees usage lines
        captured = capsys.readouterr()
        pytest.fail(f"main({args}) raised SystemExit({exit.code}) instead of returning; stderr: {captured.err!r}")
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def error_line(code: int, err: str, *needles: str, starts: str | None = None) -> str:
    """Assert exit 2 and exactly one stderr line 'ranker...error: ...' holding every needle; return it."""
    assert code == 2, f"exit {code}, stderr: {err!r}"
    assert "Traceback" not in err, err
    assert err.endswith("\n") and err.count("\n") == 1, f"not exactly one line on stderr: {err!r}"
    line = err.rstrip("\n")
    assert line.startswith("ranker") and "error:" in line, line
    if starts is not None:
        assert line.startswith(starts), f"{line!r} does not start with {starts!r}"
    for needle in needles:
        assert needle in line, f"{needle!r} not in {line!r}"
    return line


def refused_out(code: int, err: str, out: str | Path, *needles: str) -> str:
    """A refusal naming the --out path as the user gave it: 'ranker: error: OUT: problem'."""
    return error_line(code, err, *needles, starts=f"ranker: error: {out}: ")


def one_of(line: str, *options: str) -> None:
    assert any(o in line for o in options), f"none of {options} in {line!r}"


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def copy_world(world: Path, tmp_path: Path) -> Path:
    w = tmp_path / "w"
    shutil.copytree(world, w, symlinks=True)
    return w


def no_download(monkeypatch) -> None:
    """``ranker data news`` must refuse before any work: reading the packaged source is work."""

    def boom(*args, **kwargs):
        raise AssertionError("ranker data news started its work (reading the source) before refusing --out")

    monkeypatch.setattr("ranker.data.datasets.news.read_packaged_file", boom)


# -- shared inputs (built once; tests that write copy them) ---------------------------


SQUAD = {"version": "1.1", "data": [{"title": "oil", "paragraphs": [
    {"context": "Oil prices fell sharply after OPEC failed to agree.",
     "qas": [{"id": "1", "question": "What fell?", "answers": [{"text": "Oil prices", "answer_start": 0}]}]},
    {"context": "Britain formally triggered Article 50.",
     "qas": [{"id": "2", "question": "Who triggered Article 50?",
              "answers": [{"text": "Britain", "answer_start": 0}]}]},
]}]}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Path:
    """beir/ (six articles), queries.tsv, idx/ (BM25), run.trec (+ meta, by ranker run),
    report/, mined/, training files, user/sentinel.txt, notes.txt."""
    w = tmp_path_factory.mktemp("world")
    beir = w / "beir"
    write_jsonl(beir / "corpus.jsonl",
                [{"_id": d, "title": t, "text": x, "metadata": {"outlet": "Test"}} for d, t, x in NEWS])
    write_jsonl(beir / "queries.jsonl", [{"_id": f"t{d}", "text": t} for d, t, _ in NEWS])
    (beir / "qrels").mkdir()
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n"
                                            + "".join(f"t{d}\t{d}\t1\n" for d, _, _ in NEWS))
    (w / "queries.tsv").write_text("".join(f"t{d}\t{t}\n" for d, t, _ in NEWS))
    (w / "cls.tsv").write_text("".join(f"{'oil' if 'il' in t else 'other'}\t{t}\n" for _, t, _ in NEWS))
    (w / "pairs.tsv").write_text("sentence1\tsentence2\tscore\n"
                                 + "".join(f"{t}\t{x}\t{i % 5}\n" for i, (_, t, x) in enumerate(NEWS)))
    (w / "tag.txt").write_text("The/DT cat/NN sat/VBD\nOil/NN prices/NNS fell/VBD\n")
    (w / "qa.json").write_text(json.dumps(SQUAD))
    (w / "user").mkdir()
    (w / "user" / "sentinel.txt").write_bytes(SENTINEL)
    (w / "notes.txt").write_bytes(NOTES)
    assert main(["index", str(beir), "--out", str(w / "idx"), "--retrievers", "bm25", "--quiet"]) == 0
    assert main(["run", str(w / "idx"), "--queries", str(beir), "--split", "test", "--retriever", "bm25",
                 "--out", str(w / "run.trec"), "--quiet"]) == 0
    assert (w / "run.trec.meta.json").is_file()
    assert main(["report", str(w / "run.trec"), "--qrels", str(beir / "qrels" / "test.tsv"),
                 "--out", str(w / "report")]) == 0
    assert main(["mine", str(w / "idx"), "--queries", str(beir), "--split", "test", "--out", str(w / "mined"),
                 "--strategy", "bm25", "--negatives", "1", "--relative-margin", "-1", "--quiet"]) == 0
    return w


@pytest.fixture(scope="module")
def trained_classify(tmp_path_factory, world, tiny_bert) -> Path:
    """OUT/model of 'ranker train classify --max-steps 1' (read-only: copy it to change it)."""
    out = tmp_path_factory.mktemp("trained") / "cls"
    assert main(["train", "classify", "--train", str(world / "cls.tsv"), "--out", str(out), "--model", str(tiny_bert),
                 "--max-length", "16", "--max-steps", "1", "--batch-size", "2", "--quiet"]) == 0
    return out / "model"


def writer(kind: str, w: Path, out, bert: Path, st: Path) -> list[str]:
    """The command line of each writing command, its inputs in ``w``, writing to ``out``."""
    train = ["--max-steps", "1", "--batch-size", "2", "--max-length", "16", "--quiet"]
    commands = {
        "index": ["index", w / "beir", "--out", out, "--retrievers", "bm25", "--quiet"],
        "run": ["run", w / "idx", "--queries", w / "queries.tsv", "--retriever", "bm25", "--out", out, "--quiet"],
        "report": ["report", w / "run.trec", "--qrels", w / "beir" / "qrels" / "test.tsv", "--out", out],
        "mine": ["mine", w / "idx", "--queries", w / "beir", "--split", "test", "--strategy", "bm25",
                 "--negatives", "1", "--relative-margin", "-1", "--out", out, "--quiet"],
        "train classify": ["train", "classify", "--train", w / "cls.tsv", "--model", bert, "--out", out, *train],
        "train pairs": ["train", "pairs", "--train", w / "pairs.tsv", "--model", bert, "--out", out, *train],
        "train tag": ["train", "tag", "--train", w / "tag.txt", "--model", bert, "--out", out, *train],
        "train qa": ["train", "qa", "--train", w / "qa.json", "--model", bert, "--out", out, *train],
        "train reranker": ["train", "reranker", "--groups", w / "mined", "--index", w / "idx", "--model", bert,
                           "--out", out, *train],
        "train embedder": ["train", "embedder", "--groups", w / "mined", "--index", w / "idx", "--model", st,
                           "--out", out, *train],
        "data news": ["data", "news", "--out", out, "--cache", w / "cache"],
    }
    return [str(a) for a in commands[kind]]


#: Each writing command's main input (relative to the world), for "--out is its own input".
OWN_INPUT = {"index": "beir", "run": "queries.tsv", "report": "run.trec", "mine": "idx",
             "train classify": "cls.tsv", "train reranker": "mined"}


# == 1. Output paths ===================================================================


@pytest.mark.parametrize("kind", ["index", "report", "mine", "train classify", "train pairs", "train tag", "train qa",
                                  "train reranker", "train embedder", "data news"])
def test_out_folder_holding_a_users_file_is_refused_before_work(kind, world, tmp_path, tiny_bert, tiny_model, capsys,
                                                                monkeypatch):
    w = copy_world(world, tmp_path)
    no_download(monkeypatch)
    monkeypatch.chdir(w)
    before = snapshot(tmp_path)
    code, _, err = call(capsys, *writer(kind, w, "user", tiny_bert, tiny_model))  # --out as given: relative
    line = refused_out(code, err, "user")
    one_of(line, "choose", "not a")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("kind, bad_input", [
    ("index", "beir/corpus.jsonl"), ("run", "queries.tsv"), ("report", "run.trec"), ("mine", "beir/queries.jsonl"),
    ("train classify", "cls.tsv"),
])
def test_out_is_refused_before_the_inputs_are_read(kind, bad_input, world, tmp_path, tiny_bert, tiny_model, capsys):
    """The input is broken too: the refusal of --out comes first, so no input was read (no work done)."""
    w = copy_world(world, tmp_path)
    with open(w / bad_input, "ab") as handle:
        handle.write(b"\xff\xfe not UTF-8, not JSON, not TSV\n")
    before = snapshot(tmp_path)
    code, _, err = call(capsys, *writer(kind, w, w / "user", tiny_bert, tiny_model))
    refused_out(code, err, w / "user")
    assert snapshot(tmp_path) == before


def test_run_over_a_users_file_that_is_not_a_run_is_refused(world, tmp_path, tiny_bert, tiny_model, capsys):
    w = copy_world(world, tmp_path)
    before = snapshot(tmp_path)
    code, _, err = call(capsys, *writer("run", w, w / "notes.txt", tiny_bert, tiny_model))
    line = refused_out(code, err, w / "notes.txt")
    one_of(line, "choose", "not a")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("kind, target", [("index", "idx"), ("run", "run.trec"), ("report", "report"),
                                          ("mine", "mined")])
def test_rewriting_an_artifact_of_the_same_kind_is_allowed(kind, target, world, tmp_path, tiny_bert, tiny_model,
                                                           capsys):
    w = copy_world(world, tmp_path)
    side = (target + ".meta.json",) if kind == "run" else ()
    before = snapshot(tmp_path, exclude=(f"w/{target}", *(f"w/{s}" for s in side)))
    code, out, err = call(capsys, *writer(kind, w, w / target, tiny_bert, tiny_model))
    assert code == 0, err
    assert "Traceback" not in err
    assert snapshot(tmp_path, exclude=(f"w/{target}", *(f"w/{s}" for s in side))) == before
    assert (w / target).exists()
    if kind == "run":
        assert (w / "run.trec.meta.json").is_file() and (w / "run.trec").read_text().split("\n")[0].split()[1] == "Q0"
    if kind == "index":
        assert json.loads((w / "idx" / "manifest.json").read_text())["doc_count"] == len(NEWS)


def input_case(case: str, w: Path, bert: Path, st: Path) -> tuple[list[str], Path]:
    """(argv, --out) of a command whose --out is, holds, or lies inside one of its inputs."""
    qrels = w / "beir" / "qrels" / "test.tsv"
    beir = w / "beir"
    return {
        "index BEIR --out BEIR": (writer("index", w, w / "beir", bert, st), w / "beir"),
        "index corpus.jsonl --out corpus.jsonl": (
            ["index", str(w / "beir" / "corpus.jsonl"), "--out", str(w / "beir" / "corpus.jsonl"),
             "--retrievers", "bm25", "--quiet"], w / "beir" / "corpus.jsonl"),
        "run --queries q.tsv --out q.tsv": (writer("run", w, w / "queries.tsv", bert, st), w / "queries.tsv"),
        "run --out IDX/manifest.json": (writer("run", w, w / "idx" / "manifest.json", bert, st),
                                        w / "idx" / "manifest.json"),
        "report a.trec --out a.trec": (writer("report", w, w / "run.trec", bert, st), w / "run.trec"),
        "report --out qrels": (writer("report", w, qrels, bert, st), qrels),
        "mine IDX --out IDX": (writer("mine", w, w / "idx", bert, st), w / "idx"),
        "train classify --out cls.tsv": (writer("train classify", w, w / "cls.tsv", bert, st), w / "cls.tsv"),
        "train reranker --out mined": (writer("train reranker", w, w / "mined", bert, st), w / "mined"),
        "train reranker --out IDX": (writer("train reranker", w, w / "idx", bert, st), w / "idx"),
        "index corpus.jsonl --out its folder": (
            ["index", str(beir / "corpus.jsonl"), "--out", str(beir), "--retrievers", "bm25", "--quiet"], beir),
        "index BEIR --out BEIR/idx": (writer("index", w, beir / "idx", bert, st), beir / "idx"),
        "run --out IDX/run.trec": (writer("run", w, w / "idx" / "run.trec", bert, st), w / "idx" / "run.trec"),
        "run --out queries folder/run.trec": (
            ["run", str(w / "idx"), "--queries", str(beir), "--split", "test", "--retriever", "bm25",
             "--out", str(beir / "run.trec"), "--quiet"], beir / "run.trec"),
        "report --out the runs' folder": (
            ["report", str(w / "runs" / "a.trec"), "--qrels", str(qrels), "--out", str(w / "runs")], w / "runs"),
        "report --data BEIR --out BEIR/report": (
            ["report", str(w / "run.trec"), "--qrels", str(qrels), "--data", str(beir), "--out", str(beir / "report")],
            beir / "report"),
        "mine --out IDX/mined": (writer("mine", w, w / "idx" / "mined", bert, st), w / "idx" / "mined"),
        "mine --queries BEIR --out BEIR": (writer("mine", w, beir, bert, st), beir),
        "train classify --out the data's folder": (
            ["train", "classify", "--train", str(w / "data" / "cls.tsv"), "--model", str(bert),
             "--out", str(w / "data"), "--max-steps", "1", "--batch-size", "2", "--max-length", "16", "--quiet"],
            w / "data"),
        "train reranker --out IDX/model": (writer("train reranker", w, w / "idx" / "model", bert, st),
                                           w / "idx" / "model"),
        "train embedder --out mined/emb": (writer("train embedder", w, w / "mined" / "emb", bert, st),
                                           w / "mined" / "emb"),
    }[case]


#: --out is the command's own input ...
OWN_INPUT_CASES = ["index BEIR --out BEIR", "index corpus.jsonl --out corpus.jsonl", "run --queries q.tsv --out q.tsv",
                   "run --out IDX/manifest.json", "report a.trec --out a.trec", "report --out qrels",
                   "mine IDX --out IDX", "train classify --out cls.tsv", "train reranker --out mined",
                   "train reranker --out IDX"]
#: ... or holds one, or lies inside one
AROUND_INPUT_CASES = ["index corpus.jsonl --out its folder", "index BEIR --out BEIR/idx", "run --out IDX/run.trec",
                      "run --out queries folder/run.trec", "report --out the runs' folder",
                      "report --data BEIR --out BEIR/report", "mine --out IDX/mined", "mine --queries BEIR --out BEIR",
                      "train classify --out the data's folder", "train reranker --out IDX/model",
                      "train embedder --out mined/emb"]


@pytest.mark.parametrize("case", OWN_INPUT_CASES + AROUND_INPUT_CASES)
def test_out_at_or_around_an_input_is_refused(case, world, tmp_path, tiny_bert, tiny_model, capsys):
    w = copy_world(world, tmp_path)
    (w / "runs").mkdir()
    shutil.copy(w / "run.trec", w / "runs" / "a.trec")
    (w / "data").mkdir()
    shutil.copy(w / "cls.tsv", w / "data" / "cls.tsv")
    argv, out = input_case(case, w, tiny_bert, tiny_model)
    before = snapshot(tmp_path)
    code, _, err = call(capsys, *argv)
    refused_out(code, err, out, "input")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("kind", ["index", "run", "report", "mine", "train classify", "train reranker"])
@pytest.mark.parametrize("target", ["sentinel folder", "own input", "current folder", "parent folder"])
def test_property_no_pre_existing_file_changes_when_out_is_refused(kind, target, world, tmp_path, tiny_bert, tiny_model,
                                                                   capsys, monkeypatch):
    """Each writing command x a hostile --out: exit 2, one line, every pre-existing byte the same."""
    w = copy_world(world, tmp_path)
    home = tmp_path / "home"
    (home / "deeper").mkdir(parents=True)
    (home / "sentinel.txt").write_bytes(SENTINEL)
    (home / "deeper" / "sentinel.txt").write_bytes(SENTINEL)
    if target == "sentinel folder":
        out = w / "user"
    elif target == "own input":
        out = w / OWN_INPUT[kind]
    elif target == "current folder":
        monkeypatch.chdir(home)
        out = "."
    else:
        monkeypatch.chdir(home / "deeper")
        out = ".."
    before = snapshot(tmp_path)
    code, _, err = call(capsys, *writer(kind, w, out, tiny_bert, tiny_model))
    line = refused_out(code, err, out)
    if target == "sentinel folder":
        one_of(line, "choose", "not a", "a file is written here")
    elif target == "own input":
        assert "input" in line
    elif kind == "run":
        one_of(line, "current folder", "a file is written here")
    else:
        assert "current folder" in line
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("out", [".", ".."])
def test_data_news_refuses_the_current_folder_and_its_parent(out, tmp_path, capsys, monkeypatch):
    no_download(monkeypatch)
    (tmp_path / "home" / "deeper").mkdir(parents=True)
    (tmp_path / "home" / "sentinel.txt").write_bytes(SENTINEL)
    monkeypatch.chdir(tmp_path / "home" / ("deeper" if out == ".." else ""))
    before = snapshot(tmp_path)
    code, _, err = call(capsys, "data", "news", "--out", out, "--cache", tmp_path / "cache")
    refused_out(code, err, out, "current folder")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("kind", ["index", "report", "mine", "train classify", "data news"])
def test_out_naming_a_file_where_a_folder_is_written(kind, world, tmp_path, tiny_bert, tiny_model, capsys, monkeypatch):
    w = copy_world(world, tmp_path)
    no_download(monkeypatch)
    before = snapshot(tmp_path)
    code, _, err = call(capsys, *writer(kind, w, w / "notes.txt", tiny_bert, tiny_model))
    refused_out(code, err, w / "notes.txt", "a folder is written here")
    assert snapshot(tmp_path) == before


def test_run_out_naming_a_folder_where_a_file_is_written(world, tmp_path, tiny_bert, tiny_model, capsys):
    w = copy_world(world, tmp_path)
    (w / "runs").mkdir()
    before = snapshot(tmp_path)
    code, _, err = call(capsys, *writer("run", w, w / "runs", tiny_bert, tiny_model))
    refused_out(code, err, w / "runs", "a file is written here")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("kind", ["index", "report", "mine"])
def test_symlink_out_to_a_users_folder_is_refused(kind, world, tmp_path, tiny_bert, tiny_model, capsys):
    w = copy_world(world, tmp_path)
    (w / "link").symlink_to(w / "user", target_is_directory=True)
    before = snapshot(tmp_path)
    code, _, err = call(capsys, *writer(kind, w, w / "link", tiny_bert, tiny_model))
    refused_out(code, err, w / "link")
    assert snapshot(tmp_path) == before and (w / "link").is_symlink()


def test_symlink_out_to_an_index_rebuilds_its_target_and_stays_a_link(world, tmp_path, capsys):
    w = copy_world(world, tmp_path)
    (w / "link").symlink_to(w / "idx", target_is_directory=True)
    corpus = write_jsonl(tmp_path / "two.jsonl",
                         [{"_id": "a", "text": "oil prices"}, {"_id": "b", "text": "gas prices"}])
    before = snapshot(tmp_path, exclude=("w/idx",))
    code, _, err = call(capsys, "index", corpus, "--out", w / "link", "--retrievers", "bm25", "--quiet")
    assert code == 0, err
    assert (w / "link").is_symlink() and os.readlink(w / "link") == str(w / "idx")
    assert json.loads((w / "idx" / "manifest.json").read_text())["doc_count"] == 2
    assert snapshot(tmp_path, exclude=("w/idx",)) == before


def test_index_rejects_side_file_that_is_a_users_file_is_refused(tmp_path, capsys):
    corpus = write_jsonl(tmp_path / "c.jsonl", [{"_id": "1", "text": "oil"}, {"_id": "1", "text": "dup"}])
    (tmp_path / "idx.rejects.jsonl").write_bytes(NOTES)
    before = snapshot(tmp_path)
    code, _, err = call(capsys, "index", corpus, "--out", tmp_path / "idx", "--skip-invalid", "--retrievers", "bm25",
                        "--quiet")
    error_line(code, err, str(tmp_path / "idx"))
    assert snapshot(tmp_path) == before


def test_run_meta_side_file_that_is_a_users_file_is_refused(world, tmp_path, tiny_bert, tiny_model, capsys):
    w = copy_world(world, tmp_path)
    (w / "r.trec.meta.json").write_bytes(NOTES)
    before = snapshot(tmp_path)
    code, _, err = call(capsys, *writer("run", w, w / "r.trec", tiny_bert, tiny_model))
    error_line(code, err, str(w / "r.trec"))
    assert snapshot(tmp_path) == before


def test_run_rejects_side_file_that_is_a_users_file_is_refused(world, tmp_path, capsys):
    w = copy_world(world, tmp_path)
    queries = write_jsonl(w / "q.jsonl", [{"_id": "q1", "text": "oil"}, {"_id": "q 2", "text": "gas"}])
    (w / "r.trec.rejects.jsonl").write_bytes(NOTES)
    before = snapshot(tmp_path)
    code, _, err = call(capsys, "run", w / "idx", "--queries", queries, "--retriever", "bm25", "--out", w / "r.trec",
                        "--skip-invalid", "--quiet")
    error_line(code, err, str(w / "r.trec"))
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("shards", ["a user's folder", "the input folder"])
def test_index_shards_folder_that_is_not_ours_is_refused(shards, world, tmp_path, tiny_model, capsys):
    w = copy_world(world, tmp_path)
    folder = w / "user" if shards == "a user's folder" else w / "beir"
    before = snapshot(tmp_path)
    code, _, err = call(capsys, "index", w / "beir", "--out", w / "newidx", "--model", tiny_model, "--shards", folder,
                        "--quiet")
    error_line(code, err, str(folder))
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("pipeline, flag", [
    ("pipelines.reranking", "--out"), ("pipelines.heads", "--out"), ("pipelines.negatives_ablation", "--out"),
    ("pipelines.demo", "--index"), ("pipelines.demo", "--runs"), ("pipelines.demo", "--models"),
    ("pipelines.demo", "--report"), ("pipelines.demo", "--data"),
])
@pytest.mark.parametrize("target", ["sentinel folder", "current folder"])
def test_pipelines_refuse_an_output_holding_a_users_files_before_any_work(pipeline, flag, target, tmp_path, monkeypatch,
                                                                         capsys):
    import importlib

    monkeypatch.chdir(tmp_path)
    (tmp_path / "user").mkdir()
    (tmp_path / "user" / "sentinel.txt").write_bytes(SENTINEL)
    out = "user" if target == "sentinel folder" else "."
    no_download(monkeypatch)
    before = snapshot(tmp_path)
    code = importlib.import_module(pipeline).main([flag, out])
    err = capsys.readouterr().err
    refused_out(code, err, out, "current folder" if target == "current folder" else "not a")
    assert snapshot(tmp_path) == before


# == 2. Ids and text every output can carry =============================================


BAD_IDS = {"space": "d 2", "tab": "d\t2", "newline": "d\n2", "escape": "d\x1b[2J2", "nul": "d\x002"}


def _corpus_with_id(tmp_path: Path, bad: str) -> Path:
    return write_jsonl(tmp_path / "in" / "c.jsonl", [
        {"_id": "d1", "title": "Oil", "text": "oil prices fell"},
        {"_id": bad, "title": "Gas", "text": "gas prices rose"},
        {"_id": "d3", "title": "Dam", "text": "dam spillway damaged"},
    ])


@pytest.mark.parametrize("bad", list(BAD_IDS.values()), ids=list(BAD_IDS))
def test_corpus_id_with_whitespace_or_control_char_is_invalid(bad, tmp_path, capsys):
    corpus = _corpus_with_id(tmp_path, bad)
    before = snapshot(tmp_path)
    code, _, err = call(capsys, "index", corpus, "--out", tmp_path / "idx", "--retrievers", "bm25", "--quiet")
    error_line(code, err, f"{corpus}: line 2", "id")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("bad", list(BAD_IDS.values()), ids=list(BAD_IDS))
def test_corpus_id_with_whitespace_or_control_char_is_skipped_with_a_reason(bad, tmp_path, capsys):
    corpus = _corpus_with_id(tmp_path, bad)
    before = snapshot(tmp_path)
    code, _, err = call(capsys, "index", corpus, "--out", tmp_path / "idx", "--retrievers", "bm25", "--skip-invalid",
                        "--quiet")
    assert code == 0, err
    assert "Traceback" not in err
    rejects = [json.loads(line) for line in (tmp_path / "idx.rejects.jsonl").read_text().splitlines()]
    assert len(rejects) == 1 and rejects[0]["where"] == "line 2" and "id" in rejects[0]["problem"]
    assert json.loads((tmp_path / "idx" / "manifest.json").read_text())["doc_count"] == 2
    assert snapshot(tmp_path, exclude=("idx", "idx.rejects.jsonl")) == before


def test_csv_corpus_id_with_a_space_is_invalid(tmp_path, capsys):
    corpus = tmp_path / "in" / "c.csv"
    corpus.parent.mkdir()
    corpus.write_text('_id,title,text\nd1,Oil,oil prices\n"d 2",Gas,gas prices\n')
    before = snapshot(tmp_path)
    code, _, err = call(capsys, "index", corpus, "--out", tmp_path / "idx", "--retrievers", "bm25", "--quiet")
    error_line(code, err, str(corpus), "line 3", "id")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("bad", ["q 2", "q\t2", "q\x1b2"], ids=["space", "tab", "escape"])
def test_query_id_with_whitespace_or_control_char_is_invalid(bad, world, tmp_path, capsys):
    queries = write_jsonl(tmp_path / "q.jsonl", [{"_id": "q1", "text": "oil"}, {"_id": bad, "text": "gas"}])
    before = snapshot(tmp_path)
    code, _, err = call(capsys, "run", world / "idx", "--queries", queries, "--retriever", "bm25",
                        "--out", tmp_path / "r.trec", "--quiet")
    error_line(code, err, f"{queries}: line 2", "id")
    assert snapshot(tmp_path) == before


def test_query_id_with_a_space_is_skipped_with_a_reason(world, tmp_path, capsys):
    queries = write_jsonl(tmp_path / "q.jsonl", [{"_id": "q1", "text": "oil"}, {"_id": "q 2", "text": "gas"}])
    code, _, err = call(capsys, "run", world / "idx", "--queries", queries, "--retriever", "bm25",
                        "--out", tmp_path / "r.trec", "--skip-invalid", "--quiet")
    assert code == 0, err
    rejects = [json.loads(line) for line in (tmp_path / "r.trec.rejects.jsonl").read_text().splitlines()]
    assert len(rejects) == 1 and rejects[0]["where"] == "line 2" and "id" in rejects[0]["problem"]
    assert {line.split()[0] for line in (tmp_path / "r.trec").read_text().splitlines()} == {"q1"}


ESCAPE_TITLE = "\x1b[31mRED\x1b[0m alert\x07\x08 \u202eversed"  # and a right-to-left override
ESCAPE_OUTLET = "\x1b]0;pwned\x07Evil"


@pytest.fixture(scope="module")
def escape_index(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("escapes")
    corpus = write_jsonl(folder / "e.jsonl", [
        {"_id": "e1", "title": ESCAPE_TITLE, "text": "red alert \x1b[2J in\rthe\x0bcity\x00",
         "metadata": {"outlet": ESCAPE_OUTLET}},
        {"_id": "e2", "title": "Calm", "text": "nothing here"},
    ])
    assert main(["index", str(corpus), "--out", str(folder / "idx"), "--retrievers", "bm25", "--quiet"]) == 0
    return folder / "idx"


def _no_raw_controls(text: str) -> None:
    raw = sorted({repr(c) for c in text if (ord(c) < 32 and c != "\n") or ord(c) == 0x7F or c == "\u202e"})
    assert not raw, f"raw control characters reach the terminal: {raw} in {text!r}"


@pytest.mark.parametrize("command", ["search", "query"])
def test_terminal_escapes_in_titles_never_reach_the_table(command, escape_index, capsys):
    code, out, err = call(capsys, command, escape_index, "red", "--retriever", "bm25")
    assert code == 0, err
    _no_raw_controls(out)
    assert "RED" in out and "alert" in out


def test_json_output_keeps_the_exact_title(escape_index, capsys):
    code, out, err = call(capsys, "search", escape_index, "red", "--retriever", "bm25", "--json")
    assert code == 0, err
    hit = json.loads(out)["hits"][0]
    assert hit["doc_id"] == "e1" and hit["title"] == ESCAPE_TITLE and hit["metadata"]["outlet"] == ESCAPE_OUTLET
    _no_raw_controls(out)  # the exact text, written as escapes: no override reorders the terminal


def test_terminal_escapes_in_a_query_line_never_reach_the_table(escape_index, tmp_path, capsys):
    queries = tmp_path / "q.txt"
    queries.write_text("red \x1b[2J\x1b]0;x\x07 alert\n")
    code, out, err = call(capsys, "query", escape_index, "--queries", queries, "--retriever", "bm25")
    assert code == 0, err
    _no_raw_controls(out)


# == 3. Arguments checked first (before any file is read or model loaded) ==============


NO = "/nonexistent"
ARGUMENT_CASES = [
    ("search -k 0", ["search", f"{NO}/idx", "oil", "-k", "0"], "-k"),
    ("search -k -1", ["search", f"{NO}/idx", "oil", "-k", "-1"], "-k"),
    ("search -k abc", ["search", f"{NO}/idx", "oil", "-k", "abc"], "-k"),
    ("query -k 0", ["query", f"{NO}/idx", "oil", "-k", "0"], "-k"),
    ("query -k -1", ["query", f"{NO}/idx", "oil", "-k", "-1"], "-k"),
    ("query -k -1 with a reranker", ["query", f"{NO}/idx", "oil", "--reranker", f"{NO}/model", "-k", "-1"], "-k"),
    ("run -k 0", ["run", f"{NO}/idx", "--queries", f"{NO}/q.tsv", "--out", "{tmp}/r.trec", "-k", "0"], "-k"),
    ("run -k -1", ["run", f"{NO}/idx", "--queries", f"{NO}/q.tsv", "--out", "{tmp}/r.trec", "-k", "-1"], "-k"),
    ("query --depth 0", ["query", f"{NO}/idx", "oil", "--reranker", f"{NO}/model", "--depth", "0"], "--depth"),
    ("run --depth 0", ["run", f"{NO}/idx", "--queries", f"{NO}/q.tsv", "--out", "{tmp}/r.trec", "--reranker", f"{NO}/m",
                       "--depth", "0"], "--depth"),
    ("query --weight 1.5", ["query", f"{NO}/idx", "oil", "--reranker", f"{NO}/model", "--weight", "1.5"], "--weight"),
    ("query --weight nan", ["query", f"{NO}/idx", "oil", "--reranker", f"{NO}/model", "--weight", "nan"], "--weight"),
    ("search --fusion-weights nan,nan", ["search", f"{NO}/idx", "oil", "--fusion-weights", "nan,nan"],
     "--fusion-weights"),
    ("search --fusion-weights 1", ["search", f"{NO}/idx", "oil", "--fusion-weights", "1"], "--fusion-weights"),
    ("search --fusion-weights a,b", ["search", f"{NO}/idx", "oil", "--fusion-weights", "a,b"], "--fusion-weights"),
    ("search --fusion-weights 0.5,0.5,0.5", ["search", f"{NO}/idx", "oil", "--fusion-weights", "0.5,0.5,0.5"],
     "--fusion-weights"),
    ("run --fusion-weights inf,1", ["run", f"{NO}/idx", "--queries", f"{NO}/q.tsv", "--out", "{tmp}/r.trec",
                                    "--fusion-weights", "inf,1"], "--fusion-weights"),
    ("report --examples -3", ["report", f"{NO}/a.trec", "--qrels", f"{NO}/q.tsv", "--out", "{tmp}/rep",
                              "--examples", "-3"], "--examples"),
    ("report --alpha 0", ["report", f"{NO}/a.trec", "--qrels", f"{NO}/q.tsv", "--out", "{tmp}/rep", "--alpha", "0"],
     "--alpha"),
    ("report --alpha 1.5", ["report", f"{NO}/a.trec", "--qrels", f"{NO}/q.tsv", "--out", "{tmp}/rep", "--alpha", "1.5"],
     "--alpha"),
    ("mine --negatives -1", ["mine", f"{NO}/idx", "--queries", f"{NO}/q", "--qrels", f"{NO}/qr", "--out", "{tmp}/m",
                             "--negatives", "-1"], "--negatives"),
    ("mine --range-max 0", ["mine", f"{NO}/idx", "--queries", f"{NO}/q", "--qrels", f"{NO}/qr", "--out", "{tmp}/m",
                            "--range-max", "0"], "--range-max"),
    ("train classify --learning-rate nan", ["train", "classify", "--train", f"{NO}/t.tsv", "--out", "{tmp}/o",
                                            "--learning-rate", "nan"], "--learning-rate"),
    ("train classify --batch-size 0", ["train", "classify", "--train", f"{NO}/t.tsv", "--out", "{tmp}/o",
                                       "--batch-size", "0"], "--batch-size"),
    ("train classify --epochs 0", ["train", "classify", "--train", f"{NO}/t.tsv", "--out", "{tmp}/o", "--epochs", "0"],
     "--epochs"),
    ("train reranker --max-steps 0", ["train", "reranker", "--groups", f"{NO}/g", "--index", f"{NO}/idx",
                                      "--out", "{tmp}/o", "--max-steps", "0"], "--max-steps"),
    ("index --k1 nan", ["index", f"{NO}/c.jsonl", "--out", "{tmp}/idx", "--k1", "nan"], "--k1"),
    ("index --k1 -1", ["index", f"{NO}/c.jsonl", "--out", "{tmp}/idx", "--k1", "-1"], "--k1"),
    ("index --b 2", ["index", f"{NO}/c.jsonl", "--out", "{tmp}/idx", "--b", "2"], "--b"),
    ("index --max-length 0", ["index", f"{NO}/c.jsonl", "--out", "{tmp}/idx", "--max-length", "0"], "--max-length"),
    ("index --retrievers bogus", ["index", f"{NO}/c.jsonl", "--out", "{tmp}/idx", "--retrievers", "bogus"],
     "--retrievers"),
]


@pytest.mark.parametrize("argv, flag", [c[1:] for c in ARGUMENT_CASES], ids=[c[0] for c in ARGUMENT_CASES])
def test_bad_arguments_are_refused_before_any_file_is_read(argv, flag, tmp_path, capsys):
    before = snapshot(tmp_path)
    code, _, err = call(capsys, *[a.format(tmp=tmp_path) for a in argv])
    line = error_line(code, err, flag)
    assert NO not in line, f"the arguments were not checked first: {line!r}"
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", ["search", "query", "run"])
def test_a_huge_k_is_capped_at_the_index_size_quickly(command, world, tmp_path, capsys):
    begun = time.perf_counter()
    if command == "run":
        code, _, err = call(capsys, *writer("run", world, tmp_path / "r.trec", None, None), "-k", "1000000000")
        assert code == 0, err
        per_query: dict[str, int] = {}
        for line in (tmp_path / "r.trec").read_text().splitlines():
            per_query[line.split()[0]] = per_query.get(line.split()[0], 0) + 1
        assert per_query and max(per_query.values()) <= len(NEWS)
    else:
        code, out, err = call(capsys, command, world / "idx", "oil", "--retriever", "bm25", "--json", "-k",
                              "1000000000")
        assert code == 0, err
        assert 0 < len(json.loads(out)["hits"]) <= len(NEWS)
    assert time.perf_counter() - begun < 20


CONFIG_CASES = {
    "index": ["index", "{w}/beir", "--out", "{tmp}/idx", "--retrievers", "bm25", "--quiet"],
    "search": ["search", "{w}/idx", "oil", "--retriever", "bm25"],
    "train classify": ["train", "classify", "--train", "{w}/cls.tsv", "--out", "{tmp}/o", "--model", "{bert}",
                       "--max-steps", "1", "--batch-size", "2", "--max-length", "16", "--quiet"],
}


def _with_config(kind: str, w: Path, tmp: Path, bert: Path, config: Path) -> list[str]:
    return [a.format(w=w, tmp=tmp, bert=bert) for a in CONFIG_CASES[kind]] + ["--config", str(config)]


@pytest.mark.parametrize("kind", list(CONFIG_CASES))
def test_config_naming_a_folder_is_one_line_naming_it(kind, world, tmp_path, tiny_bert, capsys):
    w = copy_world(world, tmp_path)
    (tmp_path / "conf.toml").mkdir()
    before = snapshot(tmp_path)
    code, _, err = call(capsys, *_with_config(kind, w, tmp_path, tiny_bert, tmp_path / "conf.toml"))
    error_line(code, err, str(tmp_path / "conf.toml"))
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("kind, text, needle", [
    ("index", '[bm25]\nk1 = "abc"\n', "k1"),
    ("index", "[bm25]\nk1 = nan\n", "k1"),
    ("index", "[bm25\nk1 = 1.2\n", "{config}"),
    ("index", "[bm25]\nk2 = 3\n", "k2"),
    ("index", "bm25 = 3\n", "bm25"),
    ("search", "[hybrid]\nfoo = 1\n", "foo"),
    ("search", '[hybrid]\nweights = "a,b"\n', "weights"),
    ("search", "not toml at all = = =\n", "{config}"),
    ("train classify", '[train]\nepochs = "seven"\n', "epochs"),
    ("train classify", "[train]\nfoo = 1\n", "foo"),
    ("train classify", "[train]\nlearning_rate = nan\n", ("{config}", "learning")),  # the file at fault, not the data
    ("train classify", b"[train]\nepochs = 1\n\xff\n", "{config}"),
], ids=["k1 string", "k1 nan", "invalid toml", "unknown key", "section not a table", "hybrid unknown key",
        "hybrid weights string", "search invalid toml", "epochs string", "train unknown key", "learning rate nan",
        "undecodable"])
def test_bad_config_values_are_one_line(kind, text, needle, world, tmp_path, tiny_bert, capsys):
    w = copy_world(world, tmp_path)
    config = tmp_path / "conf.toml"
    config.write_bytes(text if isinstance(text, bytes) else text.encode())
    before = snapshot(tmp_path)
    code, _, err = call(capsys, *_with_config(kind, w, tmp_path, tiny_bert, config))
    needles = needle if isinstance(needle, tuple) else (needle,)
    error_line(code, err, *(n.format(config=config) for n in needles))
    assert snapshot(tmp_path) == before


def test_a_missing_config_file_is_one_line_naming_it(world, tmp_path, capsys):
    code, _, err = call(capsys, "search", world / "idx", "oil", "--retriever", "bm25", "--config",
                        tmp_path / "none.toml")
    error_line(code, err, str(tmp_path / "none.toml"))


# == 4. No traceback reaches a user ====================================================


@pytest.mark.parametrize("kind, out", [
    ("index", "/sys/ranker-test-out"),
    ("run", "/sys/ranker-test.trec"),
    ("report", "/sys/ranker-test-report"),
    ("mine", "/sys/ranker-test-mined"),
    ("train classify", "/sys/ranker-test-train"),
])
def test_an_unwritable_output_is_one_line_naming_it(kind, out, world, tmp_path, tiny_bert, tiny_model, capsys):
    w = copy_world(world, tmp_path)
    before = snapshot(tmp_path)
    code, _, err = call(capsys, *writer(kind, w, out, tiny_bert, tiny_model))
    error_line(code, err, out)
    assert snapshot(tmp_path) == before and not os.path.exists(out)


@pytest.mark.parametrize("kind, name", [
    ("index", "idx"), ("run", "r.trec"), ("report", "rep"), ("mine", "mined"), ("train classify", "cls"),
])
def test_an_output_whose_parent_is_a_file_is_one_line(kind, name, world, tmp_path, tiny_bert, tiny_model, capsys):
    w = copy_world(world, tmp_path)
    out = w / "notes.txt" / name
    before = snapshot(tmp_path)
    code, _, err = call(capsys, *writer(kind, w, out, tiny_bert, tiny_model))
    error_line(code, err, str(out))
    assert snapshot(tmp_path) == before


def _ranker_process(*args, **kwargs) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "ranker", *[str(a) for a in args]], env=env, timeout=120, **kwargs)


@pytest.mark.parametrize("command", ["search table", "search json", "evaluate per query"])
def test_a_closed_stdout_is_no_traceback(command, world, tmp_path):
    args = {
        "search table": ["search", world / "idx", "oil", "-k", "5"],
        "search json": ["search", world / "idx", "oil", "-k", "5", "--json"],
        "evaluate per query": ["evaluate", world / "run.trec", world / "beir" / "qrels" / "test.tsv", "--per-query"],
    }[command]
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first byte: every write meets a broken pipe
    try:
        done = _ranker_process(*args, stdout=write_end, stderr=subprocess.PIPE)
    finally:
        os.close(write_end)
    assert done.stderr.decode() == "", done.stderr.decode()


def test_a_lone_surrogate_in_the_corpus_is_one_line(tmp_path, capsys):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"_id": "1", "text": "bad \\ud800 text"}\n{"_id": "2", "text": "fine"}\n')
    before = snapshot(tmp_path)
    code, _, err = call(capsys, "index", corpus, "--out", tmp_path / "idx", "--retrievers", "bm25", "--quiet")
    error_line(code, err, str(corpus), "line 1")
    assert snapshot(tmp_path) == before


def test_a_lone_surrogate_in_a_query_is_one_line(world, tmp_path, capsys):
    queries = tmp_path / "q.jsonl"
    queries.write_text('{"_id": "q1", "text": "oil"}\n{"_id": "q2", "text": "bad \\udfff text"}\n')
    before = snapshot(tmp_path)
    code, _, err = call(capsys, "run", world / "idx", "--queries", queries, "--retriever", "bm25", "--out",
                        tmp_path / "r.trec", "--quiet")
    error_line(code, err, str(queries), "line 2")
    assert snapshot(tmp_path) == before


def read_as(where: str, path: Path, world: Path, tmp_path: Path, capsys) -> tuple[int, str]:
    """Read ``path`` as a corpus (``ranker index``) or as queries (``ranker run``): (exit status, stderr)."""
    if where == "corpus":
        code, _, err = call(capsys, "index", path, "--out", tmp_path / "idx", "--retrievers", "bm25", "--quiet")
    else:
        code, _, err = call(capsys, "run", world / "idx", "--queries", path, "--retriever", "bm25", "--out",
                            tmp_path / "r.trec", "--quiet")
    return code, err


@pytest.mark.parametrize("where", ["corpus", "queries"])
def test_deeply_nested_json_is_one_line(where, world, tmp_path, capsys):
    deep = "[" * 100_000 + "]" * 100_000
    path = tmp_path / f"{where}.jsonl"
    path.write_text('{"_id": "1", "text": "oil"}\n' + deep + "\n")
    before = snapshot(tmp_path)
    code, err = read_as(where, path, world, tmp_path, capsys)
    error_line(code, err, str(path), "line 2")
    assert snapshot(tmp_path) == before


def test_a_corpus_of_only_stopwords_is_one_line(tmp_path, capsys):
    corpus = write_jsonl(tmp_path / "c.jsonl", [{"_id": str(i), "text": "the of and"} for i in range(3)])
    before = snapshot(tmp_path)
    code, _, err = call(capsys, "index", corpus, "--out", tmp_path / "idx", "--retrievers", "bm25", "--quiet")
    line = error_line(code, err, str(corpus))
    one_of(line, "stopword", "word")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("command", ["evaluate", "report"])
def test_qrels_without_a_relevant_document_are_one_line(command, world, tmp_path, capsys):
    qrels = tmp_path / "qrels.tsv"
    qrels.write_text("".join(f"t{d} 0 {d} 0\n" for d, _, _ in NEWS))
    before = snapshot(tmp_path)
    if command == "evaluate":
        code, _, err = call(capsys, "evaluate", world / "run.trec", qrels)
    else:
        code, _, err = call(capsys, "report", world / "run.trec", "--qrels", qrels, "--out", tmp_path / "rep")
    error_line(code, err, str(qrels))
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("kind", ["index", "run", "report"])
def test_a_full_disk_is_one_line_naming_the_output_and_leaves_no_scratch_file(kind, world, tmp_path, tiny_bert,
                                                                                tiny_model, monkeypatch, capsys):
    import errno

    w = copy_world(world, tmp_path)
    out = tmp_path / "out"
    real_open = open

    def full(path, mode="r", *args, **kwargs):  # every write to the output's scratch files finds the disk full
        if "w" in mode and str(path).startswith(str(tmp_path / ".out")):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", full)
    monkeypatch.setattr("io.open", full)  # what pathlib's write_text calls
    before = snapshot(tmp_path)
    code, _, err = call(capsys, *writer(kind, w, out, tiny_bert, tiny_model))
    monkeypatch.undo()
    # the line names the output the user asked for, never our temporary sibling
    error_line(code, err, "No space left on device", starts=f"ranker: error: {out}")
    assert snapshot(tmp_path) == before


def test_an_unexpected_error_is_one_line_and_debug_shows_the_traceback(world, monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError("something we did not foresee")

    monkeypatch.setattr("ranker.search.searcher.search_hits", broken)
    code, out, err = call(capsys, "search", world / "idx", "oil", "--retriever", "bm25")
    assert code == 1 and out == ""
    assert err == ("ranker: error: unexpected RuntimeError: something we did not foresee "
                   "(rerun with 'ranker --debug ...' for the traceback)\n")
    with pytest.raises(RuntimeError, match="something we did not foresee"):
        main(["--debug", "search", str(world / "idx"), "oil", "--retriever", "bm25"])


def test_debug_is_a_global_flag(world, capsys):
    code, out, err = call(capsys, "--debug", "search", world / "idx", "oil", "--retriever", "bm25", "--json")
    assert code == 0, err
    assert json.loads(out)["hits"][0]["doc_id"] in {"d1", "d6"}


# == 5. Quietly wrong becomes loud =====================================================


@pytest.mark.parametrize("suffix, text", [
    (".csv", '_id,title,text\n1,"Oil,oil prices fell\n2,Gas,gas prices rose\n'),
    (".tsv", '_id\ttitle\ttext\n1\t"Oil\toil prices fell\n2\tGas\tgas prices rose\n'),
])
def test_an_unterminated_quote_is_one_line_not_one_merged_document(suffix, text, tmp_path, capsys):
    corpus = tmp_path / f"c{suffix}"
    corpus.write_text(text)
    before = snapshot(tmp_path)
    code, _, err = call(capsys, "index", corpus, "--out", tmp_path / "idx", "--retrievers", "bm25", "--quiet")
    error_line(code, err, str(corpus), "line ")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("where", ["corpus", "queries"])
def test_a_duplicate_json_key_is_one_line(where, world, tmp_path, capsys):
    path = tmp_path / f"{where}.jsonl"
    path.write_text('{"_id": "1", "text": "a", "text": "b"}\n')
    before = snapshot(tmp_path)
    code, err = read_as(where, path, world, tmp_path, capsys)
    error_line(code, err, str(path), "line 1", "duplicate")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("row, field", [
    ({"_id": "1", "title": {"x": 1}, "text": "oil"}, "title"),
    ({"_id": "1", "title": ["oil"], "text": "oil"}, "title"),
    ({"_id": "1", "title": "Oil", "text": {"body": "oil"}}, "text"),
    ({"_id": "1", "title": "Oil", "text": True}, "text"),
], ids=["title object", "title list", "text object", "text bool"])
def test_a_field_of_the_wrong_type_is_one_line(row, field, tmp_path, capsys):
    corpus = write_jsonl(tmp_path / "c.jsonl", [row])
    before = snapshot(tmp_path)
    code, _, err = call(capsys, "index", corpus, "--out", tmp_path / "idx", "--retrievers", "bm25", "--quiet")
    error_line(code, err, str(corpus), "line 1", field)
    assert snapshot(tmp_path) == before


def _drop_files(listing: Path) -> None:
    about = json.loads(listing.read_text())
    del about["files"]
    listing.write_text(json.dumps(about, indent=2))


def test_a_model_whose_ranker_json_lacks_its_file_list_fails_verify(trained_classify, tmp_path, capsys):
    model = tmp_path / "model"
    shutil.copytree(trained_classify, model)
    _drop_files(model / "ranker.json")
    code, out, err = call(capsys, "verify", model)
    assert code == 2 and "FAILED" in out and "Traceback" not in err


def test_a_model_whose_ranker_json_lacks_its_file_list_is_not_loaded(trained_classify, tmp_path, capsys):
    model = tmp_path / "model"
    shutil.copytree(trained_classify, model)
    _drop_files(model / "ranker.json")
    before = snapshot(tmp_path)
    code, _, err = call(capsys, "predict", "classify", model, "oil prices rose")
    error_line(code, err, str(model))
    assert snapshot(tmp_path) == before


def _edit_k1(manifest_path: Path) -> None:
    manifest = json.loads(manifest_path.read_text())
    manifest["components"]["bm25"]["k1"] = 0.9  # the arrays were built with 1.5
    manifest_path.write_text(json.dumps(manifest, indent=2))


@pytest.mark.parametrize("tamper", [_drop_files, _edit_k1], ids=["file list removed", "settings edited"])
def test_an_index_whose_manifest_was_tampered_with_is_refused(tamper, world, tmp_path, capsys):
    w = copy_world(world, tmp_path)
    tamper(w / "idx" / "manifest.json")
    before = snapshot(tmp_path)
    code, _, err = call(capsys, "search", w / "idx", "oil", "--retriever", "bm25")
    error_line(code, err, str(w / "idx"))
    code, out, err = call(capsys, "verify", w / "idx")
    assert code == 2 and "FAILED" in out and "Traceback" not in err
    assert snapshot(tmp_path) == before


def test_mined_tables_whose_list_lacks_its_files_fail_verify(world, tmp_path, capsys):
    w = copy_world(world, tmp_path)
    _drop_files(w / "mined" / "mining.json")
    code, out, err = call(capsys, "verify", w / "mined")
    assert code == 2 and "FAILED" in out and "Traceback" not in err


# == 6. Long-lived query mode ==========================================================


def test_query_stream_answers_every_line_in_order_as_json(world):
    done = _ranker_process("query", world / "idx", "--queries", "-", "--json", "--retriever", "bm25",
                           input=b"oil\n\n\xff\xfe\nbrexit\n", capture_output=True)
    assert done.returncode == 0, done.stderr.decode()
    assert b"Traceback" not in done.stderr
    lines = done.stdout.decode().splitlines()
    assert len(lines) == 4, lines
    answers = [json.loads(line) for line in lines]
    assert answers[0]["query"] == "oil" and answers[0]["hits"]
    assert "error" in answers[1] and "error" in answers[2]
    assert answers[3]["query"] == "brexit" and answers[3]["hits"][0]["doc_id"] == "d3"


def test_query_stream_gives_a_blank_or_undecodable_line_a_one_line_answer_and_keeps_serving(world):
    def answer(stdin: bytes) -> tuple[list[str], subprocess.CompletedProcess]:
        done = _ranker_process("query", world / "idx", "--queries", "-", "--retriever", "bm25",
                               input=stdin, capture_output=True)
        lines = [line for line in (done.stdout.decode() + done.stderr.decode()).splitlines() if line.strip()]
        return lines, done

    plain, done = answer(b"brexit\noil\n")
    assert done.returncode == 0, done.stderr.decode()
    hostile, done = answer(b"brexit\n\n\xff\xfe\noil\n")
    assert done.returncode == 0, done.stderr.decode()
    assert b"Traceback" not in done.stderr
    out = done.stdout.decode()
    assert "Brexit letter sent" in out and "Oil prices fell sharply" in out
    assert out.index("Brexit letter sent") < out.index("Oil prices fell sharply")  # served on after the bad lines
    extra = [line for line in hostile if line not in plain]
    assert len(hostile) == len(plain) + 2 and len(extra) == 2, extra  # one line for each bad line


# == 7. Found by probing by hand: each was a broken promise, now held ==================


def _tiny_corpus(folder: Path) -> Path:
    return write_jsonl(folder / "c.jsonl",
                       [{"_id": "a", "text": "oil prices fell"}, {"_id": "b", "text": "gas prices rose"}])


def test_a_pipe_or_a_device_is_never_replaced_by_a_file(world, tmp_path, capsys):
    fifo = tmp_path / "ff"
    os.mkfifo(fifo)
    for out in (fifo, Path("/dev/null")):
        code, _, err = call(capsys, "run", world / "idx", "--queries", world / "queries.tsv", "--retriever", "bm25",
                            "--out", out, "--quiet")
        refused_out(code, err, out, "not a regular file or folder")
    assert fifo.exists() and not fifo.is_file() and Path("/dev/null").is_char_device()


@pytest.mark.parametrize("text", ["\n\n\n\n\nMY PRECIOUS NOTES\n", "   \n\t\n"])
def test_a_file_that_only_starts_blank_is_not_taken_for_a_run(text, world, tmp_path, capsys):
    notes = tmp_path / "notes.trec"
    notes.write_text(text)
    code, _, err = call(capsys, "run", world / "idx", "--queries", world / "queries.tsv", "--retriever", "bm25",
                        "--out", notes, "--quiet")
    refused_out(code, err, notes, "not a TREC run file")
    assert notes.read_text() == text


def test_a_users_file_named_like_a_temporary_is_neither_ignored_nor_removed(tmp_path, capsys):
    corpus = _tiny_corpus(tmp_path)
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / ".diary.tmp-2024").write_text("secret")
    (tmp_path / ".out3.tmp-999999-keepme").mkdir()
    (tmp_path / ".out3.tmp-999999-keepme" / "data").write_text("mine")
    before = snapshot(tmp_path)
    code, _, err = call(capsys, "index", corpus, "--out", tmp_path / "keep", "--retrievers", "bm25", "--quiet")
    refused_out(code, err, tmp_path / "keep", "not a ranker index")
    code, _, err = call(capsys, "index", corpus, "--out", tmp_path / "out3", "--retrievers", "bm25", "--quiet")
    assert code == 0, err
    assert snapshot(tmp_path, exclude=("out3",)) == before


@pytest.mark.parametrize("layout", ["model with a user's notes", "metrics.json of someone else", "model alone"])
def test_a_training_folder_is_recognised_by_its_contents_not_its_names(layout, world, tmp_path, tiny_bert, capsys):
    out = tmp_path / "proj"
    (out / "model").mkdir(parents=True)
    if layout == "model with a user's notes":
        (out / "model" / "notes.txt").write_text("notes")
    elif layout == "metrics.json of someone else":
        (out / "metrics.json").write_text("{}")
        (out / "model").rmdir()
    else:
        (out / "model" / "config.json").write_text("{}")
    before = snapshot(tmp_path)
    code, _, err = call(capsys, *writer("train classify", world, out, tiny_bert, tiny_bert))
    refused_out(code, err, out, "not a ranker training folder")
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("kind", ["run", "index"])
def test_nothing_is_written_inside_an_existing_index(kind, world, tmp_path, capsys):
    w = copy_world(world, tmp_path)
    out = w / "idx" / ("x.trec" if kind == "run" else "sub")
    before = snapshot(tmp_path)
    if kind == "run":
        code, _, err = call(capsys, "run", w / "idx", "--queries", w / "queries.tsv", "--retriever", "bm25",
                            "--out", out)
        refused_out(code, err, out, "input")
    else:
        code, _, err = call(capsys, "index", w / "beir", "--out", out, "--retrievers", "bm25", "--quiet")
        refused_out(code, err, out, "manifest.json", "ranker artifact")
    assert snapshot(tmp_path) == before


def test_a_name_too_long_for_its_temporary_sibling_is_refused_before_work(world, tmp_path, capsys):
    out = tmp_path / ("b" * 230 + ".trec")
    code, _, err = call(capsys, "run", world / "idx", "--queries", world / "queries.tsv", "--retriever", "bm25",
                        "--out", out, "--quiet")
    error_line(code, err, "too long")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("tag", ["my tag", "\x1b[31mred"])
def test_a_run_tag_must_be_one_printable_word(tag, world, tmp_path, capsys):
    code, _, err = call(capsys, "run", "/nonexistent/idx", "--queries", world / "queries.tsv", "--tag", tag,
                        "--out", tmp_path / "r.trec")
    error_line(code, err, "--tag")
    assert "\x1b" not in err and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("text, needle", [
    ("[dense]\nembedder = 5\n", "expected a table"),
    ("[dense.embedder]\nbatch_size = \"x\"\n", "batch_size"),
])
def test_dense_embedder_settings_in_toml_are_checked(text, needle, tmp_path, tiny_model, capsys):
    config = tmp_path / "c.toml"
    config.write_text(text)
    code, _, err = call(capsys, "index", _tiny_corpus(tmp_path), "--out", tmp_path / "idx", "--model", tiny_model,
                        "--config", config, "--quiet")
    error_line(code, err, str(config), needle)
    assert not (tmp_path / "idx").exists()


def test_dense_embedder_settings_in_toml_are_used(tmp_path, tiny_model, capsys):
    config = tmp_path / "c.toml"
    config.write_text("[dense.embedder]\nmax_length = 64\nbatch_size = 4\n")
    code, _, err = call(capsys, "index", _tiny_corpus(tmp_path), "--out", tmp_path / "idx", "--model", tiny_model,
                        "--config", config, "--quiet")
    assert code == 0, err
    embedder = json.loads((tmp_path / "idx" / "manifest.json").read_text())["components"]["dense"]["config"]["embedder"]
    assert (embedder["max_length"], embedder["batch_size"]) == (64, 4)


def test_a_symlink_loop_is_one_line(world, tmp_path, capsys):
    (tmp_path / "la").symlink_to(tmp_path / "lb")
    (tmp_path / "lb").symlink_to(tmp_path / "la")
    before = snapshot(tmp_path)
    for out in (tmp_path / "la", tmp_path / "la" / "x.trec"):
        code, _, err = call(capsys, "run", world / "idx", "--queries", world / "queries.tsv", "--retriever", "bm25",
                            "--out", out, "--quiet")
        error_line(code, err, "symlink loop")
    assert snapshot(tmp_path) == before


def test_a_path_through_dotdot_is_written_where_it_points(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    code, _, err = call(capsys, "index", _tiny_corpus(tmp_path), "--out", tmp_path / "a" / "b" / "..",
                        "--retrievers", "bm25", "--quiet")
    assert code == 0, err
    assert (tmp_path / "a" / "manifest.json").is_file() and not (tmp_path / "a" / "b").exists()


def test_skip_invalid_leaves_no_rejects_file_when_the_build_fails(tmp_path, capsys):
    corpus = write_jsonl(tmp_path / "sw.jsonl", [{"_id": "a", "text": "the of and"}, {"_id": "b c", "text": "oil"}])
    code, _, err = call(capsys, "index", corpus, "--out", tmp_path / "idx", "--retrievers", "bm25", "--skip-invalid",
                        "--quiet")
    error_line(code, err, "stopword")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sw.jsonl"]


@pytest.mark.parametrize("command", ["search", "index"])
def test_a_closed_stdout_is_not_a_crash(command, world, tmp_path):
    args = {"search": ["search", world / "idx", "oil"],
            "index": ["index", _tiny_corpus(tmp_path), "--out", tmp_path / "idx", "--retrievers", "bm25", "--quiet"]}
    done = subprocess.run(["bash", "-c", 'exec "$@" >&-', "_", sys.executable, "-m", "ranker",
                           *[str(a) for a in args[command]]],
                          env={**os.environ, "HF_HUB_OFFLINE": "1"}, capture_output=False, stderr=subprocess.PIPE,
                          timeout=120)
    assert done.returncode == 0 and done.stderr == b"", done.stderr
    if command == "index":
        assert (tmp_path / "idx" / "manifest.json").is_file()


def test_a_full_standard_output_is_one_line(world):
    with open("/dev/full", "w") as full:
        done = _ranker_process("search", world / "idx", "oil", stdout=full, stderr=subprocess.PIPE)
    assert done.returncode == 2
    assert done.stderr.decode() == "ranker: error: No space left on device (writing the output)\n"


def test_paths_and_names_printed_for_people_carry_no_raw_controls(world, tmp_path, capsys):
    out = tmp_path / "\x1b[31mRED\x1b[0m.trec"
    code, stdout, err = call(capsys, "run", world / "idx", "--queries", world / "queries.tsv", "--retriever", "bm25",
                             "--out", out, "--quiet")
    assert code == 0, err
    _no_raw_controls(stdout + err)
    code, stdout, err = call(capsys, "verify", tmp_path / "\x1b[31mX")
    assert code == 2
    _no_raw_controls(stdout + err)
    code, _, err = call(capsys, "report", f"\x1b[31mX={world / 'run.trec'}", "--qrels",
                        world / "beir" / "qrels" / "test.tsv", "--out", tmp_path / "rep")
    error_line(code, err, "printable")
    _no_raw_controls(err)


def test_verify_flags_links_and_pipes_inside_an_index(world, tmp_path, capsys):
    w = copy_world(world, tmp_path)
    os.mkfifo(w / "idx" / "ff")
    (w / "idx" / "self").symlink_to(".")
    code, out, _ = call(capsys, "verify", w / "idx")
    assert code == 2 and "ff: not a regular file" in out and "self: not a regular file" in out
