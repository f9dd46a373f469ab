"""The CLI end to end on a tiny BEIR folder, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ranker.cli import main


def ranker(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ranker", *args], capture_output=True, text=True)


def test_index_search_run_evaluate(tmp_path, beir_folder, capsys):
    index = tmp_path / "idx"
    assert main(["index", str(beir_folder), "--out", str(index), "--retrievers", "bm25", "--quiet"]) == 0
    assert "indexed 6 documents (bm25)" in capsys.readouterr().out

    assert main(["search", str(index), "Brexit Article 50", "-k", "3"]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0] == "retriever: bm25"
    assert table.splitlines()[1].split() == ["rank", "id", "score", "title", "outlet", "date"]
    assert "Brexit letter sent" in table and "triggered Article 50" in table

    assert main(["search", str(index), "oil prices", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert {h["doc_id"] for h in hits} == {"d1", "d6"} and hits[0]["metadata"]["outlet"] == "Test"

    assert main(["search", str(index), "the of and"]) == 0
    assert "no document matches" in capsys.readouterr().out

    run = tmp_path / "run.trec"
    assert main(["run", str(index), "--queries", str(beir_folder), "--split", "test", "--out", str(run),
                 "--quiet"]) == 0
    capsys.readouterr()
    lines = run.read_text().splitlines()
    assert lines[0].split()[:4] == ["td1", "Q0", "d1", "1"] and lines[0].endswith(" bm25")

    assert main(["evaluate", str(run), str(beir_folder / "qrels" / "test.tsv"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["queries"] == 6 and report["metrics"]["MRR@10"] == pytest.approx(1.0)

    from ranker.eval.runs import read_run_meta

    meta = read_run_meta(run)
    assert meta["queries"] == 6 and meta["seconds"]["retrieve"] >= 0 and meta["retriever"] == "bm25"
    out = tmp_path / "report"
    assert main(["report", f"bm25={run}", "--qrels", str(beir_folder / "qrels" / "test.tsv"), "--out", str(out),
                 "--data", str(beir_folder), "--index", str(index), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["systems"]["bm25"]["metrics"]["MRR@10"]["mean"] == pytest.approx(1.0)
    assert data["index_manifest"]["doc_count"] == 6 and (out / "index.html").is_file()


def test_bad_input_is_one_line_exit_2_and_no_partial_output(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"_id": "1", "text": "fine"}\n{"_id": "2", "text": \n')
    done = ranker("index", str(corpus), "--out", str(tmp_path / "idx"))
    assert done.returncode == 2
    assert done.stderr.strip() == f"ranker: error: {corpus}: line 2: invalid JSON (Expecting value)"
    assert "Traceback" not in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.jsonl"]


def test_skip_invalid_writes_rejects_and_indexes_the_rest(tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"_id": "1", "text": "oil"}\n{"_id": "1", "text": "dup"}\n{"_id": "3", "text": "dam"}\n')
    done = ranker("index", str(corpus), "--out", str(tmp_path / "idx"), "--retrievers", "bm25", "--skip-invalid",
                  "--quiet")
    assert done.returncode == 0, done.stderr
    assert "skipped 1 invalid rows" in done.stderr and "indexed 2 documents" in done.stdout
    rejects = [json.loads(line) for line in (tmp_path / "idx.rejects.jsonl").read_text().splitlines()]
    assert rejects[0]["where"] == "line 2" and "duplicate id" in rejects[0]["problem"]


def test_rebuild_that_fails_keeps_the_previous_index(tmp_path, beir_folder):
    index = tmp_path / "idx"
    assert ranker("index", str(beir_folder), "--out", str(index), "--retrievers", "bm25", "--quiet").returncode == 0
    before = (index / "manifest.json").read_text()
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    done = ranker("index", str(empty), "--out", str(index))
    assert done.returncode == 2 and "the corpus is empty" in done.stderr
    assert (index / "manifest.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["beir", "empty.jsonl", "idx"]


def test_not_an_index_and_bad_run_are_clear_errors(tmp_path):
    done = ranker("search", str(tmp_path), "oil")
    assert done.returncode == 2 and "not an index folder" in done.stderr
    run = tmp_path / "run.trec"
    run.write_text("q1 Q0 d1 1 0.5\n")
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("q1 0 d1 1\n")
    done = ranker("evaluate", str(run), str(qrels))
    assert done.returncode == 2 and f"{run}: line 1: expected" in done.stderr


def test_help_explains_every_command():
    done = ranker("--help")
    assert done.returncode == 0
    for command in ("data", "index", "search", "run", "evaluate"):
        assert command in done.stdout
    assert "examples:" in done.stdout


def test_help_does_not_import_heavy_modules():
    code = ("import sys; from ranker import cli; cli.parser(); "
            "print(sorted(m for m in ('torch', 'faiss', 'transformers', 'bm25s', 'pandas') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert done.stdout.strip() == "[]"


def test_bm25_settings_from_toml_and_flags(tmp_path, beir_folder):
    config = tmp_path / "ranker.toml"
    config.write_text('[bm25]\nvariant = "robertson"\nk1 = 1.2\n')
    index = tmp_path / "idx"
    done = ranker("index", str(beir_folder), "--out", str(index), "--config", str(config), "--b", "0.5",
                  "--retrievers", "bm25", "--quiet")
    assert done.returncode == 0, done.stderr
    settings = json.loads((index / "manifest.json").read_text())["components"]["bm25"]
    assert (settings["variant"], settings["k1"], settings["b"]) == ("robertson", 1.2, 0.5)
    config.write_text("[bm25]\nk2 = 3\n")
    done = ranker("index", str(beir_folder), "--out", str(index), "--config", str(config))
    assert done.returncode == 2 and f"{config}: bm25: unknown settings ['k2']" in done.stderr
    done = ranker("index", str(beir_folder), "--out", str(index), "--b", "2")
    assert done.returncode == 2 and done.stderr == ("ranker index: error: argument --b: must be a number in [0, 1], "
                                                    "got '2' (see 'ranker index --help')\n")
