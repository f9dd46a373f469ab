"""The records every stage passes along: articles, queries and qrels, and what a reader returns.

Example:
    >>> Article("7", "Brexit vote", "MPs voted ...").title
    'Brexit vote'
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

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
