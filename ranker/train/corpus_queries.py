"""Training queries made from the corpus itself, with no model to download.

The news benchmark labels about 4,000 training queries, and the cross-encoder is
starved of them (docs/reranker.md). Teams with a corpus and few labels make
queries from the articles themselves; this module makes five kinds, each a query
with the article it came from as its positive:

* ``lead``: the article's first sentence, for the rest of it (a lead reads like
  its headline, and the benchmark's queries are headlines);
* ``ict``: another sentence, for the article without it (the inverse cloze task,
  Lee et al. 2019);
* ``span``: a cropped run of words, for the article without it (Contriever's crops);
* ``keywords``: two to four of the article's words drawn by tf-idf weight, as typed
  into a search box;
* ``news_qa``: the hand-written questions of :mod:`ranker.data.datasets.news_qa`
  over the benchmark's training articles.

A sentence or span used as a query is cut from its positive (``cut``), so the model
learns to match what an article is about, not to find a copied string.

Only articles judged relevant in the training qrels and in no held-out qrels provide
queries, unless the whole corpus is allowed (unsupervised adaptation to the corpus,
as GPL does; never the benchmark's headline). The output is a BEIR folder
(``queries.jsonl`` with each query's kind, target and cut, and ``qrels/train.tsv``)
that ``ranker mine --split train`` reads like any other, and ``generated.json``:
how it was made and the sha256 of both files. The same corpus, settings and seed
write the same bytes.
"""

from __future__ import annotations

import json
import re
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ranker.data.records import Article, Qrels

KINDS = ("lead", "ict", "span", "keywords", "news_qa")

#: A sentence ends at . ! or ? (a closing quote may follow) before a space and a
#: capital or an opening quote, but not after an initial ("John F."), "U.S." or a
#: title ("Mr."). Written by hand: none of our libraries splits sentences, and news
#: prose needs nothing subtler for queries.
_SENTENCE_END = re.compile(r"(?:(?<=[.!?])(?<!\b[A-Z]\.)(?<!\.[A-Z]\.)(?<!\bM[rs]\.)(?<!\bMrs\.)(?<!\bDr\.)(?<!\bSt\.)"
                           r"|(?<=[.!?][\"'”’]))\s+(?=[\"'“‘(]?[A-Z0-9])")
_WORD = re.compile(r"\S+")


@dataclass(frozen=True)
class GenerationConfig:
    """How many queries of each kind an article gives, and their bounds.

    Example:
        >>> GenerationConfig().per_article["ict"]
        2
        >>> GenerationConfig(per_article={"lead": 1, "poems": 1})
        Traceback (most recent call last):
        ValueError: unknown kinds ['poems']; choose from lead, ict, span, keywords, news_qa
    """

    #: queries of each kind per article (``news_qa`` takes every question of an allowed article)
    per_article: dict[str, int] = field(default_factory=lambda: {"lead": 1, "ict": 2, "span": 1, "keywords": 2,
                                                                  "news_qa": 1})
    min_words: int = 6  # a sentence shorter than this is no query (datelines, "Read more.")
    max_words: int = 40
    span_words: tuple[int, int] = (8, 16)
    keywords: tuple[int, int] = (2, 4)
    seed: int = 13

    def __post_init__(self) -> None:
        unknown = sorted(set(self.per_article) - set(KINDS))
        if unknown:
            raise ValueError(f"unknown kinds {unknown}; choose from {', '.join(KINDS)}")
        if any(n < 0 for n in self.per_article.values()):
            raise ValueError("queries per article must be >= 0")
        if not 1 <= self.min_words <= self.max_words:
            raise ValueError(f"need 1 <= min_words <= max_words (got {self.min_words}, {self.max_words})")
        for name, (low, high) in (("span_words", self.span_words), ("keywords", self.keywords)):
            if not 1 <= low <= high:
                raise ValueError(f"{name} must be (low, high) with 1 <= low <= high, not {(low, high)}")


@dataclass(frozen=True)
class GeneratedQuery:
    """A query made from an article: its positive is ``target`` with ``cut`` removed.

    Example:
        >>> GeneratedQuery("g-lead-7-0", "Oil fell.", "lead", "7", "Oil fell.").positive_text("Oil fell. OPEC met.")
        'OPEC met.'
    """

    qid: str
    text: str
    kind: str
    target: str
    cut: str = ""

    def positive_text(self, article_text: str) -> str:
        """The article as its positive: without the query's own words, where they were cut."""
        return cut_from(article_text, self.cut)


def cut_from(text: str, cut: str) -> str:
    """``text`` without the first occurrence of ``cut`` (and the space it leaves).

    Example:
        >>> cut_from("Oil fell. OPEC met in Vienna. Prices rose.", "OPEC met in Vienna.")
        'Oil fell. Prices rose.'
    """
    if not cut:
        return text
    at = text.find(cut)
    if at < 0:
        return text
    return (text[:at].rstrip() + " " + text[at + len(cut):].lstrip()).strip()


def sentences(text: str) -> list[str]:
    """``text`` split into sentences (see ``_SENTENCE_END``).

    Example:
        >>> sentences('Oil fell 3%. "We will cut," OPEC said. Prices rose.')
        ['Oil fell 3%.', '"We will cut," OPEC said.', 'Prices rose.']
    """
    return [s.strip() for s in _SENTENCE_END.split(text.strip()) if s.strip()]


def allowed_articles(articles: list[Article], train: Qrels, held_out: Iterable[Qrels],
                     whole_corpus: bool = False) -> list[Article]:
    """The articles that may provide queries: relevant to a training query and to no
    held-out one (a dev or test article's text never becomes a query), or all of them.

    Example:
        >>> docs = [Article("1", "", "a"), Article("2", "", "b"), Article("3", "", "c")]
        >>> [a.doc_id for a in allowed_articles(docs, {"q1": {"1": 1, "2": 1}}, [{"t1": {"2": 1}}])]
        ['1']
    """
    if whole_corpus:
        return list(articles)
    relevant = {doc for judged in train.values() for doc, grade in judged.items() if grade > 0}
    barred = {doc for qrels in held_out for judged in qrels.values() for doc in judged}
    return [a for a in articles if a.doc_id in relevant and a.doc_id not in barred]


def idf_weights(articles: list[Article], analyzer) -> dict[str, float]:
    """Inverse document frequency of each analysed word over ``articles``: log(1 + N / df),
    positive even for a word in every article (a one-article corpus still has keywords)."""
    import math

    df = Counter(word for words in analyzer.words([a.text for a in articles]) for word in set(words))
    n = max(len(articles), 1)
    return {word: math.log1p(n / count) for word, count in df.items()}


def _rng(seed: int, doc_id: str):
    # one stream per article: an article's queries do not change when others are added.
    # numpy is imported here, not above: `ranker --help` reads KINDS and must start at once
    import numpy as np

    return np.random.default_rng([seed, zlib.crc32(doc_id.encode("utf-8"))])


def _usable(text: str, config: GenerationConfig) -> bool:
    return config.min_words <= len(text.split()) <= config.max_words


def _sentence_queries(article: Article, config: GenerationConfig, rng) -> list[tuple[str, str, str]]:
    """(kind, text, cut) for the lead and the inverse-cloze sentences."""
    found = sentences(article.text)
    # the lead is the first sentence long enough to be one: a dateline ("MOSCOW, February 7. /TASS/.") is not
    lead = next((i for i, s in enumerate(found[:3]) if _usable(s, config)), None)
    out = []
    if config.per_article.get("lead", 0) and lead is not None:
        out.append(("lead", found[lead], found[lead]))
    rest = [s for s in found[(0 if lead is None else lead + 1):] if _usable(s, config)]
    for i in sorted(rng.permutation(len(rest))[: config.per_article.get("ict", 0)]):
        out.append(("ict", rest[i], rest[i]))
    return out


def _span_queries(article: Article, config: GenerationConfig, rng) -> list[tuple[str, str, str]]:
    words = [m.group() for m in _WORD.finditer(article.text)]
    out = []
    for _ in range(config.per_article.get("span", 0)):
        length = int(rng.integers(config.span_words[0], config.span_words[1] + 1))
        if len(words) < 2 * length:  # a span must leave most of the article to match
            break
        start = int(rng.integers(0, len(words) - length + 1))
        span = " ".join(words[start : start + length])
        out.append(("span", span, span))
    return out


def _keyword_queries(article: Article, config: GenerationConfig, rng, analyzer,
                     idf: dict[str, float]) -> list[tuple[str, str, str]]:
    """Words drawn without replacement by tf-idf weight, in the order the article first uses them."""
    words = analyzer.words([article.text])[0]
    counts = Counter(w for w in words if len(w) > 2 and not w.isdigit())
    if len(counts) < config.keywords[1]:
        return []
    first = {}
    for at, word in enumerate(words):
        first.setdefault(word, at)
    vocabulary = sorted(counts, key=first.__getitem__)
    weights = [counts[w] * idf.get(w, 0.0) for w in vocabulary]
    total = sum(weights)
    if total <= 0:
        return []
    out, seen = [], set()
    for _ in range(config.per_article.get("keywords", 0)):
        size = int(rng.integers(config.keywords[0], config.keywords[1] + 1))
        picked = sorted(rng.choice(len(vocabulary), size=size, replace=False, p=[w / total for w in weights]))
        text = " ".join(vocabulary[i] for i in picked)
        if text not in seen:
            seen.add(text)
            out.append(("keywords", text, ""))
    return out


def generate_queries(articles: list[Article], config: GenerationConfig = GenerationConfig(),
                     questions: list[dict] | None = None) -> list[GeneratedQuery]:
    """Queries of every kind ``config`` asks for, article by article in the order given.

    Args:
        articles: the articles allowed to provide queries (see :func:`allowed_articles`).
        questions: hand-written questions (``doc_id``, ``question``) for the ``news_qa``
            kind; those about other articles are left out.

    Example:
        >>> doc = Article("7", "Oil falls", "Oil prices fell sharply on Monday after the talks. "
        ...               "OPEC members failed to agree on cutting production in Vienna. Traders sold crude.")
        >>> made = generate_queries([doc], GenerationConfig(per_article={"lead": 1, "ict": 1, "keywords": 1}))
        >>> for query in made:
        ...     print(query.qid, "|", query.text)
        g-lead-7-0 | Oil prices fell sharply on Monday after the talks.
        g-ict-7-0 | OPEC members failed to agree on cutting production in Vienna.
        g-keywords-7-0 | prices monday agree production
    """
    from ranker.retrieve.analysis import Analyzer, BM25Config

    analyzer = Analyzer(BM25Config())
    idf = idf_weights(articles, analyzer) if config.per_article.get("keywords", 0) else {}
    asked = {doc: [] for doc in (a.doc_id for a in articles)}
    if config.per_article.get("news_qa", 0):
        for row in questions or []:
            if row["doc_id"] in asked:
                asked[row["doc_id"]].append(row["question"])
    out = []
    for article in articles:
        rng = _rng(config.seed, article.doc_id)
        made = _sentence_queries(article, config, rng) + _span_queries(article, config, rng)
        made += _keyword_queries(article, config, rng, analyzer, idf)
        made += [("news_qa", question, "") for question in asked[article.doc_id]]
        numbered = Counter()
        for kind, text, cut in made:
            out.append(GeneratedQuery(f"g-{kind}-{article.doc_id}-{numbered[kind]}", text, kind, article.doc_id, cut))
            numbered[kind] += 1
    return out


def write_generated(queries: list[GeneratedQuery], out: str | Path, about: dict,
                    kinds: Iterable[str] = ()) -> dict:
    """Write the BEIR folder ``out`` (``queries.jsonl``, ``qrels/train.tsv``) and
    ``generated.json`` (``about``, the count of each kind, the files' sha256s),
    built beside its place and swapped in whole. Returns what ``generated.json`` holds.
    ``kinds`` are counted even where they made no query, so that a kind asked for
    and not made shows as 0.

    Example:
        >>> made = [GeneratedQuery("g-lead-7-0", "Oil fell.", "lead", "7", "Oil fell.")]
        >>> write_generated(made, tmp / "generated", {"seed": 13})["counts"]
        {'lead': 1}
    """
    from ranker.core.files import atomic_directory
    from ranker.core.integrity import write_listed

    lines = [json.dumps({"_id": q.qid, "text": q.text, "metadata": {"kind": q.kind, "target": q.target, "cut": q.cut}},
                        ensure_ascii=False) for q in queries]
    qrels = "query-id\tcorpus-id\tscore\n" + "".join(f"{q.qid}\t{q.target}\t1\n" for q in queries)
    made = Counter(q.kind for q in queries)
    counts = {kind: made[kind] for kind in KINDS if kind in made or kind in set(kinds)}
    with atomic_directory(out) as tmp:
        (tmp / "queries.jsonl").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        (tmp / "qrels").mkdir()
        (tmp / "qrels" / "train.tsv").write_text(qrels, encoding="utf-8")
        written = write_listed(tmp, "generated.json", {**about, "counts": counts, "queries": len(queries)})
    return written


def generate_to_folder(data: str | Path, out: str | Path, config: GenerationConfig = GenerationConfig(),
                       split: str = "train", whole_corpus: bool = False) -> dict:
    """``ranker generate``: queries made from a BEIR folder's articles, written to ``out``.

    By default only articles judged relevant in ``data/qrels/SPLIT.tsv`` provide
    queries, and none judged in any other qrels file of the folder (``dev``,
    ``test-title``, ...: held out). ``whole_corpus`` lets every article provide them.

    Returns:
        What ``generated.json`` records: the settings, which articles were allowed, the
        count of each kind, and the files' sha256s.

    Raises:
        InputError: ``data`` has no ``qrels/SPLIT.tsv``.

    Example:
        >>> about = generate_to_folder("data/news", tmp / "generated")
        >>> about["articles"], about["counts"]["lead"]  # the six articles are judged in dev and test too
        (0, 0)
        >>> generate_to_folder("data/news", tmp / "all", whole_corpus=True)["articles"]
        6
    """
    from ranker.core.errors import InputError
    from ranker.data.datasets.news_qa import load_questions
    from ranker.data.qrels import read_qrels
    from ranker.data.readers import read_articles

    data = Path(data)
    train_path = data / "qrels" / f"{split}.tsv"
    if not train_path.is_file():
        raise InputError(train_path, None, "no such qrels file: give --split the name of the training qrels in "
                         f"{data}/qrels")
    held_out_paths = sorted(p for p in (data / "qrels").glob("*.tsv") if not p.name.startswith(split))
    articles = read_articles(data).records
    allowed = allowed_articles(articles, read_qrels(train_path), [read_qrels(p) for p in held_out_paths], whole_corpus)
    queries = generate_queries(allowed, config, load_questions("train"))
    about = {
        "settings": asdict(config),
        "corpus": str(data),
        "allowed": "every article" if whole_corpus else
                   f"articles relevant in {train_path.name} and judged in none of "
                   f"{', '.join(p.name for p in held_out_paths) or 'no other qrels'}",
        "articles": len(allowed),
    }
    asked = [kind for kind, n in config.per_article.items() if n]
    return write_generated(queries, out, about, asked)
