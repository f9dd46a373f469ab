"""A synthetic corpus at any size whose words follow the news corpus' word frequencies.

Why synthetic: the news benchmark has 3,698 articles, and speed at 100k or 1M
documents needs more text than exists here. Sampling words by their frequency in
the news texts keeps BM25's work realistic (a Zipfian vocabulary, the same
common and rare words) without claiming the documents mean anything.
"""

from __future__ import annotations

import re
from collections import Counter

import numpy as np

from ranker.data.records import Article


def word_frequencies(texts: list[str]) -> tuple[list[str], np.ndarray]:
    """The words of ``texts`` (lowercased, two or more word characters) and their probabilities, commonest first.

    Example:
        >>> words, p = word_frequencies(["oil oil gas"])
        >>> words, p.round(2).tolist()
        (['oil', 'gas'], [0.67, 0.33])
    """
    counts = Counter(w for t in texts for w in re.findall(r"\b\w\w+\b", t.lower()))
    words, n = zip(*counts.most_common(), strict=True)
    p = np.array(n, dtype=np.float64)
    return list(words), p / p.sum()


def synthetic_corpus(texts: list[str], size: int, seed: int = 0, max_words: int = 300) -> list[Article]:
    """``size`` documents of words drawn from ``texts``' word frequencies; each document's
    length is a length of one of ``texts`` (in words), capped at ``max_words``.

    Example:
        >>> docs = synthetic_corpus(["oil prices rose again", "gas fell"], 3, seed=1)
        >>> len(docs), docs[0].doc_id
        (3, 's0')
    """
    words, p = word_frequencies(texts)
    vocabulary = np.array(words, dtype=object)
    rng = np.random.default_rng(seed)
    lengths = np.minimum([len(t.split()) for t in texts], max_words)
    chosen = rng.choice(lengths, size=size)
    drawn = rng.choice(len(words), size=int(chosen.sum()), p=p)
    out, start = [], 0
    for i, n in enumerate(chosen):
        out.append(Article(f"s{i}", "", " ".join(vocabulary[drawn[start : start + n]])))
        start += n
    return out


def synthetic_queries(corpus: list[Article], n: int, words: int = 4, seed: int = 1) -> list[str]:
    """``n`` queries of ``words`` consecutive words from random documents (so each matches something).

    Example:
        >>> synthetic_queries([Article("a", "", "w1 w2 w3 w4 w5")], 1, words=2, seed=0)[0] in "w1 w2 w3 w4 w5"
        True
    """
    rng = np.random.default_rng(seed)
    out = []
    for d in rng.integers(0, len(corpus), size=n):
        tokens = corpus[d].text.split()
        start = int(rng.integers(0, max(1, len(tokens) - words + 1)))
        out.append(" ".join(tokens[start : start + words]))
    return out
