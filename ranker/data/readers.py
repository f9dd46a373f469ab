"""The readers every command shares: corpora and queries from the files users bring.

Corpora are read from a BEIR folder (``corpus.jsonl``), JSONL, CSV or Parquet;
queries from a BEIR folder (``queries.jsonl``), JSONL, CSV, Parquet or TSV
(``qid<TAB>text``, no header); qrels are read by :mod:`ranker.data.qrels`.

Nothing is dropped silently: bad input raises :class:`~ranker.core.errors.InputError`
naming the file, the line or row, and the problem, unless the caller asks to skip
invalid rows, in which case every rejected row comes back with its reason.
"""


from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

from ranker.core.errors import InputError
from ranker.core.files import atomic_write_text, decoded_lines, loads_strict
from ranker.data.records import MAX_TEXT_CHARS, Article, Fields, OnInvalid, Query, Reading, Reject, bad_id

# --------------------------------------------------------------------------- rows


def _jsonl_rows(path: Path) -> Iterator[tuple[str, Any, str]]:
    for number, line in decoded_lines(path, long_lines="yield"):
        if isinstance(line, InputError):  # over the limit: refused (or skipped) unread
            hint = " (split the article, or pass --skip-invalid to leave it out)"
            yield f"line {number}", InputError(path, f"line {number}", line.problem + hint), ""
            continue
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
                raise InputError(source, where, f"text field '{fields.text}' holds {len(text):,} characters; "
                                 f"texts over {MAX_TEXT_CHARS:,} are refused (split it into articles, or pass "
                                 "--skip-invalid to leave it out)")
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
        >>> from ranker.index.folder import build_index
        >>> manifest = build_index(stream_articles("data/news/corpus.jsonl"), tmp / "streamed", show_progress=False)
        >>> manifest["doc_count"], list(manifest["components"])
        (6, ['bm25'])
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


def query_lines(source: str) -> Iterator[str | InputError]:
    """The non-blank lines of ``source`` (a UTF-8 file, or ``-`` for standard input), stripped.

    Lines are read one at a time, so a program writing to standard input gets
    each answer before it sends the next query. From standard input every line
    yields exactly once: a blank or undecodable one as an :class:`InputError`
    (the caller answers it and goes on); from a file, blank lines are skipped and
    an undecodable one raises.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "queries.txt"
        >>> _ = p.write_text("oil prices\\n\\n brexit letter\\n")
        >>> list(query_lines(str(p)))
        ['oil prices', 'brexit letter']
    """
    name = "standard input" if source == "-" else source
    try:
        # bytes, decoded line by line, so that an undecodable line is named exactly
        stream = sys.stdin.buffer if source == "-" else open(source, "rb")
    except OSError as err:
        raise InputError(source, None, f"cannot read it ({err.strerror})") from None
    try:
        for number, raw in enumerate(iter(stream.readline, b""), start=1):
            try:
                line = raw.decode("utf-8").strip()
            except UnicodeDecodeError as err:
                problem = InputError(name, f"line {number}", f"not UTF-8 text ({err.reason} at byte {err.start})")
                if source != "-":
                    raise problem from None
                yield problem
                continue
            if line:
                yield line
            elif source == "-":
                yield InputError(name, f"line {number}", "a blank line: nothing to search")
    finally:
        if source != "-":
            stream.close()


def read_ids(path: str | Path) -> list[str]:
    """The ids in a UTF-8 file, one per line (blank lines skipped, spaces stripped).

    Raises:
        InputError: the path is not a file, or a line is not UTF-8.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "ids.txt"
        >>> _ = p.write_text("d1\\n\\n d2 \\n")
        >>> read_ids(p)
        ['d1', 'd2']
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, None, "not a file of ids (one per line)")
    return [line.strip() for _, line in decoded_lines(path) if line.strip()]
