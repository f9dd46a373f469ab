"""Records (articles, queries, qrels) and the readers every command shares.

Corpora are read from a BEIR folder (``corpus.jsonl``), JSONL, CSV or Parquet;
queries from a BEIR folder (``queries.jsonl``), JSONL, CSV, Parquet or TSV
(``qid<TAB>text``, no header); qrels from TREC (``qid 0 docid rel``) or BEIR
(``query-id<TAB>corpus-id<TAB>score`` with a header) files.

Nothing is dropped silently: bad input raises :class:`~ranker.core.errors.InputError`
naming the file, the line or row, and the problem, unless the caller asks to skip
invalid rows, in which case every rejected row comes back with its reason.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ranker.core.errors import InputError
from ranker.core.files import atomic_write_text, decoded_lines, loads_strict, split_lines

# A news article runs to a few thousand characters; a text of a million is a dump
# pasted into one field, which BM25 and the embedder would take as one article.
MAX_TEXT_CHARS = 1_000_000

#: qid -> docid -> graded relevance
Qrels = dict[str, dict[str, int]]

OnInvalid = Literal["raise", "skip"]


@dataclass(frozen=True)
class Article:
    """One indexed document.

    Example:
        >>> Article("7", "Brexit vote", "MPs voted ...", {"outlet": "BBC"}).doc_id
        '7'
    """

    doc_id: str
    title: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Query:
    """One query.

    Example:
        >>> Query("t7", "Brexit vote").text
        'Brexit vote'
    """

    qid: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Fields:
    """Which fields of a record hold the id, the title and the text.

    Example:
        >>> Fields(id="article_id", text="body").id
        'article_id'
    """

    id: str = "_id"
    title: str = "title"
    text: str = "text"

    def __post_init__(self) -> None:
        if not self.id or not self.text:
            raise ValueError("Fields: the id and text field names must not be empty")


@dataclass(frozen=True)
class Reject:
    """A row left out under ``on_invalid="skip"``, with where it was and why."""

    path: str
    where: str
    problem: str
    row: str


@dataclass(frozen=True)
class Reading:
    """What a reader returns: the valid records, and the rejected rows (empty
    unless invalid rows were skipped)."""

    records: list
    rejects: list[Reject]


# --------------------------------------------------------------------------- rows


def _jsonl_rows(path: Path) -> Iterator[tuple[str, Any, str]]:
    for number, line in decoded_lines(path):
        if not line.strip():
            continue
        try:
            row = loads_strict(line)
        except json.JSONDecodeError as err:
            yield f"line {number}", InputError(path, f"line {number}", f"invalid JSON ({err.msg})"), line
            continue
        except ValueError as err:  # a key given twice, or nesting too deep
            yield f"line {number}", InputError(path, f"line {number}", f"invalid JSON ({err})"), line
            continue
        yield f"line {number}", row, line


def _csv_rows(path: Path, delimiter: str) -> Iterator[tuple[str, Any, str]]:
    # csv needs the newlines kept; line_num then counts physical lines, which is
    # what a user sees in an editor even when a quoted field spans lines.
    lines = (line for _, line in decoded_lines(path))
    csv.field_size_limit(sys.maxsize)
    # strict: an unterminated quote is an error, not the rest of the file folded into one field
    reader = csv.DictReader(lines, delimiter=delimiter, strict=True)
    try:
        for row in reader:
            where = f"line {reader.line_num}"
            if None in row:
                yield where, InputError(path, where, "more fields than the header names"), str(row)
                continue
            if None in row.values():
                yield where, InputError(path, where, "fewer fields than the header names"), str(row)
                continue
            yield where, {k: v for k, v in row.items()}, str(row)
    except csv.Error as err:
        raise InputError(path, f"line {reader.line_num}", f"malformed CSV ({err})") from None


def _tsv_query_rows(path: Path) -> Iterator[tuple[str, Any, str]]:
    for number, line in decoded_lines(path):
        line = line.rstrip("\r\n")
        if not line.strip():
            continue
        parts = line.split("\t", 1)
        if len(parts) != 2:
            yield f"line {number}", InputError(path, f"line {number}", "expected 'qid<TAB>text'"), line
            continue
        yield f"line {number}", {"_id": parts[0], "text": parts[1]}, line


def _parquet_rows(path: Path) -> Iterator[tuple[str, Any, str]]:
    import pyarrow.parquet as pq

    try:
        table = pq.ParquetFile(path)
    except Exception as err:  # pyarrow raises several types for a broken file
        raise InputError(path, None, f"not a readable Parquet file ({err})") from None
    number = 0
    for batch in table.iter_batches():
        for row in batch.to_pylist():
            number += 1
            yield f"row {number}", row, json.dumps(row, default=str)


def _rows(path: Path, kind: Literal["corpus", "queries"]) -> Iterator[tuple[str, Any, str]]:
    if path.is_dir():
        name = "corpus.jsonl" if kind == "corpus" else "queries.jsonl"
        inner = path / name
        if not inner.exists():
            raise InputError(path, None, f"a BEIR folder needs {name}; it is missing")
        yield from _jsonl_rows(inner)
        return
    if not path.exists():
        raise InputError(path, None, "no such file or folder")
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        yield from _jsonl_rows(path)
    elif suffix == ".csv":
        yield from _csv_rows(path, ",")
    elif suffix == ".tsv" and kind == "queries":
        yield from _tsv_query_rows(path)
    elif suffix == ".tsv":
        yield from _csv_rows(path, "\t")
    elif suffix == ".parquet":
        yield from _parquet_rows(path)
    else:
        raise InputError(path, None, f"unknown format '{suffix}': use .jsonl, .csv, .tsv, .parquet or a BEIR folder")


def _text_field(row: dict, name: str, path: Path, where: str) -> str | None:
    """The field as text (a number becomes its digits); None when absent.

    Raises:
        InputError: the field holds something else (an object, a list, true/false),
            or a lone surrogate that no UTF-8 file or database can hold.
    """
    value = row.get(name)
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise InputError(path, where, f"field '{name}' must be text, got {_json_type(value)}")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        raise InputError(path, where, f"field '{name}' holds a lone surrogate ({value[err.start]!a}) that UTF-8 "
                         "cannot carry") from None
    return value


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "a list", bool: "true/false", str: "text"}
    return names.get(type(value), type(value).__name__)


def bad_id(ident: str) -> str | None:
    """Why ``ident`` cannot be an id, or None: TREC files separate columns by
    whitespace, and a control character would reach the terminal raw.

    Example:
        >>> bad_id("d1") is None, bad_id("d 1")
        (True, "id 'd 1' holds whitespace (' '); ids must be one word")
    """
    import unicodedata

    for char in ident:
        if char.isspace():
            return f"id {ident!a} holds whitespace ({char!a}); ids must be one word"
        if unicodedata.category(char) in ("Cc", "Cf", "Cs"):
            return f"id {ident!a} holds a control character ({char!a})"
    return None


def _records(
    path: Path, kind: Literal["corpus", "queries"], fields: Fields, on_invalid: OnInvalid, rejects: list[Reject]
) -> Iterator[Article | Query]:
    """The valid records of ``path`` one at a time, rejected rows appended to ``rejects``.

    Duplicate ids are caught across the whole file by remembering each id and where it
    was first seen (about 200 bytes an id: 200 MB for a million, never the texts).
    """
    source = path / ("corpus.jsonl" if kind == "corpus" else "queries.jsonl") if path.is_dir() else path
    seen: dict[str, str] = {}
    for where, row, raw in _rows(path, kind):
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
                raise InputError(source, where, f"text field '{fields.text}' holds {len(text):,} characters; texts over "
                                 f"{MAX_TEXT_CHARS:,} are refused (split it into articles, or pass --skip-invalid to leave it out)")
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
        extras = {
            k: v for k, v in row.items() if k not in (fields.id, fields.text, fields.title, "metadata")
        }
        metadata = {**extras, **metadata}
        if kind == "corpus":
            yield Article(ident, title, text, metadata)
        else:
            yield Query(ident, text, metadata)


class ArticleStream:
    """The articles of a file, read as they are iterated: a million articles never sit
    in memory at once. Each pass reads the file again (so an index build can take
    two), with the same checks as :func:`read_articles`; ``rejects`` holds the rows
    the latest pass left out under ``on_invalid="skip"``.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "c.jsonl"
        >>> _ = p.write_text('{"_id": "1", "text": "body"}\\n{"_id": "1", "text": "again"}\\n')
        >>> stream = stream_articles(p, on_invalid="skip")
        >>> [a.doc_id for a in stream], [r.problem for r in stream.rejects]
        (['1'], ["duplicate id '1' (first seen at line 1)"])
    """

    def __init__(self, path: str | Path, fields: Fields = Fields(), on_invalid: OnInvalid = "raise") -> None:
        self.path = Path(path)
        self.fields = fields
        self.on_invalid = on_invalid
        self.rejects: list[Reject] = []

    def __iter__(self) -> Iterator[Article]:
        rejects: list[Reject] = []
        self.rejects = rejects
        return _records(self.path, "corpus", self.fields, self.on_invalid, rejects)  # type: ignore[return-value]

    def __repr__(self) -> str:
        return f"ArticleStream({str(self.path)!r})"


def _read(
    path: str | Path, kind: Literal["corpus", "queries"], fields: Fields, on_invalid: OnInvalid
) -> Reading:
    rejects: list[Reject] = []
    return Reading(list(_records(Path(path), kind, fields, on_invalid, rejects)), rejects)


def _check_encodable(value: Any, path: Path, where: str) -> None:
    """Refuse a lone surrogate anywhere in a row (JSON can spell one; UTF-8 cannot hold it)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as err:
            raise InputError(path, where, f"a lone surrogate ({value[err.start]!a}) that UTF-8 cannot carry") from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_encodable(key, path, where)
            _check_encodable(item, path, where)
    elif isinstance(value, list):
        for item in value:
            _check_encodable(item, path, where)


def read_articles(path: str | Path, fields: Fields = Fields(), on_invalid: OnInvalid = "raise") -> Reading:
    """Read a corpus of articles.

    Args:
        path: a BEIR folder, or a ``.jsonl``, ``.csv``, ``.tsv`` or ``.parquet`` file.
        fields: the names of the id, title and text fields; other fields become
            metadata (a BEIR ``metadata`` object is merged in).
        on_invalid: ``"raise"`` stops at the first bad row; ``"skip"`` leaves it
            out and reports it in ``Reading.rejects``.

    Returns:
        A :class:`Reading` whose ``records`` are :class:`Article` objects in file order.

    Raises:
        InputError: a bad file or row (invalid JSON, missing or empty id or text,
            duplicate id, undecodable bytes), naming the file and line or row.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "c.jsonl"
        >>> _ = p.write_text('{"_id": "1", "title": "T", "text": "body"}\\n')
        >>> read_articles(p).records[0].text
        'body'
    """
    return _read(path, "corpus", fields, on_invalid)


def stream_articles(path: str | Path, fields: Fields = Fields(), on_invalid: OnInvalid = "raise") -> ArticleStream:
    """:func:`read_articles` as an :class:`ArticleStream`: the articles one at a time, for
    corpora too big to hold (``build_index`` takes a stream as it takes a list).

    Example:
        >>> ranker.build_index(stream_articles("big.jsonl"), "indexes/big")  # doctest: +SKIP
    """
    return ArticleStream(path, fields, on_invalid)


def read_queries(path: str | Path, fields: Fields = Fields(title=""), on_invalid: OnInvalid = "raise") -> Reading:
    """Read queries from a BEIR folder, JSONL, CSV, Parquet or ``qid<TAB>text`` TSV.

    Args:
        path: where the queries are.
        fields: the names of the id and text fields (TSV files always give both).
        on_invalid: as in :func:`read_articles`.

    Returns:
        A :class:`Reading` whose ``records`` are :class:`Query` objects in file order.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "q.tsv"
        >>> _ = p.write_text("q1\\toil prices\\n")
        >>> read_queries(p).records[0]
        Query(qid='q1', text='oil prices', metadata={})
    """
    return _read(path, "queries", fields, on_invalid)


def write_rejects(path: str | Path, rejects: list[Reject]) -> None:
    """Write rejected rows, one JSON object a line, atomically.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "rejects.jsonl"
        >>> write_rejects(p, [Reject("c.jsonl", "line 2", "invalid JSON", "{")])
        >>> json.loads(p.read_text())["problem"]
        'invalid JSON'
    """
    lines = [json.dumps(vars(r), ensure_ascii=False) for r in rejects]
    atomic_write_text(path, "".join(line + "\n" for line in lines))


# -------------------------------------------------------------------------- qrels


def read_qrels(path: str | Path) -> Qrels:
    """Read relevance judgements from a TREC or a BEIR qrels file.

    TREC lines are ``qid iteration docid relevance`` (whitespace separated); BEIR
    files are tab separated ``query-id corpus-id score`` with that header.

    Returns:
        ``{qid: {docid: relevance}}``.

    Raises:
        InputError: a malformed line, a non-integer relevance or a repeated pair.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "qrels.txt"
        >>> _ = p.write_text("q1 0 d1 1\\nq1 0 d2 0\\n")
        >>> read_qrels(p)
        {'q1': {'d1': 1, 'd2': 0}}
    """
    path = Path(path)
    qrels: Qrels = {}
    for number, parts in split_lines(path, "qrels"):
        if number == 1 and parts[:2] == ["query-id", "corpus-id"]:
            continue
        if len(parts) == 4:
            qid, _, docid, rel = parts
        elif len(parts) == 3:
            qid, docid, rel = parts
        else:
            raise InputError(path, f"line {number}", f"expected 'qid 0 docid rel' (TREC) or 'qid docid score' (BEIR), got {len(parts)} fields")
        try:
            relevance = int(float(rel)) if float(rel).is_integer() else None
        except ValueError:
            relevance = None
        if relevance is None:
            raise InputError(path, f"line {number}", f"relevance '{rel}' is not an integer")
        judged = qrels.setdefault(qid, {})
        if docid in judged:
            raise InputError(path, f"line {number}", f"({qid}, {docid}) is judged twice")
        judged[docid] = relevance
    return qrels


def sample_in_order(items: list, n: int | None, seed: int) -> list:
    """A fixed random sample of ``n`` of ``items`` (by numpy's generator seeded with
    ``seed``), kept in their order; all of them when ``n`` is None or not smaller.

    Example:
        >>> sample_in_order(list("abcde"), 2, 0), sample_in_order(list("ab"), None, 0)
        (['d', 'e'], ['a', 'b'])
    """
    if n is None or n >= len(items):
        return list(items)
    import numpy as np

    chosen = np.random.default_rng(seed).choice(len(items), size=n, replace=False)
    return [items[i] for i in sorted(chosen.tolist())]


def judged_queries(queries: list[Query], qrels: Qrels, sample: int | None = None, seed: int = 0,
                   relevant_only: bool = False) -> tuple[list[Query], Qrels]:
    """The queries that ``qrels`` judges (with ``relevant_only``, those with a relevant
    document), in their order, and a fixed random sample of ``sample`` of them if asked;
    with the qrels of those queries. The one place every command, trainer and pipeline
    picks its queries.

    Example:
        >>> qs = [Query("a", "oil"), Query("b", "gas"), Query("c", "dam")]
        >>> [q.qid for q in judged_queries(qs, {"a": {"d1": 1}, "c": {"d2": 0}})[0]]
        ['a', 'c']
        >>> [q.qid for q in judged_queries(qs, {"a": {"d1": 1}, "c": {"d2": 0}}, relevant_only=True)[0]]
        ['a']
    """
    keep = [q for q in queries if q.qid in qrels and (not relevant_only or any(g > 0 for g in qrels[q.qid].values()))]
    keep = sample_in_order(keep, sample, seed)
    return keep, {q.qid: qrels[q.qid] for q in keep}


def beir_split(folder: str | Path, split: str, sample: int | None = None, seed: int = 0) -> tuple[list[Query], Qrels]:
    """The queries of a BEIR folder judged in ``qrels/<split>.tsv`` (see :func:`judged_queries`).

    Example:
        >>> queries, qrels = beir_split("data/news", "test-title", sample=200)  # doctest: +SKIP
    """
    folder = Path(folder)
    return judged_queries(read_queries(folder).records, read_qrels(folder / "qrels" / f"{split}.tsv"), sample, seed)


def write_qrels(path: str | Path, qrels: Qrels) -> None:
    """Write qrels in TREC format (``qid 0 docid rel``), sorted, atomically.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "qrels.txt"
        >>> write_qrels(p, {"q1": {"d1": 1}})
        >>> p.read_text()
        'q1 0 d1 1\\n'
    """
    lines = [f"{qid} 0 {docid} {rel}\n" for qid in sorted(qrels) for docid, rel in sorted(qrels[qid].items())]
    atomic_write_text(path, "".join(lines))
