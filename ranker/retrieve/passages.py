"""Which part of a long article a person or the cross-encoder is shown.

A news article runs to a median of about 570 word pieces; the cross-encoder reads
128. Reading only the head loses the evidence BM25 sees: on the news benchmark's
test titles, 66% of a query's terms occur in the relevant article's first 128
tokens but 81% somewhere in it (61% and 82% for subtitles). So the reranker can
read the ``width``-word window holding the most query terms instead — query-biased
passage selection, the idea of KeyB (Li et al., 2023) with one block — at no
extra scoring cost. Written by hand: no library we use selects passages.
"""

from __future__ import annotations

import re
from functools import lru_cache

_WORD = re.compile(r"\S+")


@lru_cache(maxsize=1)
def default_analyzer():
    """BM25's default analysis (lowercase, English stopwords, Snowball stemming)."""
    from ranker.retrieve.bm25 import Analyzer, BM25Config

    return Analyzer(BM25Config())


def matching_words(words: list[str], query: str, analyzer=None) -> set[str]:
    """The words among ``words`` that match a term of ``query`` after analysis
    (so "prices" matches "price"; stopwords match nothing).

    Example:
        >>> sorted(matching_words(["Oil", "prices", "the", "rose"], "oil price"))
        ['Oil', 'prices']
    """
    analyzer = analyzer or default_analyzer()
    terms = set(analyzer.cached_tokens([query])[0])
    if not terms:
        return set()
    # each distinct word is analysed once (and remembered): analysis is most of the time
    distinct = list(dict.fromkeys(words))
    return {word for word, tokens in zip(distinct, analyzer.cached_tokens(distinct), strict=True)
            if terms.intersection(tokens)}


def best_window(text: str, query: str, width: int, analyzer=None) -> tuple[list[str], int]:
    """The words of ``text`` and the start of the ``width``-word window holding the
    most words that match a query term (after analysis, so "prices" matches
    "price"). The first such window wins, so a text without matches gives its head.

    Example:
        >>> best_window("a b c oil prices rose d e", "oil price", width=3)[1]
        3
    """
    analyzer = analyzer or default_analyzer()
    words = _WORD.findall(text)
    if len(words) <= width:
        return words, 0
    matching = matching_words(words, query, analyzer)
    matches = [1 if word in matching else 0 for word in words]
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
    return words, best_start


def select_passage(text: str, query: str, width: int) -> str:
    """The ``width``-word window of ``text`` that best matches ``query``.

    Example:
        >>> select_passage("a b c oil prices rose d e", "oil price", width=3)
        'oil prices rose'
    """
    words, start = best_window(text, query, width)
    return " ".join(words[start : start + width])


def passages_for(queries: list[str], texts: list[str], width: int | None) -> list[str]:
    """What the cross-encoder reads of each (query, text) pair: the whole text
    (truncated later by the tokenizer) when ``width`` is None, else its best window.

    Example:
        >>> passages_for(["oil"], ["a b oil c"], None), passages_for(["oil"], ["a b oil c d e"], 2)
        (['a b oil c'], ['oil c'])
    """
    if width is None:
        return list(texts)
    return [select_passage(text, query, width) for query, text in zip(queries, texts, strict=True)]
