"""More of the bad-input matrix: queries with nothing BM25 can match, qrels naming
articles the index does not hold. Neither may crash; each says what happened."""

from __future__ import annotations

import json

import pytest

from ranker.cli import main


@pytest.fixture
def index(tmp_path, beir_folder, tiny_model, capsys):
    out = tmp_path / "idx"
    assert main(["index", str(beir_folder), "--out", str(out), "--model", str(tiny_model), "--quiet"]) == 0
    capsys.readouterr()
    return out


@pytest.mark.parametrize("query", ["the of and", "?!... ,;", "🙂🚀🙂", "   "])
def test_queries_bm25_cannot_match_find_nothing_and_dense_still_answers(index, query, capsys):
    assert main(["search", str(index), query, "--retriever", "bm25", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["hits"] == []
    assert main(["search", str(index), query, "--retriever", "bm25"]) == 0
    assert "no document matches this query" in capsys.readouterr().out
    assert main(["search", str(index), query, "--retriever", "dense", "--json", "-k", "3"]) == 0
    assert len(json.loads(capsys.readouterr().out)["hits"]) == 3
    assert main(["search", str(index), query, "--json", "-k", "3"]) == 0  # hybrid: dense's answers
    assert len(json.loads(capsys.readouterr().out)["hits"]) == 3


def test_qrels_naming_unknown_articles_are_left_out_with_a_count(tmp_path, beir_folder, index, capsys):
    qrels = tmp_path / "train.tsv"
    qrels.write_text((beir_folder / "qrels" / "test.tsv").read_text() + "td1\tnot-here\t1\ntd2\tgone\t1\n")
    out = tmp_path / "mined"
    assert main(["mine", str(index), "--queries", str(beir_folder), "--qrels", str(qrels), "--out", str(out),
                 "--strategy", "bm25", "--negatives", "1", "--relative-margin", "-1", "--quiet"]) == 0
    captured = capsys.readouterr()
    assert ("warning: 2 of 8 training pairs name a positive article that is not in the index "
            "(first: query td1, article not-here); they are left out") in captured.err
    assert "6 queries" in captured.out


def test_an_index_from_another_format_version_is_one_line_asking_for_a_rebuild(index, capsys):
    from ranker.core.integrity import write_listed

    manifest = json.loads((index / "manifest.json").read_text())
    write_listed(index, "manifest.json", {**manifest, "format_version": 99})  # as a later ranker would write it
    for command in (["search", str(index), "oil"], ["query", str(index), "oil"], ["verify", str(index)]):
        code = main(command)
        err = capsys.readouterr()
        if command[0] == "verify":  # the files are intact: verify checks sha256s, not the format
            assert code == 0
            continue
        assert code == 2 and err.err.strip() == (
            f"ranker: error: {index / 'manifest.json'}: format_version: index format 99 but this ranker reads 1: "
            "rebuild the index")


@pytest.mark.parametrize("command, files, message", [
    (["run", "{index}", "--queries", "{dir}/q.jsonl", "--retriever", "bm25", "--out", "{dir}/out.trec"],
     {"q.jsonl": '{"_id": "q1", "text": "oil"}\n{"_id": "q2", "text": \n'}, "{dir}/q.jsonl: line 2: invalid JSON"),
    (["report", "{dir}/run.trec", "--qrels", "{dir}/qrels.txt", "--out", "{dir}/report"],
     {"run.trec": "q1 Q0 d1 1 0.5 x\nq1 Q0 d2 two 0.4 x\n", "qrels.txt": "q1 0 d1 1\n"},
     "{dir}/run.trec: line 2: rank 'two' is not a positive integer"),
    (["evaluate", "{dir}/run.trec", "{dir}/qrels.txt"],
     {"run.trec": "q1 Q0 d1 1 0.5 x\n", "qrels.txt": "q1 0 d1\n"}, "{dir}/qrels.txt: line 1"),
    (["train", "classify", "--train", "{dir}/cls.tsv", "--out", "{dir}/cls", "--max-steps", "1"],
     {"cls.tsv": "label\ttext\nA\tsome text\nB\n"}, "{dir}/cls.tsv: line 3: expected 'label<TAB>text'"),
    (["mine", "{index}", "--queries", "{dir}/q.jsonl", "--qrels", "{dir}/qrels.txt", "--out", "{dir}/mined"],
     {"q.jsonl": '{"_id": "q1", "text": "oil"}\n', "qrels.txt": "q1 0 d1 x\n"}, "{dir}/qrels.txt: line 1"),
    (["train", "pairs", "--train", "{dir}/p.tsv", "--out", "{dir}/pairs", "--max-steps", "1"],
     {"p.tsv": "sentence1\tsentence2\tscore\na\tb\t0.5\nc\td\thigh\n"},
     "{dir}/p.tsv: line 3: score 'high' is not a finite number"),
    (["train", "tag", "--train", "{dir}/t.txt", "--out", "{dir}/tag", "--max-steps", "1"],
     {"t.txt": "The/DT cat/NN\nsat on/IN\n"}, "{dir}/t.txt: line 2: token 'sat' has no '/TAG'"),
    (["train", "qa", "--train", "{dir}/q.json", "--out", "{dir}/qa", "--max-steps", "1"],
     {"q.json": '{"data": ['}, "{dir}/q.json: line 1: invalid JSON"),
    (["train", "reranker", "--groups", "{dir}/g.parquet", "--index", "{index}", "--out", "{dir}/ce"],
     {"g.parquet": "not parquet"}, "{dir}/g.parquet: not a parquet file"),
    (["train", "embedder", "--groups", "{dir}/g.parquet", "--index", "{index}", "--out", "{dir}/emb"],
     {"g.parquet": "not parquet"}, "{dir}/g.parquet: not a parquet file"),
    (["predict", "classify", "{dir}/model", "some text"],
     {"model/weights.bin": "x"}, "{dir}/model: not a model folder (no config.json)"),
    (["query", "{index}", "--queries", "{dir}/q.txt", "--retriever", "bm25"],
     {"q.txt": b"oil prices\n\xff\xfe gas\n"}, "{dir}/q.txt: line 2: not UTF-8 text"),
    (["index", "{dir}/c.jsonl", "--out", "{dir}/idx", "--retrievers", "bm25"],
     {"c.jsonl": '{"_id": "1", "text": "oil"}\n{"_id": "1", "text": "gas"}\n'}, "{dir}/c.jsonl: line 2"),
])
def test_every_command_refuses_bad_files_in_one_line_and_writes_nothing(tmp_path, index, capsys, command, files,
                                                                         message):
    folder = tmp_path / "case"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).parent.mkdir(exist_ok=True)
        if isinstance(text, bytes):
            (folder / name).write_bytes(text)
        else:
            (folder / name).write_text(text)
    args = [part.format(index=index, dir=folder) for part in command]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("ranker: error: " + message.format(dir=folder)) and "\n" not in err, err
    written = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert written == sorted(files)  # no output, no temporary sibling


def test_engine_ray_without_ray_installed_is_one_line_before_any_work(tmp_path, beir_folder, monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)  # as if the [ray] extra were not installed
    out = tmp_path / "idx"
    assert main(["index", str(beir_folder), "--out", str(out), "--engine", "ray", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == "ranker: error: --engine ray: Ray is not installed: pip install 'ranker[ray]'" and not out.exists()
