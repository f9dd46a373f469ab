"""BM25 against the rank-bm25 oracle, and index save/load/search round trips."""

from __future__ import annotations

import numpy as np
import pytest
import rank_bm25

from conftest import NEWS, random_corpus
from ranker.data.records import Article
from ranker.index.folder import Index, build_index
from ranker.retrieve.bm25 import Analyzer, BM25Config, BM25Retriever

# rank_bm25 as the oracle, with the constant factor by which its scores differ.
# Its Okapi multiplies every term by (k1 + 1); bm25s, like Lucene since version 8,
# leaves that constant out (no ranking changes). Its BM25Plus keeps the factor on
# both sides. Its BM25L is not an oracle: it multiplies by the term frequency a
# second time (rank_bm25.BM25L.get_scores), which is not Lv & Zhai's formula.
ORACLES = {
    "robertson": (lambda tokens: rank_bm25.BM25Okapi(tokens, k1=1.5, b=0.75), 1.5 + 1),
    "bm25+": (lambda tokens: rank_bm25.BM25Plus(tokens, k1=1.5, b=0.75, delta=0.5), 1.0),
}


@pytest.mark.parametrize("variant", sorted(ORACLES))
@pytest.mark.parametrize("analysis", ["plain", "english"])
def test_bm25_matches_rank_bm25_oracle(variant, analysis):
    texts = random_corpus(200, seed=1)
    if analysis == "english":
        # Real words, stopwords and inflections go through the same analyzer on both sides.
        texts = [t + " the running cats were running" * (i % 3) for i, t in enumerate(texts)]
        config = BM25Config(variant=variant, k1=1.5, b=0.75, delta=0.5)
    else:
        config = BM25Config(variant=variant, k1=1.5, b=0.75, delta=0.5, stopwords="none", stemmer="none")
    retriever = BM25Retriever(config)
    retriever.index(list(texts), show_progress=False)
    analyzer = Analyzer(config)
    build_oracle, factor = ORACLES[variant]
    oracle = build_oracle(analyzer.tokens(texts))

    queries = [" ".join(dict.fromkeys(t.split()[:3])) for t in random_corpus(20, seed=2)]
    results = retriever.search(queries, k=10)
    for i, query in enumerate(queries):
        expected = np.asarray(oracle.get_scores(analyzer.tokens([query])[0]), dtype=np.float64)
        order = sorted(range(len(texts)), key=lambda d: (-expected[d], d))
        if variant == "robertson":
            order = [d for d in order if expected[d] > 0]
        ours = results.hits(i)
        rows = [row for row, _ in ours]
        # Same top 10 in the same order: the oracle's score of the document we put
        # at each rank equals the oracle's k-th best score (equal scores may swap).
        np.testing.assert_allclose(expected[rows], expected[order[:10]], rtol=1e-5)
        np.testing.assert_allclose([s * factor for _, s in ours], expected[order[:10]], rtol=1e-5)
        # Where a score is not shared with a neighbour, the document must be the same.
        best = expected[order[:11]]
        for rank in range(10):
            tied = any(np.isclose(best[rank], best[j], rtol=1e-5) for j in (rank - 1, rank + 1) if 0 <= j < len(best))
            if not tied:
                assert rows[rank] == order[rank], f"rank {rank + 1} differs for {query!r}"


def test_query_of_only_stopwords_finds_nothing(news_articles):
    retriever = BM25Retriever()
    retriever.index([a.text for a in news_articles], show_progress=False)
    results = retriever.search(["the of and", "!!! 🙂", "oil"], k=3)
    assert results.hits(0) == [] and results.hits(1) == []
    assert results.rows.shape == (3, 3) and results.rows[0, 0] == -1
    assert results.hits(2)[0][0] in (0, 5)


def test_k_larger_than_corpus_is_clamped(news_articles):
    retriever = BM25Retriever()
    retriever.index([a.text for a in news_articles], show_progress=False)
    results = retriever.search(["oil prices OPEC"], k=50)
    assert results.rows.shape == (1, 50)
    assert {row for row, _ in results.hits(0)} == {0, 5}


def test_index_save_load_search_identical(tmp_path, news_articles):
    config = BM25Config(variant="lucene", k1=1.2, b=0.6)
    memory = BM25Retriever(config)
    memory.index([a.text for a in news_articles], show_progress=False)
    build_index(news_articles, tmp_path / "idx", config, show_progress=False, fields=("text",))

    index = Index.open(tmp_path / "idx")
    loaded = index.bm25()
    assert loaded.config == config
    assert index.doc_ids() == [a.doc_id for a in news_articles]
    queries = ["oil prices", "Brexit Article 50", "judge travel ban", "nerve agent airport"]
    a, b = memory.search(queries, k=6), loaded.search(queries, k=6)
    np.testing.assert_array_equal(a.rows, b.rows)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert index.docs.get([2])[0] == news_articles[2]
    assert set(index.manifest["files"]) >= {"docs.sqlite", "bm25/config.json", "bm25/params.index.json"}


def test_config_rejects_bad_settings():
    with pytest.raises(ValueError, match="variant"):
        BM25Config(variant="okapi")
    with pytest.raises(ValueError, match="stemmer"):
        BM25Config(stemmer="klingon")
    with pytest.raises(ValueError, match="k1"):
        BM25Config(b=1.5)


def test_numba_backend_returns_what_numpy_returns():
    texts = random_corpus(300, seed=4)
    articles = [Article(str(i), "", t) for i, t in enumerate(texts)]
    queries = [" ".join(t.split()[:3]) for t in random_corpus(15, seed=5)]
    found = {}
    for backend in ("numpy", "numba"):
        retriever = BM25Retriever(BM25Config(backend=backend))
        retriever.index([a.text for a in articles], show_progress=False)
        found[backend] = retriever.search(queries, k=10)
    np.testing.assert_allclose(found["numba"].scores, found["numpy"].scores, rtol=1e-5)
    # which of several equally scored documents reaches the top 10 may differ; any other must not
    scores = found["numpy"].scores
    tied = np.zeros_like(scores, dtype=bool)
    tied[:, 1:] |= np.isclose(scores[:, 1:], scores[:, :-1], rtol=1e-5)
    tied[:, :-1] |= np.isclose(scores[:, :-1], scores[:, 1:], rtol=1e-5)
    np.testing.assert_array_equal(found["numba"].rows[~tied], found["numpy"].rows[~tied])
    with pytest.raises(ValueError, match="backend must be"):
        BM25Config(backend="gpu")


def test_cached_analysis_gives_bm25s_tokens_on_whole_articles():
    """Snippets and passages analyse words through a memo and a copy of bm25s's steps:
    the tokens must be bm25s's own, for texts, single words and odd characters."""

    texts = [text for _, _, text in NEWS] + ["The U.S.-led talks’ outcome: 2017's prices (rose) 3.5%!", "", "the a of",
                                             "Ünïcode naïve café — São Paulo"]
    words = [w for text in texts for w in text.split()]
    for config in (BM25Config(), BM25Config(stopwords="none", stemmer="none"), BM25Config(lowercase=False)):
        analyzer = Analyzer(config)
        assert analyzer.cached_tokens(texts) == [tuple(t) for t in analyzer.tokens(texts)]
        assert analyzer.cached_tokens(words) == [tuple(t) for t in analyzer.tokens(words)]
        assert analyzer.cached_tokens(words) == [tuple(t) for t in analyzer.tokens(words)]  # from the memo
