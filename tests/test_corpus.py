"""Readers: every format, and every kind of invalid input named by file and line."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from ranker.core.errors import InputError
from ranker.data.qrels import read_qrels
from ranker.data.readers import read_articles, read_queries
from ranker.data.records import Fields


def write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def test_reads_beir_jsonl_csv_parquet_alike(tmp_path, beir_folder):
    expected = read_articles(beir_folder).records
    assert [a.doc_id for a in expected] == ["d1", "d2", "d3", "d4", "d5", "d6"]
    assert expected[0].metadata == {"outlet": "Test"}

    frame = pd.DataFrame(
        [{"article_id": a.doc_id, "headline": a.title, "body": a.text, "outlet": "Test"} for a in expected]
    )
    fields = Fields(id="article_id", title="headline", text="body")
    frame.to_csv(tmp_path / "c.csv", index=False)
    frame.to_parquet(tmp_path / "c.parquet")
    for path in (tmp_path / "c.csv", tmp_path / "c.parquet"):
        assert read_articles(path, fields).records == expected


def test_reads_queries_tsv_and_beir(tmp_path, beir_folder):
    path = write(tmp_path, "q.tsv", "q1\toil prices\nq2\tdam\twith tab\n")
    queries = read_queries(path).records
    assert [(q.qid, q.text) for q in queries] == [("q1", "oil prices"), ("q2", "dam\twith tab")]
    assert len(read_queries(beir_folder).records) == 6


BAD_JSONL = [
    ('{"_id": "1", "text": "ok"}\n{"_id": "2", "text": \n', "line 2", "invalid JSON"),
    ('{"_id": "1", "text": "ok"}\n{"text": "no id"}\n', "line 2", "missing or empty id field '_id'"),
    ('{"_id": " ", "text": "blank id"}\n', "line 1", "missing or empty id field '_id'"),
    ('{"_id": "1"}\n', "line 1", "missing or empty text field 'text'"),
    ('{"_id": "1", "text": ""}\n', "line 1", "missing or empty text field 'text'"),
    ('{"_id": "1", "text": "a"}\n\n{"_id": "1", "text": "b"}\n', "line 3", "duplicate id '1' (first seen at line 1)"),
    ('["not", "an", "object"]\n', "line 1", "expected an object"),
    (b'{"_id": "1", "text": "ok"}\n{"_id": "2", "text": "caf\xe9"}\n', "line 2", "undecodable bytes"),
    ('{"_id": "1", "text": "ok"}\n{"_id": "2", "text": "' + "word " * 200_001 + '"}\n', "line 2",
     "text field 'text' holds 1,000,005 characters; texts over 1,000,000 are refused"),
]


@pytest.mark.parametrize("content, where, problem", BAD_JSONL)
def test_invalid_jsonl_names_file_line_and_problem(tmp_path, content, where, problem):
    path = write(tmp_path, "corpus.jsonl", content)
    with pytest.raises(InputError) as caught:
        read_articles(path)
    assert caught.value.path == str(path) and caught.value.where == where
    assert problem in caught.value.problem
    assert str(caught.value).startswith(f"{path}: {where}: ")


@pytest.mark.parametrize(
    "content, where, problem",
    [
        ("_id,title,text\n1,T,ok\n,T,no id\n", "line 3", "missing or empty id"),
        ("_id,title,text\n1,T,ok\n2,T,\n", "line 3", "missing or empty text"),
        ('_id,title,text\n1,T,"multi\nline"\n1,T,dup\n', "line 4", "duplicate id '1'"),
        ("_id,title,text\n1,T,ok,extra\n", "line 2", "more fields than the header"),
        (b"_id,title,text\n1,T,ok\n2,T,\xff\xfe\n", "line 3", "undecodable bytes"),
    ],
)
def test_invalid_csv_names_line(tmp_path, content, where, problem):
    path = write(tmp_path, "corpus.csv", content)
    with pytest.raises(InputError) as caught:
        read_articles(path)
    assert (caught.value.where, problem in caught.value.problem) == (where, True), str(caught.value)


def test_invalid_parquet_rows_and_queries(tmp_path):
    pd.DataFrame({"_id": ["1", "1"], "text": ["a", "b"]}).to_parquet(tmp_path / "c.parquet")
    with pytest.raises(InputError, match="row 2: duplicate id '1'"):
        read_articles(tmp_path / "c.parquet")
    write(tmp_path, "broken.parquet", "not parquet at all")
    with pytest.raises(InputError, match="not a readable Parquet file"):
        read_articles(tmp_path / "broken.parquet")
    with pytest.raises(InputError, match="line 2: expected 'qid<TAB>text'"):
        read_queries(write(tmp_path, "q.tsv", "q1\tok\nq2 no tab\n"))
    with pytest.raises(InputError, match="unknown format"):
        read_articles(write(tmp_path, "c.xml", "<doc/>"))
    with pytest.raises(InputError, match="needs corpus.jsonl"):
        read_articles(tmp_path)


def test_skip_invalid_returns_every_reject_with_its_reason(tmp_path):
    content = "".join(line for line, _, _ in BAD_JSONL[:2]) + '{"_id": "9", "text": "fine"}\n'
    path = write(tmp_path, "corpus.jsonl", content)
    reading = read_articles(path, on_invalid="skip")
    assert [a.doc_id for a in reading.records] == ["1", "9"]
    assert [(r.where, r.problem.split(" (")[0]) for r in reading.rejects] == [
        ("line 2", "invalid JSON"),
        ("line 3", "duplicate id '1'"),
        ("line 4", "missing or empty id field '_id'"),
    ]
    assert json.loads(json.dumps(vars(reading.rejects[0])))["row"].startswith('{"_id": "2"')


def test_qrels_trec_and_beir_and_errors(tmp_path):
    trec = write(tmp_path, "q.trec", "q1 0 d1 1\nq1 0 d2 0\nq2 0 d3 2\n")
    beir = write(tmp_path, "q.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td2\t0\nq2\td3\t2\n")
    assert read_qrels(trec) == read_qrels(beir) == {"q1": {"d1": 1, "d2": 0}, "q2": {"d3": 2}}
    with pytest.raises(InputError, match="line 2: relevance 'high' is not an integer"):
        read_qrels(write(tmp_path, "bad1", "q1 0 d1 1\nq1 0 d2 high\n"))
    with pytest.raises(InputError, match="line 1: expected"):
        read_qrels(write(tmp_path, "bad2", "q1 d1\n"))
    with pytest.raises(InputError, match=r"line 2: \(q1, d1\) is judged twice"):
        read_qrels(write(tmp_path, "bad3", "q1 0 d1 1\nq1 0 d1 0\n"))
