"""Which fields of an article an index searches, and the one text each model reads.

A news search should find an article by its headline as well as by its body, so
an index reads the title and the text by default (``--fields title,text``); the
news benchmark's protocol indexes the body alone, because its queries are the
titles. BM25, the embedder and the cross-encoder all read the same fields: the
title, a line break, then the text. BM25 may count the title more than once
(``title_boost``), the classic way to weight a field in a single-field engine.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ranker.data.records import Article

#: The fields an index can search, in the order they are read.
FIELD_NAMES = ("title", "text")


def parse_fields(fields: str | Sequence[str]) -> tuple[str, ...]:
    """``title,text`` (or a sequence) as a checked tuple in reading order.

    Raises:
        ValueError: an unknown or repeated field, or none.

    Example:
        >>> parse_fields("text,title"), parse_fields(["text"])
        (('title', 'text'), ('text',))
    """
    names = [f.strip() for f in (fields.split(",") if isinstance(fields, str) else fields) if f.strip()]
    unknown = sorted(set(names) - set(FIELD_NAMES))
    if not names or unknown or len(set(names)) != len(names):
        raise ValueError(f"fields must be title, text or both (comma-separated), got {','.join(names) or 'nothing'}")
    return tuple(f for f in FIELD_NAMES if f in names)


def default_fields(articles: Iterable[Article]) -> tuple[str, ...]:
    """Title and text when any article has a title, else the text alone.

    Example:
        >>> default_fields([Article("a", "", "body")]), default_fields([Article("a", "T", "body")])
        (('text',), ('title', 'text'))
    """
    return FIELD_NAMES if any(a.title.strip() for a in articles) else ("text",)


def field_text(article: Article, fields: Sequence[str], title_repeats: int = 1) -> str:
    """What a model reads of ``article``: its title (``title_repeats`` times) and its
    text, one per line, as ``fields`` says.

    Example:
        >>> field_text(Article("a", "Oil falls", "Prices fell."), ("title", "text"))
        'Oil falls\\nPrices fell.'
        >>> field_text(Article("a", "Oil falls", "Prices fell."), ("title", "text"), title_repeats=2)
        'Oil falls\\nOil falls\\nPrices fell.'
    """
    parts = [article.title] * title_repeats if "title" in fields and article.title.strip() else []
    if "text" in fields:
        parts.append(article.text)
    return "\n".join(parts)
