"""Searching an index: one query shown to a person, or many queries to a run file."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Any

from ranker.corpus import Query
from ranker.evaluate import Run
from ranker.index import Index
from ranker.retrieve.base import Retriever
from ranker.retrieve.bm25 import Analyzer, BM25Config


@dataclass(frozen=True)
class Hit:
    """One result as a person sees it.

    Example:
        >>> Hit(1, "42", 7.5, "Title", "BBC", "2017-03-01", "http://x", "...").rank
        1
    """

    rank: int
    doc_id: str
    score: float
    title: str
    outlet: str
    date: str | None
    url: str
    snippet: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_WORD = re.compile(r"\S+")


def snippet(text: str, query: str, analyzer: Analyzer, width: int = 30) -> str:
    """The ``width``-word window of ``text`` holding the most query terms.

    Terms are compared after the retriever's own analysis (lowercase, stopwords,
    stemming), so "prices" in the query finds "price" in the text. Written by
    hand: the highlighters of search engines do this, but none of our libraries.

    Example:
        >>> from ranker.retrieve.bm25 import BM25Config
        >>> snippet("a b c oil prices rose d e", "oil price", Analyzer(BM25Config()), width=3)
        '… oil prices rose …'
    """
    words = _WORD.findall(text)
    if len(words) <= width:
        return " ".join(words)
    terms = {t for tokens in analyzer.tokens([query]) for t in tokens}
    matches = [1 if terms.intersection(tokens) else 0 for tokens in analyzer.tokens(words)]
    best, best_start, window = -1, 0, sum(matches[:width])
    for start in range(len(words) - width + 1):
        if start:
            window += matches[start + width - 1] - matches[start - 1]
        if window > best:
            best, best_start = window, start
    # Centre the window on its matches rather than starting at the first word.
    if best_start and best > 0:
        first = next(i for i in range(best_start, best_start + width) if matches[i])
        best_start = max(0, min(first - width // 4, len(words) - width))
    head = "… " if best_start > 0 else ""
    tail = " …" if best_start + width < len(words) else ""
    return head + " ".join(words[best_start : best_start + width]) + tail


def search_hits(index: Index, retriever: Retriever, query: str, k: int = 10) -> list[Hit]:
    """Search with one of ``index``'s retrievers; the top ``k`` as :class:`Hit` objects.

    Example:
        >>> index = Index.open("indexes/news")  # doctest: +SKIP
        >>> hits = search_hits(index, index.retriever("hybrid"), "oil prices")  # doctest: +SKIP
    """
    found = retriever.search([query], k).hits(0)
    articles = index.docs.get([row for row, _ in found])
    analyzer = Analyzer(BM25Config(**index.manifest["components"].get("bm25", {})))
    return [
        Hit(
            rank=rank,
            doc_id=article.doc_id,
            score=score,
            title=article.title,
            outlet=str(article.metadata.get("outlet", "")),
            date=article.metadata.get("date"),
            url=str(article.metadata.get("url", "")),
            snippet=snippet(article.text, query, analyzer),
        )
        for rank, ((_, score), article) in enumerate(zip(found, articles), start=1)
    ]


def search_run(
    retriever: Retriever,
    queries: list[Query],
    doc_ids: list[str],
    k: int = 100,
    batch_size: int = 256,
    show_progress: bool = True,
) -> Run:
    """Search every query and collect a run ``{qid: {docid: score}}``.

    Example:
        >>> from ranker.corpus import Article
        >>> from ranker.retrieve.bm25 import BM25Retriever
        >>> r = BM25Retriever(); r.index([Article("a", "", "oil prices")], show_progress=False)
        >>> search_run(r, [Query("q1", "oil")], ["a"], k=5, show_progress=False)["q1"]["a"] > 0
        True
    """
    from tqdm import tqdm

    run: Run = {}
    with tqdm(total=len(queries), desc="search", unit="q", disable=not show_progress) as bar:
        for start in range(0, len(queries), batch_size):
            batch = queries[start : start + batch_size]
            results = retriever.search([q.text for q in batch], k)
            for i, query in enumerate(batch):
                run[query.qid] = {doc_ids[row]: score for row, score in results.hits(i)}
            bar.update(len(batch))
    return run
