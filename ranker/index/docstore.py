"""The documents of an index, in an embedded SQLite file.

A search shows a handful of articles; reading them by row from SQLite means a
query never loads the whole corpus into memory, so the CLI starts fast on a
million-article index. Row numbers are the retrievers' document numbers.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from ranker.data.records import Article

_SCHEMA = """
CREATE TABLE docs (
    row INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    metadata TEXT NOT NULL
)
"""


def write_docstore(path: str | Path, articles: Iterable[Article]) -> int:
    """Create a SQLite document store at ``path`` (which must not exist).

    Rows are numbered 0, 1, 2, ... in the order given.

    Returns:
        The number of documents written.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "docs.sqlite"
        >>> write_docstore(p, [Article("a", "T", "body")])
        1
    """
    connection = sqlite3.connect(path)
    try:
        connection.execute(_SCHEMA)
        rows = (
            (row, a.doc_id, a.title, a.text, json.dumps(a.metadata, ensure_ascii=False))
            for row, a in enumerate(articles)
        )
        connection.executemany("INSERT INTO docs VALUES (?, ?, ?, ?, ?)", rows)
        connection.commit()
        (count,) = connection.execute("SELECT COUNT(*) FROM docs").fetchone()
    finally:
        connection.close()
    return count


class DocStore:
    """Read-only access to an index's documents by row number.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "docs.sqlite"
        >>> _ = write_docstore(p, [Article("a", "T", "body")])
        >>> DocStore(p).get([0])[0].doc_id
        'a'
    """

    def __init__(self, path: str | Path, fields: Sequence[str] = ("text",)) -> None:
        """``fields``: what the index's models read of each document (see :meth:`texts`)."""
        self.path = Path(path)
        self.fields = tuple(fields)
        # Read-only URI: a query can never modify an index, and several processes
        # can read one at a time.
        self._connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)

    def __len__(self) -> int:
        (count,) = self._connection.execute("SELECT COUNT(*) FROM docs").fetchone()
        return count

    def doc_ids(self) -> list[str]:
        """All document ids in row order."""
        return [doc_id for (doc_id,) in self._connection.execute("SELECT doc_id FROM docs ORDER BY row")]

    def row_of(self, doc_id: str) -> int | None:
        """The row of the document with this id, or None (ids are indexed: one lookup)."""
        found = self._connection.execute("SELECT row FROM docs WHERE doc_id = ?", (doc_id,)).fetchone()
        return None if found is None else int(found[0])

    def rows_of(self, doc_ids: Sequence[str]) -> dict[str, int]:
        """The row of each of ``doc_ids`` the store holds (asked 10,000 at a time, as :meth:`get` does).

        Example:
            >>> import tempfile, pathlib
            >>> p = pathlib.Path(tempfile.mkdtemp()) / "docs.sqlite"
            >>> _ = write_docstore(p, [Article("a", "", "x"), Article("b", "", "y")])
            >>> DocStore(p).rows_of(["b", "zz"])
            {'b': 1}
        """
        found: dict[str, int] = {}
        wanted = list(dict.fromkeys(doc_ids))
        for start in range(0, len(wanted), 10_000):
            part = wanted[start : start + 10_000]
            marks = ",".join("?" * len(part))
            found.update(self._connection.execute(f"SELECT doc_id, row FROM docs WHERE doc_id IN ({marks})", part))
        return found

    def facets(self) -> tuple[dict[str, int], str | None, str | None]:
        """Each outlet's number of documents (most first), and the earliest and latest date
        written ``YYYY-MM-DD…`` (others are left out), from the documents' metadata (SQLite's
        JSON functions: nothing is loaded into Python).

        Example:
            >>> import tempfile, pathlib
            >>> p = pathlib.Path(tempfile.mkdtemp()) / "docs.sqlite"
            >>> _ = write_docstore(p, [Article("a", "T", "b", {"outlet": "BBC", "date": "2017-03-01"})])
            >>> DocStore(p).facets()
            ({'BBC': 1}, '2017-03-01', '2017-03-01')
        """
        outlets = {
            outlet: count
            for outlet, count in self._connection.execute(
                "SELECT json_extract(metadata, '$.outlet') AS o, COUNT(*) AS n FROM docs "
                "WHERE o IS NOT NULL AND o != '' GROUP BY o ORDER BY n DESC, o"
            )
        }
        low, high = self._connection.execute(
            "SELECT MIN(substr(json_extract(metadata, '$.date'), 1, 10)), "
            "MAX(substr(json_extract(metadata, '$.date'), 1, 10)) "
            "FROM docs WHERE json_extract(metadata, '$.date') GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*'"
        ).fetchone()
        return outlets, low, high

    def get(self, rows: Sequence[int]) -> list[Article]:
        """The articles at these row numbers, in the order asked (any number of them: asked
        10,000 at a time, below SQLite's limit on a statement's variables)."""
        found: dict[int, Article] = {}
        wanted = [int(r) for r in rows]
        for start in range(0, len(wanted), 10_000):
            part = wanted[start : start + 10_000]
            marks = ",".join("?" * len(part))
            found.update(
                (row, Article(doc_id, title, text, json.loads(metadata)))
                for row, doc_id, title, text, metadata in self._connection.execute(
                    f"SELECT row, doc_id, title, text, metadata FROM docs WHERE row IN ({marks})", part)
            )
        return [found[r] for r in wanted]

    def texts(self, rows: Sequence[int]) -> list[str]:
        """What the index's models read of these documents: its fields, title first
        (:func:`ranker.data.fields.field_text`), in the order asked.

        Example:
            >>> import tempfile, pathlib
            >>> p = pathlib.Path(tempfile.mkdtemp()) / "docs.sqlite"
            >>> _ = write_docstore(p, [Article("a", "Oil falls", "Prices fell.")])
            >>> DocStore(p, fields=("title", "text")).texts([0])
            ['Oil falls\\nPrices fell.']
        """
        from ranker.data.fields import field_text

        return [field_text(a, self.fields) for a in self.get(rows)]

    def close(self) -> None:
        self._connection.close()
