"""The two steps of a search on the service's worker, scheduled apart.

**Finding** runs the first stage and the reranking, batched across the searches
taken together; **showing** turns one search's found rows into its answer: the
articles, their marked snippets, why each ranked where it did, and the JSON text.
Showing 100 hits costs about as much as finding them, so the worker
(:mod:`ranker.serve.service`) queues a search's showing as a turn of its own
(:mod:`ranker.serve.schedule`): a light search that arrives meanwhile goes
between the two halves of a heavy one instead of behind all of it.

Example:
    >>> from ranker.serve.generation import Generation
    >>> generation = Generation.load("indexes/news", "auto", "auto")
    >>> request = SearchRequest("oil prices", k=2)
    >>> found = find(generation, None, "hybrid", False, 2, [request])[0]
    >>> answer = show(generation, None, found, request)
    >>> answer["hits"][0]["title"], answer["hits"][0]["why"]["first_stage"]["rank"]
    ('Oil prices fell sharply', 1)
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ranker.retrieve.base import Results
from ranker.search.searcher import hits_of
from ranker.serve.generation import Generation
from ranker.serve.request import SearchRequest

#: a row's (rank, score) in one retriever's list
Place = tuple[int, float]


@dataclass(frozen=True)
class Found:
    """What finding leaves for showing, for one search."""

    retriever: str
    #: (row, score, rank before reranking or None), best first, at most k
    rows: list[tuple[int, float, int | None]]
    #: each found row's place in each part of the first stage (bm25, dense, or the retriever alone)
    places: dict[str, dict[int, Place]]
    #: and in the first stage's own list
    firsts: dict[int, Place]
    #: the cross-encoder's score of each reranked row (empty when not reranked)
    cross: dict[int, float]
    reranked: bool


def find(generation: Generation, reranker, name: str, rerank: bool, depth: int, requests: list[SearchRequest],
         count: Callable[[str], None] = lambda stage: None) -> list[Found]:
    """The first stage (and the reranking) of ``requests`` together, with retriever
    ``name`` searched ``depth`` deep; ``count(stage)`` is called as each stage ends."""
    from ranker.retrieve.hybrid import fuse

    queries = [r.query for r in requests]
    retriever = generation.retrievers[name]
    if name == "hybrid":  # its parts kept, to say why each hit ranked where it did
        reach = max(depth, retriever.config.depth)
        parts = dict(zip(("bm25", "dense"), (r.search(queries, reach) for r in retriever.retrievers), strict=True))
        first = fuse(list(parts.values()), depth, retriever.config)
    else:
        first = retriever.search(queries, depth)
        parts = {name: first}
    if any(r.filtered for r in requests):
        first = filtered(generation, first, requests)
    count("first_stage")
    reranked = None
    if rerank:
        with generation.lock:
            reranked = reranker.rerank(first, queries, generation.index.docs)
        count("rerank")
    out = []
    for q, request in enumerate(requests):
        if reranked is None:
            rows = [(row, score, None) for row, score in first.hits(q)][: request.k]
            cross = {}
        else:
            rows, cross = [], {}
            for j, (row, score) in enumerate(reranked.results.hits(q)[: request.k]):
                rows.append((row, score, int(reranked.before[q, j])))
                cross[row] = float(reranked.cross[q, j])
        shown = {row for row, _, _ in rows}
        places = {part: _places(results, q, shown) for part, results in parts.items()}
        out.append(Found(name, rows, places, _places(first, q, shown), cross, reranked is not None))
    return out


def _places(results: Results, q: int, rows: set[int]) -> dict[int, Place]:
    """The (rank, score) of each of ``rows`` that query ``q`` of ``results`` holds."""
    return {row: (rank, score) for rank, (row, score) in enumerate(results.hits(q), start=1) if row in rows}


def show(generation: Generation, reranker, found: Found, request: SearchRequest) -> dict[str, Any]:
    """The answer to ``request`` (without ``took_ms``): its hits with their articles,
    marked snippets and why each ranked where it did."""
    with generation.lock:
        hits = hits_of(generation.index, request.query, found.rows, generation.analyzer)
    out = []
    for (row, _, _), hit in zip(found.rows, hits, strict=True):
        why: dict[str, Any] = {"first_stage": place(found.retriever, found.firsts.get(row))}
        for part in ("bm25", "dense"):
            if part in found.places:
                why[part] = place(part, found.places[part].get(row))
        if row in found.cross:
            why["cross_encoder"] = {"score": found.cross[row], "weight": float(reranker.config.weight),
                                    "depth": int(reranker.config.depth)}
        out.append({**hit.to_dict(), "why": why})
    return {"query": request.query, "retriever": found.retriever, "reranked": found.reranked, "k": request.k,
            "index_version": generation.version, "hits": out}


def filtered(generation: Generation, first: Results, requests: list[SearchRequest]) -> Results:
    """``first`` with, for each filtering request, only the articles its filters keep."""
    rows = np.full_like(first.rows, -1)
    scores = np.full_like(first.scores, -np.inf)
    for q, request in enumerate(requests):
        hits = first.hits(q)
        if request.filtered:
            with generation.lock:
                articles = generation.index.docs.get([row for row, _ in hits])
            hits = [hit for hit, article in zip(hits, articles, strict=True) if request.keeps(article.metadata)]
        for j, (row, score) in enumerate(hits):
            rows[q, j], scores[q, j] = row, score
    return Results(rows, scores)


def place(retriever: str, found: Place | None) -> dict[str, Any]:
    """A hit's rank and score in one retriever's list (None: not in its list).

    Example:
        >>> place("bm25", (2, 7.5)), place("dense", None)["rank"]
        ({'retriever': 'bm25', 'rank': 2, 'score': 7.5}, None)
    """
    if found is None:
        return {"retriever": retriever, "rank": None, "score": None}
    return {"retriever": retriever, "rank": found[0], "score": float(found[1])}


def json_bytes(answer: dict[str, Any]) -> bytes:
    """``answer`` as the JSON text Starlette's ``JSONResponse`` would send (UTF-8, compact).

    Example:
        >>> json_bytes({"query": "café", "hits": []})
        b'{"query":"caf\\xc3\\xa9","hits":[]}'
    """
    return json.dumps(answer, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")
