"""Streaming indexing: the readers' streams against the list readers on every format
(invalid rows included), the chunked BM25 build against bm25s's own, and an index
built from a stream against one built from a list."""

from __future__ import annotations

import json
import sqlite3

import bm25s
import numpy as np
import pandas as pd
import pytest

import ranker.index.folder as ranker_index
from conftest import random_corpus
from ranker.cli import main
from ranker.core.errors import InputError
from ranker.data.readers import read_articles, stream_articles
from ranker.data.records import Fields
from ranker.index.folder import Index, build_index
from ranker.retrieve import bm25_build
from ranker.retrieve.bm25 import VARIANTS, Analyzer, BM25Config
from ranker.retrieve.bm25_build import build_bm25

GOOD = [{"_id": f"d{i}", "title": f"Title {i}" if i % 3 else "",
         "text": f"oil prices rose {i} times in dam town {i % 7}"}
        for i in range(1, 8)]

#: (what is wrong, a row that is wrong so): each goes between good rows of every format
BAD_ROWS = [
    ("missing id", {"_id": "", "title": "T", "text": "no id"}),
    ("empty text", {"_id": "x1", "title": "T", "text": ""}),
    ("duplicate id", {"_id": "d2", "title": "T", "text": "again"}),
    ("id with a space", {"_id": "x 2", "title": "T", "text": "spaced"}),
]


def _write(rows: list[dict], path):
    """``rows`` in the format ``path``'s suffix names (a folder: BEIR)."""
    if path.suffix == ".jsonl" or not path.suffix:
        target = path / "corpus.jsonl" if not path.suffix else path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(json.dumps(r) + "\n" for r in rows))
    elif path.suffix == ".csv":
        pd.DataFrame(rows).to_csv(path, index=False)
    elif path.suffix == ".tsv":
        pd.DataFrame(rows).to_csv(path, index=False, sep="\t")
    else:
        pd.DataFrame(rows).to_parquet(path)
    return path


FORMATS = ["beir", "c.jsonl", "c.csv", "c.tsv", "c.parquet"]


def _outcome(read):
    """What a read gives: its records and rejects, or the error it raises."""
    try:
        records, rejects = read()
        return "ok", records, rejects
    except InputError as err:
        return "error", str(err), None


def _old_read_articles(path, on_invalid):
    """The list reader as it was before streaming (commit 5cdc723's ``ranker.data.readers._read``
    for a corpus), kept verbatim as the reference the stream must match."""
    from pathlib import Path

    from ranker.data.readers import _check_encodable, _json_type, _rows, _text_field
    from ranker.data.records import MAX_TEXT_CHARS, Article, Reading, Reject, bad_id

    fields = Fields()
    path = Path(path)
    source = path / "corpus.jsonl" if path.is_dir() else path
    seen: dict[str, str] = {}
    records: list = []
    rejects: list[Reject] = []
    for where, row, raw in _rows(path, "corpus"):
        try:
            if isinstance(row, InputError):
                raise row
            if not isinstance(row, dict):
                raise InputError(source, where, "expected an object with named fields")
            ident = _text_field(row, fields.id, source, where)
            if ident is None or not ident.strip():
                raise InputError(source, where, f"missing or empty id field '{fields.id}'")
            bad = bad_id(ident)
            if bad:
                raise InputError(source, where, bad)
            text = _text_field(row, fields.text, source, where)
            if text is None or not text.strip():
                raise InputError(source, where, f"missing or empty text field '{fields.text}'")
            if len(text) > MAX_TEXT_CHARS:
                raise InputError(source, where, f"text field '{fields.text}' holds {len(text):,} characters; texts "
                                 f"over {MAX_TEXT_CHARS:,} are refused (split it into articles, or pass --skip-invalid "
                                 "to leave it out)")
            if ident in seen:
                raise InputError(source, where, f"duplicate id '{ident}' (first seen at {seen[ident]})")
            title = (_text_field(row, fields.title, source, where) or "") if fields.title else ""
            metadata = row.get("metadata")
            if metadata is not None and not isinstance(metadata, dict):
                raise InputError(source, where, f"field 'metadata' must be an object, got {_json_type(metadata)}")
            _check_encodable(row, source, where)
        except InputError as err:
            if on_invalid == "raise":
                raise
            rejects.append(Reject(str(source), where, err.problem, raw.rstrip("\n")))
            continue
        seen[ident] = where
        metadata = metadata or {}
        extras = {k: v for k, v in row.items() if k not in (fields.id, fields.text, fields.title, "metadata")}
        records.append(Article(ident, title, text, {**extras, **metadata}))
    return Reading(records, rejects)


@pytest.mark.parametrize("name", FORMATS)
@pytest.mark.parametrize("bad", [None, *range(len(BAD_ROWS))])
@pytest.mark.parametrize("mode", ["raise", "skip"])
def test_stream_gives_what_the_old_list_reader_gave(tmp_path, name, bad, mode):
    rows = list(GOOD)
    if bad is not None:
        rows.insert(3, BAD_ROWS[bad][1])
    path = _write(rows, tmp_path / name)

    def listed():
        reading = _old_read_articles(path, on_invalid=mode)
        return reading.records, reading.rejects

    def streamed():
        stream = stream_articles(path, on_invalid=mode)
        return list(stream), stream.rejects

    expected = _outcome(listed)
    assert _outcome(streamed) == expected
    assert _outcome(lambda: (read_articles(path, on_invalid=mode).records,
                             read_articles(path, on_invalid=mode).rejects)) == expected
    if bad is not None:  # the bad row is the one named, whichever way it is read
        assert (expected[0], len(expected[2] or [])) == (("error", 0) if mode == "raise" else ("ok", 1))


def test_stream_yields_before_it_reads_the_whole_file(tmp_path):
    path = _write([*GOOD[:3], {"_id": "", "text": "bad"}, *GOOD[3:]], tmp_path / "c.jsonl")
    articles = iter(stream_articles(path))
    assert [next(articles).doc_id for _ in range(3)] == ["d1", "d2", "d3"]  # before the bad line 4 is read
    with pytest.raises(InputError, match="line 4: missing or empty id"):
        next(articles)


def test_stream_reads_again_each_pass_with_its_own_rejects(tmp_path):
    path = _write([*GOOD[:2], GOOD[0]], tmp_path / "c.jsonl")
    stream = stream_articles(path, on_invalid="skip")
    assert [a.doc_id for a in stream] == ["d1", "d2"] == [a.doc_id for a in stream]
    assert len(stream.rejects) == 1  # the second pass's, not both passes'


@pytest.mark.parametrize("variant", VARIANTS)
def test_chunked_bm25_scores_every_document_as_bm25s_does(variant, monkeypatch):
    monkeypatch.setattr(bm25_build, "CHUNK", 37)  # many chunks, the last one short
    texts = random_corpus(400, seed=3)
    texts[5] = "the and of"  # every word a stopword: a document of no tokens
    texts[9] = "Running runners ran; the RUNNER runs! café"  # stems shared by several words
    texts[37:74] = ["5 of 7!"] * 37  # a whole chunk without one indexable word
    texts[-1] = "the"  # and a last chunk of one such text
    config = BM25Config(variant=variant)
    analyzer = Analyzer(config)
    reference = bm25s.BM25(k1=config.k1, b=config.b, delta=config.delta, method=variant)
    reference.index(analyzer.token_ids(texts, show_progress=False), show_progress=False)
    ours = build_bm25(iter(texts), config)
    assert ours.scores["num_docs"] == reference.scores["num_docs"]
    assert set(ours.vocab_dict) == set(reference.vocab_dict)
    for query in analyzer.tokens([texts[0][:30], texts[9], "w001x w002x w003x runner"]):
        np.testing.assert_array_equal(ours.get_scores(query), reference.get_scores(query))  # bit for bit


def test_chunked_bm25_refuses_a_corpus_of_stopwords():
    with pytest.raises(ValueError, match="no document holds a word BM25 can index"):
        build_bm25(["the and", "of it"], BM25Config())


def _docs(folder):
    with sqlite3.connect(folder / "docs.sqlite") as connection:
        return connection.execute("SELECT * FROM docs ORDER BY row").fetchall()


@pytest.mark.parametrize("name", FORMATS)
def test_cli_index_streams_to_the_index_a_list_builds(tmp_path, name, monkeypatch):
    rows = [*GOOD[:3], BAD_ROWS[2][1], *GOOD[3:]]
    path = _write(rows, tmp_path / name)
    old = tmp_path / "from-list"
    build_index(read_articles(path, on_invalid="skip").records, old, show_progress=False)
    monkeypatch.setattr(bm25_build, "CHUNK", 3)  # several chunks of the docstore and BM25 feed
    assert main(["index", str(path), "--out", str(tmp_path / "streamed"), "--skip-invalid", "--quiet"]) == 0
    streamed = tmp_path / "streamed"
    assert _docs(streamed) == _docs(old)
    assert json.loads((streamed / "manifest.json").read_text())["fields"] == ["title", "text"]
    queries = ["oil prices", "dam town 3", "Title 5"]
    a, b = Index.open(old).bm25().search(queries, 5), Index.open(streamed).bm25().search(queries, 5)
    np.testing.assert_array_equal(a.rows, b.rows)
    np.testing.assert_array_equal(a.scores, b.scores)
    # and the scores of bm25s's own index over the same texts, as the old path built it
    from ranker.data.fields import field_text

    config = BM25Config()
    texts = [field_text(x, ("title", "text"), config.title_boost)
             for x in read_articles(path, on_invalid="skip").records]
    reference = bm25s.BM25(k1=config.k1, b=config.b, delta=config.delta, method=config.variant)
    reference.index(Analyzer(config).token_ids(texts, show_progress=False), show_progress=False)
    mapped = Index.open(streamed).bm25()._model
    for tokens in Analyzer(config).tokens(queries):
        np.testing.assert_array_equal(np.asarray(mapped.get_scores(tokens)), reference.get_scores(tokens))
    assert "duplicate id 'd2'" in (tmp_path / "streamed.rejects.jsonl").read_text()


def test_cli_index_of_a_file_bad_past_its_first_chunk_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(bm25_build, "CHUNK", 2)
    path = _write([*GOOD, {"_id": "d1", "text": "duplicate at the end"}], tmp_path / "c.jsonl")
    assert main(["index", str(path), "--out", str(tmp_path / "idx"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"ranker: error: {path}: line 8: duplicate id 'd1' (first seen at line 1)"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.jsonl"]  # no index, no temporary left


def test_build_index_takes_a_stream_with_fields_chosen_by_a_first_pass(tmp_path):
    rows = [{"_id": "a", "text": "no title here"}] * 1 + [{"_id": "b", "title": "Late title", "text": "body"}]
    path = _write(rows, tmp_path / "c.jsonl")
    manifest = build_index(stream_articles(path), tmp_path / "idx", show_progress=False)
    assert manifest["fields"] == ["title", "text"] and manifest["doc_count"] == 2
    empty = _write([], tmp_path / "empty.jsonl")
    with pytest.raises(InputError, match="the corpus is empty"):
        build_index(stream_articles(empty), tmp_path / "idx2", source=str(empty), show_progress=False)
    assert not (tmp_path / "idx2").exists()


def test_stream_fields_name_other_columns(tmp_path):
    frame = pd.DataFrame([{"article_id": "a1", "headline": "Oil", "body": "prices rose"}])
    frame.to_parquet(tmp_path / "c.parquet")
    fields = Fields(id="article_id", title="headline", text="body")
    assert list(stream_articles(tmp_path / "c.parquet", fields)) == read_articles(tmp_path / "c.parquet",
                                                                                  fields).records


def test_a_build_that_failed_on_its_input_does_not_block_the_next(tmp_path, tiny_model):
    from ranker.retrieve.dense import DenseConfig
    from ranker.retrieve.embed import EmbedderConfig

    dense = DenseConfig(embedder=EmbedderConfig(model=str(tiny_model), max_length=32), index_type="flat")
    stopwords = _write([{"_id": "a", "text": "the and of"}], tmp_path / "stop.jsonl")
    with pytest.raises(InputError, match="no document holds a word BM25 can index"):
        build_index(stream_articles(stopwords), tmp_path / "idx", dense=dense, show_progress=False)
    assert (tmp_path / ".idx.shards").is_dir()  # encoded before BM25 failed: kept, so a rerun resumes
    good = _write(GOOD, tmp_path / "good.jsonl")
    manifest = build_index(stream_articles(good), tmp_path / "idx", dense=dense, show_progress=False)
    assert manifest["doc_count"] == len(GOOD) and not (tmp_path / ".idx.shards").exists()
    # a folder the user named is theirs: shards of another corpus in it are refused, not removed
    mine = tmp_path / "my-shards"
    build_index(stream_articles(stopwords), tmp_path / "idx2", bm25=None, dense=dense, shards=mine, show_progress=False)
    mine.mkdir(exist_ok=True)
    (mine / "ABOUT").write_text("another corpus")
    with pytest.raises(InputError, match="holds shards of another corpus or model"):
        build_index(stream_articles(good), tmp_path / "idx3", dense=dense, shards=mine, show_progress=False)


def test_a_corpus_changed_between_encoding_and_storing_is_refused(tmp_path, tiny_model, monkeypatch):
    from ranker.retrieve.dense import DenseConfig
    from ranker.retrieve.embed import EmbedderConfig

    path = _write(GOOD, tmp_path / "c.jsonl")
    real = ranker_index.encode_corpus

    def encode_then_edit(*args, **kwargs):  # the file changes while its texts are encoded
        vectors = real(*args, **kwargs)
        _write([*GOOD[:-1], {**GOOD[-1], "text": "a different last article"}], path)
        return vectors

    monkeypatch.setattr(ranker_index, "encode_corpus", encode_then_edit)
    dense = DenseConfig(embedder=EmbedderConfig(model=str(tiny_model), max_length=32), index_type="flat")
    with pytest.raises(InputError, match="the corpus changed while it was being indexed"):
        build_index(stream_articles(path), tmp_path / "idx", dense=dense, show_progress=False)
    assert not (tmp_path / "idx").exists()


def test_a_second_encoder_of_the_same_shards_is_refused(tmp_path):
    import fcntl
    import os

    from ranker.retrieve.embed import _only_encoder

    shards = tmp_path / "shards"
    shards.mkdir()
    other = os.open(shards, os.O_RDONLY)  # another process's hold, as flock sees it: another open file
    fcntl.flock(other, fcntl.LOCK_EX)
    try:
        with pytest.raises(InputError, match="another process is encoding into this folder"):
            with _only_encoder(shards):
                pass
    finally:
        os.close(other)
    with _only_encoder(shards):  # free again
        pass


def test_bm25_opens_memory_mapped_and_answers_as_in_memory_with_either_backend(tmp_path):
    from ranker.retrieve.bm25 import BM25Retriever

    texts = random_corpus(300, seed=4)
    queries = [" ".join(t.split()[:3]) for t in texts[:20]]
    for backend in ("numpy", "numba"):
        retriever = BM25Retriever(BM25Config(backend=backend))
        retriever.index(texts, show_progress=False)
        retriever.save(tmp_path / backend)
        loaded = BM25Retriever.load(tmp_path / backend)
        data = loaded._model.scores["data"]
        assert not data.flags.owndata and not data.flags.writeable  # a view of the read-only mapped file
        built, mapped = retriever.search(queries, 10), loaded.search(queries, 10)
        np.testing.assert_array_equal(mapped.rows, built.rows)
        np.testing.assert_array_equal(mapped.scores, built.scores)
