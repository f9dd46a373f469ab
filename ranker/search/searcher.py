"""Searching an index: one query shown to a person, or many queries to a run file."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ranker.data.records import Query
from ranker.eval.runs import Run
from ranker.index.folder import Index
from ranker.retrieve.base import Results, Retriever
from ranker.retrieve.bm25 import Analyzer, BM25Config
from ranker.retrieve.hybrid import HybridConfig
from ranker.retrieve.passages import QueryMatcher, best_window


@dataclass(frozen=True)
class Hit:
    """One result: the document's id, title and own metadata, the score, and a
    snippet of its text around the query's words.

    Example:
        >>> hit = Hit(1, "42", 7.5, "Title", "… oil fell …", {"outlet": "BBC", "date": "2017-03-01"})
        >>> hit.metadata["outlet"], hit.to_dict()["snippet"]
        ('BBC', '… oil fell …')
    """

    rank: int
    doc_id: str
    score: float
    title: str
    snippet: str
    #: Whatever the corpus holds besides id, title and text (a news corpus: outlet, date, url).
    metadata: dict[str, Any] = field(default_factory=dict)
    #: The rank the first stage gave this document, when a reranker reordered them.
    before: int | None = None
    #: Where the snippet's words match the query: ``(start, end)`` character offsets.
    marks: tuple[tuple[int, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The hit as JSON-ready values (what ``--json`` prints; marks as lists, as JSON reads them back)."""
        # by hand, not ``asdict``: its deep copies were a tenth of a 100-hit answer's time
        return {"rank": self.rank, "doc_id": self.doc_id, "score": self.score, "title": self.title,
                "snippet": self.snippet, "metadata": dict(self.metadata), "before": self.before,
                "marks": [list(mark) for mark in self.marks]}


class Searcher:
    """Search an index from Python, as Pyserini's ``LuceneSearcher(index).search(q, k)`` does.

    Args:
        index: an index folder (or an opened :class:`~ranker.index.folder.Index`).
        retriever: ``bm25``, ``dense`` or ``hybrid`` (default: hybrid when the
            index has both kinds, else the one it has) — what ``ranker search`` picks.
        reranker: a fine-tuned cross-encoder folder or a loaded
            :class:`~ranker.rerank.reranker.Reranker`; its ``depth`` best results are reranked.
        hybrid: how hybrid fuses BM25 and dense.
        model: the dense query model, if not the one that built the index.
        runtime, precision: how queries are encoded (and reranked, when
            ``reranker`` is a folder): see :mod:`ranker.models.runtime`.

    Example:
        >>> searcher = Searcher("indexes/news")
        >>> hits = searcher.search("Brexit Article 50", k=3)
        >>> searcher.name, len(hits), (hits[0].doc_id, hits[0].title)  # of the demo's six articles
        ('hybrid', 3, ('3', 'Brexit letter sent'))
    """

    def __init__(self, index: str | Path | Index, retriever: str | None = None, reranker=None,
                 hybrid: HybridConfig = HybridConfig(), model: str | None = None, runtime: str = "auto",
                 precision: str = "auto") -> None:
        self._wanted = (retriever, hybrid, model, runtime, precision)
        if isinstance(index, Index):
            self._use(index)
        else:
            self._open(Path(index))
        if isinstance(reranker, (str, Path)):
            from ranker.rerank.reranker import RerankConfig, Reranker

            reranker = Reranker(RerankConfig(model=str(reranker), runtime=runtime, precision=precision))
        self.reranker = reranker

    def _use(self, index: Index) -> None:
        retriever, hybrid, model, _, _ = self._wanted
        self.index = index
        self.name = retriever or index.default_retriever
        self.retriever = index.retriever(self.name, model=model, hybrid=hybrid)

    def _open(self, path: Path, attempts: int = 10, reuse: Index | None = None) -> None:
        """Open the index at ``path``, again when an update lands while it loads."""
        import time

        from ranker.index.folder import IndexChanged

        runtime, precision = self._wanted[3:]
        for attempt in range(attempts):
            try:
                return self._use(Index.open(path, runtime, precision, reuse=reuse))
            except IndexChanged:
                if attempt == attempts - 1:
                    raise
                time.sleep(0.2)

    def refresh(self) -> bool:
        """Open the index folder again if it was rebuilt or updated since it was opened:
        a long-lived searcher answers from the new version from then on.

        Returns:
            Whether a new version was opened.

        Example:
            >>> searcher = Searcher("indexes/news", "bm25")
            >>> searcher.refresh()
            False
        """
        if self.index.is_current():
            return False
        self._open(self.index.path, reuse=self.index)  # what the versions share is not read again
        return True

    def search(self, query: str, k: int = 10) -> list[Hit]:
        """The top ``k`` hits for ``query``, best first."""
        return search_hits(self.index, self.retriever, query, k, self.reranker)

    def run(self, queries: list[Query], k: int = 100, show_progress: bool = True) -> tuple[Run, dict[str, Any]]:
        """Search (and rerank, with a reranker) every query: ``ranker run``.

        Returns:
            The run, and what made it for the run's timing side file (index,
            retriever, k, seconds per stage, and the reranker's model and depth).

        Example:
            >>> run, meta = Searcher("indexes/news", "bm25").run([Query("q1", "Brexit Article 50")], k=3,
            ...                                                  show_progress=False)
            >>> list(run["q1"]), meta["retriever"], sorted(meta["seconds"])  # article 3: "Brexit letter sent"
            (['3'], 'bm25', ['retrieve'])
        """
        import time

        meta: dict[str, Any] = {"index": str(self.index.path), "retriever": self.name, "k": k}
        if self.reranker is None:
            begun = time.perf_counter()
            run = search_run(self.retriever, queries, self.index.doc_ids(), k, show_progress=show_progress)
            meta["seconds"] = {"retrieve": round(time.perf_counter() - begun, 3)}
            return run, meta
        timings: dict[str, float] = {}
        run = rerank_run(self.retriever, self.reranker, queries, self.index.docs, k, show_progress=show_progress,
                         timings=timings)
        meta.update(seconds={stage: round(s, 3) for stage, s in timings.items()}, model=self.reranker.config.model,
                    depth=self.reranker.config.depth)
        return run, meta


def snippet(text: str, query: str, analyzer: Analyzer, width: int = 30) -> str:
    """The ``width``-word window of ``text`` holding the most query terms, with
    ellipses where the text goes on (see :func:`ranker.retrieve.passages.best_window`).

    Example:
        >>> from ranker.retrieve.bm25 import BM25Config
        >>> snippet("a b c oil prices rose d e", "oil price", Analyzer(BM25Config()), width=3)
        '… oil prices rose …'
    """
    return marked_snippet(text, query, analyzer, width)[0]


def marked_snippet(text: str, query: str | QueryMatcher, analyzer: Analyzer | None = None,
                   width: int = 30) -> tuple[str, tuple[tuple[int, int], ...]]:
    """:func:`snippet` and the ``(start, end)`` offsets of its words that match the query
    (a :class:`~ranker.retrieve.passages.QueryMatcher` when one query has many snippets).

    Example:
        >>> from ranker.retrieve.bm25 import BM25Config
        >>> marked_snippet("a b c oil prices rose d e", "oil price", Analyzer(BM25Config()), width=3)
        ('… oil prices rose …', ((2, 5), (6, 12)))
    """
    matcher = query if isinstance(query, QueryMatcher) else QueryMatcher(query, analyzer)
    words, start = best_window(text, matcher, width)
    shown = words[start : start + width]
    out = "… " if start > 0 else ""
    marks = []
    for n, (word, match) in enumerate(zip(shown, matcher.flags(shown), strict=True)):
        if n:
            out += " "
        if match:
            marks.append((len(out), len(out) + len(word)))
        out += word
    if start + width < len(words):
        out += " …"
    return out, tuple(marks)


def search_hits(index: Index, retriever: Retriever, query: str, k: int = 10, reranker=None) -> list[Hit]:
    """Search with one of ``index``'s retrievers; the top ``k`` as :class:`Hit` objects.

    With a :class:`~ranker.rerank.reranker.Reranker`, its ``depth`` best first-stage results
    are reranked and each hit also carries the rank it had before.

    Example:
        >>> index = Index.open("indexes/news")
        >>> hits = search_hits(index, index.retriever("hybrid"), "oil prices")
        >>> len(hits), hits[0].rank, hits[0].title, hits[0].before  # no reranker: no rank before
        (6, 1, 'Oil prices fell sharply', None)
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, not {k}")
    # no more results than documents: a huge k must not allocate a huge array
    k = min(k, index.manifest["doc_count"])
    if reranker is None:
        found = [(row, score, None) for row, score in retriever.search([query], k).hits(0)]
    else:
        first = retriever.search([query], min(max(k, reranker.config.depth), index.manifest["doc_count"]))
        reranked = reranker.rerank(first, [query], index.docs)
        # ``before`` has a column for every slot of the depth; ``hits`` a pair for each article found
        found = [
            (row, score, int(before))
            for (row, score), before in zip(reranked.results.hits(0), reranked.before[0], strict=False)
        ][:k]
    return hits_of(index, query, found)


def index_analyzer(index: Index) -> Analyzer:
    """The analysis the index's BM25 applies (the default one for a dense-only index),
    one per setting in a process, so that its memory of analysed words lasts from
    one query's snippets to the next."""
    return _analyzer(BM25Config(**index.manifest["components"].get("bm25", {})))


@functools.lru_cache(maxsize=8)
def _analyzer(config: BM25Config) -> Analyzer:
    return Analyzer(config)


def hits_of(index: Index, query: str, found: list[tuple[int, float, int | None]],
            analyzer: Analyzer | None = None) -> list[Hit]:
    """``found`` — (row, score, rank before reranking or None), best first — as
    :class:`Hit` objects with their articles' titles, metadata and marked snippets.

    Example:
        >>> hit = hits_of(Index.open("indexes/news"), "oil", [(0, 1.5, None)])[0]
        >>> hit.rank, hit.doc_id, hit.title, hit.score
        (1, '1', 'Oil prices fell sharply', 1.5)
    """
    articles = index.docs.get([row for row, _, _ in found])
    matcher = QueryMatcher(query, analyzer or index_analyzer(index))  # one for all of the query's snippets
    hits = []
    for rank, ((_, score, before), article) in enumerate(zip(found, articles, strict=True), start=1):
        text, marks = marked_snippet(article.text, matcher)
        hits.append(Hit(rank=rank, doc_id=article.doc_id, score=score, title=article.title, snippet=text,
                        metadata=article.metadata, before=before, marks=marks))
    return hits


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
        >>> from ranker.data.readers import Article
        >>> from ranker.retrieve.bm25 import BM25Retriever
        >>> r = BM25Retriever(); r.index(["oil prices"], show_progress=False)
        >>> search_run(r, [Query("q1", "oil")], ["a"], k=5, show_progress=False)["q1"]["a"] > 0
        True
    """
    from tqdm import tqdm

    run: Run = {}
    k = min(k, len(doc_ids))  # no more results than documents
    with tqdm(total=len(queries), desc="search", unit="q", disable=not show_progress) as bar:
        for start in range(0, len(queries), batch_size):
            batch = queries[start : start + batch_size]
            run.update(to_run(retriever.search([q.text for q in batch], k), [q.qid for q in batch], doc_ids))
            bar.update(len(batch))
    return run


def to_run(results: Results, qids: list[str], doc_ids: list[str]) -> Run:
    """Results (by row) for the queries ``qids`` as a run ``{qid: {docid: score}}``.

    Example:
        >>> import numpy as np
        >>> to_run(Results(np.array([[1, -1]]), np.array([[2.0, -np.inf]])), ["q1"], ["a", "b"])
        {'q1': {'b': 2.0}}
    """
    return {qid: {doc_ids[row]: score for row, score in results.hits(i)} for i, qid in enumerate(qids)}


def rerank_run(
    retriever: Retriever,
    reranker,
    queries: list[Query],
    docs,
    k: int = 100,
    batch_size: int = 8,
    show_progress: bool = True,
    timings: dict[str, float] | None = None,
) -> Run:
    """Like :func:`search_run`, with the top ``reranker.config.depth`` of each query
    reranked by a :class:`~ranker.rerank.reranker.Reranker` (the rest keep the first
    stage's order below them). A ``timings`` dict given gets the seconds spent
    in each stage added under ``retrieve`` and ``rerank``. Queries go through in
    batches of ``batch_size``: the scorer batches pairs itself, so small batches
    cost nothing and keep the progress bar moving (about a second a batch here).

    Example:
        >>> from ranker.rerank.reranker import RerankConfig, Reranker
        >>> index = Index.open("indexes/news")
        >>> reranker = Reranker(RerankConfig("models/demo/model/model", depth=3))
        >>> queries = [Query("t1", "Oil prices fell sharply"), Query("t3", "Brexit letter sent")]
        >>> timings = {}
        >>> run = rerank_run(index.retriever("hybrid"), reranker, queries, index.docs, k=5, show_progress=False,
        ...                  timings=timings)
        >>> sorted(run), len(run["t1"]), sorted(timings)  # the top 3 reranked, the next 2 below them
        (['t1', 't3'], 5, ['rerank', 'retrieve'])
    """
    import time

    from tqdm import tqdm

    from ranker.rerank.reranker import with_tail

    doc_ids = docs.doc_ids()
    run: Run = {}
    k = min(k, len(doc_ids))  # no more results than documents
    depth = min(max(k, reranker.config.depth), len(doc_ids))
    timings = {} if timings is None else timings
    for stage in ("retrieve", "rerank"):
        timings.setdefault(stage, 0.0)
    with tqdm(total=len(queries), desc="rerank", unit="q", disable=not show_progress) as bar:
        for start in range(0, len(queries), batch_size):
            batch = queries[start : start + batch_size]
            texts = [q.text for q in batch]
            begun = time.perf_counter()
            first = retriever.search(texts, depth)
            searched = time.perf_counter()
            reranked = reranker.rerank(first, texts, docs)
            timings["retrieve"] += searched - begun
            timings["rerank"] += time.perf_counter() - searched
            merged = with_tail(reranked.results, Results(first.rows[:, :k], first.scores[:, :k]))
            run.update(to_run(merged, [q.qid for q in batch], doc_ids))
            bar.update(len(batch))
            bar.set_postfix(pairs_per_s=f"{reranker.pairs_per_second:.1f}")
    return run
