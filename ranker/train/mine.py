"""Hard-negative mining: candidates → filters → sample → table.

For each training query and its labelled positive article, a retriever proposes
candidates (ranks ``range_min`` to ``range_max`` of its results); the labelled
positives are removed; then two guards against *false* negatives — articles as
relevant as the positive but unlabelled, common here because several outlets
cover the same story:

* a margin against the positive's retriever score: keep a candidate only if it
  scores under ``(1 - relative_margin)`` times the positive's score (NV-Retriever's
  "TopK-PercPos", 95% by default) and under the positive's score minus
  ``absolute_margin``;
* optionally, denoising by an existing cross-encoder (RocketQA): drop a candidate
  that the cross-encoder scores within ``margin`` of the positive or above it.

Then ``num_negatives`` are taken from what is left, the best-ranked first or at
random. ``strategy="random"`` skips the retriever: negatives drawn uniformly from
the corpus, the baseline. The behaviour follows sentence-transformers'
``mine_hard_negatives``; the stages are small functions here so each can be
tested and reused on its own.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ranker.core.errors import InputError
from ranker.core.files import atomic_directory
from ranker.core.integrity import write_listed
from ranker.data.records import Qrels, Query
from ranker.retrieve.base import Results

STRATEGIES = ("random", "bm25", "dense", "hybrid")
SAMPLING = ("top", "random")


@dataclass(frozen=True)
class MiningConfig:
    """Where candidates come from, which are kept, and how many become negatives.

    Example:
        >>> MiningConfig(strategy="bm25", num_negatives=7).range_max
        20
    """

    strategy: str = "hybrid"
    range_min: int = 0
    range_max: int = 20
    num_negatives: int = 3
    sampling: str = "top"
    relative_margin: float | None = 0.05
    absolute_margin: float | None = None
    # How deep to search for the positive's own score (see positive_scores).
    depth: int = 100
    seed: int = 13

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {', '.join(STRATEGIES)}, not '{self.strategy}'")
        if self.sampling not in SAMPLING:
            raise ValueError(f"sampling must be one of {', '.join(SAMPLING)}, not '{self.sampling}'")
        if not 0 <= self.range_min < self.range_max:
            raise ValueError(f"need 0 <= range_min < range_max (got {self.range_min}, {self.range_max})")
        if self.num_negatives < 1:
            raise ValueError(f"num_negatives must be >= 1, not {self.num_negatives}")
        if self.relative_margin is not None and not 0.0 <= self.relative_margin < 1.0:
            raise ValueError(f"relative_margin must be in [0, 1), not {self.relative_margin}")


@dataclass(frozen=True)
class TrainingQuery:
    """A query with one labelled positive article (a query with two positives gives two).

    Example:
        >>> TrainingQuery("t1", "Oil prices fall", "1", frozenset({"1"})).positive
        '1'
    """

    qid: str
    text: str
    positive: str
    positives: frozenset[str]
    #: words of the positive that the query was made of, left out when a model reads it
    #: (a query made from the corpus: ranker.train.corpus_queries); empty for a labelled query
    cut: str = ""


@dataclass(frozen=True)
class Group:
    """One positive and its mined negatives, as index rows; ``ranks`` are the
    negatives' 1-based ranks in the retriever's results (0 for random ones)."""

    query: TrainingQuery
    negatives: tuple[int, ...]
    ranks: tuple[int, ...]


@dataclass
class MiningReport:
    """What each stage removed, and how many queries came out short."""

    queries: int = 0
    candidates: int = 0
    removed: Counter = field(default_factory=Counter)
    negatives: int = 0
    short: int = 0
    without_negatives: int = 0
    positive_not_retrieved: int = 0

    def lines(self, wanted: int) -> list[str]:
        """The report as a person reads it.

        Example:
            >>> MiningReport(queries=2, negatives=5, short=1).lines(3)[-1]
            '1 of 2 queries got fewer than 3 negatives (0 got none)'
        """
        out = [f"{self.queries} queries, {self.candidates} candidates in the window"]
        out += [f"  removed as {why}: {count}" for why, count in sorted(self.removed.items())]
        if self.positive_not_retrieved:
            out.append(f"  positive not in the retriever's results for {self.positive_not_retrieved} queries")
        out.append(f"{self.negatives} negatives kept")
        out.append(f"{self.short} of {self.queries} queries got fewer than {wanted} negatives "
                   f"({self.without_negatives} got none)")
        return out


def training_queries(queries: list[Query], qrels: Qrels) -> list[TrainingQuery]:
    """One :class:`TrainingQuery` per (judged query, relevant article), in query order.

    Raises:
        InputError: a judged query that is not among ``queries``.

    Example:
        >>> training_queries([Query("q", "oil")], {"q": {"d": 1, "e": 0}})
        [TrainingQuery(qid='q', text='oil', positive='d', positives=frozenset({'d'}), cut='')]
    """
    by_id = {q.qid: q for q in queries}
    missing = sorted(set(qrels) - set(by_id))
    if missing:
        raise InputError("qrels", None, f"{len(missing)} judged queries not in the queries file (first: {missing[0]})")
    out = []
    for qid, judged in qrels.items():
        positives = frozenset(doc for doc, grade in judged.items() if grade > 0)
        cut = str(by_id[qid].metadata.get("cut") or "")  # a generated query's own words in its positive
        out += [TrainingQuery(qid, by_id[qid].text, doc, positives, cut) for doc in sorted(positives)]
    return out


def window(results: Results, q: int, config: MiningConfig) -> list[tuple[int, int, float]]:
    """(rank, row, score) of query ``q``'s candidates within the rank window.

    Example:
        >>> r = Results(np.array([[5, 6, 7]]), np.array([[3.0, 2.0, 1.0]]))
        >>> window(r, 0, MiningConfig(range_min=1, range_max=3))
        [(2, 6, 2.0), (3, 7, 1.0)]
    """
    hits = results.hits(q)[config.range_min : config.range_max]
    return [(config.range_min + i + 1, row, score) for i, (row, score) in enumerate(hits)]


def positive_score(results: Results, q: int, positive_rows: set[int]) -> tuple[float, bool]:
    """The best score of a positive among query ``q``'s results, and whether one was found.

    When the retriever did not return the positive within its depth, the lowest
    score it returned stands in: an upper bound of the positive's true score, so
    the margin filter is then, if anything, too lenient.

    Example:
        >>> r = Results(np.array([[5, 6]]), np.array([[3.0, 2.0]]))
        >>> positive_score(r, 0, {6}), positive_score(r, 0, {9})
        ((2.0, True), (2.0, False))
    """
    hits = results.hits(q)
    found = [score for row, score in hits if row in positive_rows]
    if found:
        return max(found), True
    return (hits[-1][1] if hits else float("inf")), False


def within_margin(score: float, positive: float, config: MiningConfig) -> bool:
    """Whether a candidate scores too close to the positive to be trusted as a negative.

    Example:
        >>> within_margin(9.6, 10.0, MiningConfig(relative_margin=0.05))
        True
        >>> within_margin(9.4, 10.0, MiningConfig(relative_margin=0.05))
        False
    """
    if config.relative_margin is not None and score >= (1.0 - config.relative_margin) * positive:
        return True
    return config.absolute_margin is not None and score >= positive - config.absolute_margin


def sample(candidates: list, n: int, sampling: str, rng: np.random.Generator) -> list:
    """``n`` of ``candidates``: the first ``n`` (``top``) or ``n`` at random, kept in order.

    Example:
        >>> sample([1, 2, 3, 4], 2, "top", np.random.default_rng(0))
        [1, 2]
    """
    if sampling == "top" or len(candidates) <= n:
        return list(candidates[:n])
    chosen = sorted(rng.choice(len(candidates), size=n, replace=False).tolist())
    return [candidates[i] for i in chosen]


# (queries, texts) -> cross-encoder scores; and rows -> article texts.
PairScorer = Callable[[list[str], list[str]], np.ndarray]
TextsOf = Callable[[list[int]], list[str]]


@dataclass(frozen=True)
class Denoiser:
    """RocketQA's guard: a cross-encoder vetoes candidates it scores near the positive.

    ``pool`` times the wanted number of negatives are scored per query (the
    cross-encoder is the slow part), best-ranked first.
    """

    score: PairScorer
    texts_of: TextsOf
    margin: float = 0.0
    pool: int = 2


def cross_encoder_denoiser(reranker, docs, margin: float = 0.0, show_progress: bool = False) -> Denoiser:
    """A loaded :class:`ranker.rerank.reranker.Reranker` as the miner's false-negative guard.

    Example:
        >>> from ranker.index.folder import Index
        >>> from ranker.rerank.reranker import RerankConfig, Reranker
        >>> index = Index.open("indexes/news")
        >>> reranker = Reranker(RerankConfig(model="models/demo/model/model"))
        >>> denoiser = cross_encoder_denoiser(reranker, index.docs)
        >>> denoiser.score(["oil prices"], denoiser.texts_of([0])).shape  # the cross-encoder's score of (query, row 0)
        (1,)
        >>> queries = training_queries([Query("t1", "Oil prices fell sharply")], {"t1": {"1": 1}})
        >>> wary = cross_encoder_denoiser(reranker, index.docs, margin=100.0)  # none scores 100 under the positive
        >>> groups, report = mine_index(index, queries, MiningConfig(relative_margin=None), wary)
        >>> groups[0].negatives, report.removed["scored near the positive by the cross-encoder (denoised)"]
        ((), 5)
    """
    return Denoiser(
        lambda queries, texts: reranker.score(queries, texts, show_progress=show_progress),
        docs.texts,
        margin=margin,
    )


def mine(
    queries: list[TrainingQuery],
    doc_ids: list[str],
    config: MiningConfig,
    results: Results | None = None,
    denoiser: Denoiser | None = None,
) -> tuple[list[Group], MiningReport]:
    """Mine negatives for each training query.

    Args:
        queries: the training queries, each with one positive.
        doc_ids: the index's document ids in row order.
        config: the window, margins and sampling.
        results: the retriever's results for ``queries`` (``config.depth`` deep);
            ``None`` for ``strategy="random"``.
        denoiser: an optional cross-encoder filter.

    Example:
        >>> r = Results(np.array([[0, 1, 2]]), np.array([[9.0, 8.0, 3.0]]))
        >>> q = [TrainingQuery("q", "oil", "b", frozenset({"b"}))]
        >>> groups, report = mine(q, ["a", "b", "c"], MiningConfig(num_negatives=2), r)
        >>> groups[0].negatives  # "a" scores above 95% of the positive's 8.0
        (2,)
    """
    rng = np.random.default_rng(config.seed)
    row_of = {doc: row for row, doc in enumerate(doc_ids)}
    report = MiningReport(queries=len(queries))
    kept: list[list[tuple[int, int, float]]] = []
    for q, query in enumerate(queries):
        positive_rows = {row_of[d] for d in query.positives if d in row_of}
        if query.positive not in row_of:
            raise InputError("qrels", query.qid, f"positive article '{query.positive}' is not in the index")
        if results is None:
            kept.append(_random_candidates(rng, len(doc_ids), positive_rows, config.num_negatives))
            report.candidates += config.num_negatives
            continue
        candidates = window(results, q, config)
        report.candidates += len(candidates)
        positive, found = positive_score(results, q, positive_rows)
        report.positive_not_retrieved += not found
        survivors = []
        for candidate in candidates:
            if candidate[1] in positive_rows:
                report.removed["labelled positive"] += 1
            elif within_margin(candidate[2], positive, config):
                report.removed["too close to the positive's score (margin)"] += 1
            else:
                survivors.append(candidate)
        kept.append(survivors)
    if denoiser is not None and results is not None:
        kept = _denoise(queries, [row_of[q.positive] for q in queries], kept, config, denoiser, report)
    groups = []
    for query, survivors in zip(queries, kept, strict=True):
        chosen = sample(survivors, config.num_negatives, config.sampling, rng)
        groups.append(Group(query, tuple(row for _, row, _ in chosen), tuple(rank for rank, _, _ in chosen)))
        report.negatives += len(chosen)
        report.short += len(chosen) < config.num_negatives
        report.without_negatives += not chosen
    return groups, report


def mine_index(
    index, queries: list[TrainingQuery], config: MiningConfig, denoiser: Denoiser | None = None, batch_size: int = 256
) -> tuple[list[Group], MiningReport]:
    """Mine from an opened :class:`~ranker.index.folder.Index`: search ``config.strategy``
    ``config.depth`` deep (in batches, so memory stays flat), then :func:`mine`.

    Example:
        >>> from ranker.index.folder import Index
        >>> index = Index.open("indexes/news")
        >>> queries = training_queries([Query("t1", "Oil prices fell sharply")], {"t1": {"1": 1}})
        >>> groups, report = mine_index(index, queries, MiningConfig(strategy="bm25", num_negatives=2))
        >>> [index.doc_ids()[row] for row in groups[0].negatives], groups[0].ranks  # OPEC's article, ranked 2nd
        (['6'], (2,))
        >>> report.lines(2)[-1]  # no other article shares a word with the query
        '1 of 1 queries got fewer than 2 negatives (0 got none)'
    """
    doc_ids = index.doc_ids()
    known = set(doc_ids)
    unknown = [q for q in queries if q.positive not in known]
    if unknown:
        # qrels often cover more articles than one index holds: warn and go on without them
        print(f"warning: {len(unknown)} of {len(queries)} training pairs name a positive article that is not in the "
              f"index (first: query {unknown[0].qid}, article {unknown[0].positive}); they are left out",
              file=sys.stderr)
        queries = [q for q in queries if q.positive in known]
    results = None
    if config.strategy != "random":
        retriever = index.retriever(config.strategy)
        parts = [
            retriever.search([q.text for q in queries[i : i + batch_size]], config.depth)
            for i in range(0, len(queries), batch_size)
        ]
        results = Results(np.concatenate([p.rows for p in parts]), np.concatenate([p.scores for p in parts]))
    return mine(queries, doc_ids, config, results, denoiser)


def _random_candidates(rng: np.random.Generator, n_docs: int, positives: set[int], n: int) -> list:
    if n_docs - len(positives) < n:
        n = n_docs - len(positives)
    chosen: list[int] = []
    while len(chosen) < n:
        row = int(rng.integers(n_docs))
        if row not in positives and row not in chosen:
            chosen.append(row)
    return [(0, row, float("nan")) for row in chosen]


def _denoise(queries, own_rows: list[int], kept, config: MiningConfig, denoiser: Denoiser, report: MiningReport):
    """Score each query's positive and its best ``pool`` candidates with the
    cross-encoder; drop candidates scoring within ``margin`` of the positive."""
    pool = denoiser.pool * config.num_negatives
    flat_queries: list[str] = []
    flat_rows: list[int] = []
    for query, own, survivors in zip(queries, own_rows, kept, strict=True):
        flat_queries += [query.text] * (1 + len(survivors[:pool]))
        flat_rows += [own] + [row for _, row, _ in survivors[:pool]]
    scores = denoiser.score(flat_queries, denoiser.texts_of(flat_rows))
    out, at = [], 0
    for survivors in kept:
        positive, candidates = scores[at], scores[at + 1 : at + 1 + len(survivors[:pool])]
        at += 1 + len(candidates)
        # only the pool was scored: candidates beyond it are not kept
        clean = [c for c, s in zip(survivors[:pool], candidates, strict=True) if s < positive - denoiser.margin]
        report.removed["scored near the positive by the cross-encoder (denoised)"] += len(candidates) - len(clean)
        out.append(clean)
    return out


TABLE_FILES = frozenset({"groups.parquet", "pairs.parquet", "mining.json"})


def check_tables_folder(out: Path) -> None:
    """Refuse an output folder that holds anything but mined tables: writing replaces it whole.

    Example:
        >>> check_tables_folder(Path("runs/new-folder"))  # nothing there yet: fine
    """
    if out.is_file() or (out.is_dir() and {p.name for p in out.iterdir()} - TABLE_FILES):
        raise InputError(out, None, "holds other files, not only mined tables: choose a new or empty folder")


def write_tables(groups: list[Group], doc_ids: list[str], out: str | Path, about: dict) -> None:
    """Write ``out/groups.parquet``, ``out/pairs.parquet`` and ``out/mining.json``.

    ``groups``: qid, query, positive, negatives (list), negative_ranks (list), cut
    (what a model must not read of the positive; empty but for generated queries).
    ``pairs``: qid, query, doc_id, label (1 for the positive, 0 for a negative),
    rank (the negative's rank in the retriever's results, 0 for positives and
    random negatives). ``mining.json`` also lists the tables' sha256s.

    The folder is built beside its place and swapped in whole, so a killed job
    leaves the previous tables, all three of one mining run; a folder that holds
    other files (no ``mining.json``) is refused rather than replaced.

    Raises:
        InputError: ``out`` is a folder of something else.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = Path(out)
    check_tables_folder(out)
    grouped = pa.table(
        {
            "qid": [g.query.qid for g in groups],
            "query": [g.query.text for g in groups],
            "positive": [g.query.positive for g in groups],
            "negatives": [[doc_ids[r] for r in g.negatives] for g in groups],
            "negative_ranks": [list(g.ranks) for g in groups],
            "cut": [g.query.cut for g in groups],
        }
    )
    pairs: dict[str, list] = {"qid": [], "query": [], "doc_id": [], "label": [], "rank": []}
    for g in groups:
        negatives = [(doc_ids[r], 0, k) for r, k in zip(g.negatives, g.ranks, strict=True)]
        for doc, label, rank in [(g.query.positive, 1, 0), *negatives]:
            pairs["qid"].append(g.query.qid)
            pairs["query"].append(g.query.text)
            pairs["doc_id"].append(doc)
            pairs["label"].append(label)
            pairs["rank"].append(rank)
    with atomic_directory(out) as tmp:
        for name, table in (("groups", grouped), ("pairs", pa.table(pairs))):
            pq.write_table(table, tmp / f"{name}.parquet")
        # the sha256 of each table, checked whenever the groups are read (ranker.core.integrity)
        write_listed(tmp, "mining.json", about)


def report_dict(config: MiningConfig, report: MiningReport) -> dict:
    """The mining settings and what came of them, for ``mining.json``."""
    return {"config": asdict(config), "report": {**asdict(report), "removed": dict(report.removed)}}


def mine_to_folder(index, queries: list[Query], qrels: Qrels, config: MiningConfig, out: str | Path,
                   limit: int | None = None, denoise: str | Path | None = None, denoise_margin: float = 0.0,
                   runtime: str = "auto", show_progress: bool = False,
                   about: dict | None = None) -> tuple[dict, MiningReport]:
    """``ranker mine``: mine negatives for a fixed sample of the training queries and
    write the tables to ``out`` (see :func:`write_tables`).

    Args:
        index: an opened :class:`~ranker.index.folder.Index` (candidates and texts).
        queries, qrels: the training queries and which article is each one's positive.
        limit: mine for a fixed random sample of this many queries (seeded by ``config.seed``).
        denoise: a fine-tuned cross-encoder that vetoes candidates it scores within
            ``denoise_margin`` of the positive.
        about: more to record in ``mining.json`` (where the index and queries came from).

    Returns:
        What ``mining.json`` records, and the report of what was kept and removed.

    Example:
        >>> from ranker.index.folder import Index
        >>> index = Index.open("indexes/news")
        >>> queries = [Query("q1", "oil prices fell"), Query("q2", "the dam broke")]
        >>> about, report = mine_to_folder(index, queries, {"q1": {"1": 1}, "q2": {"2": 1}},
        ...                                MiningConfig(strategy="bm25", num_negatives=1), tmp / "mined")
        >>> report.queries, sorted(p.name for p in (tmp / "mined").iterdir())
        (2, ['groups.parquet', 'mining.json', 'pairs.parquet'])
    """
    from ranker.data.qrels import sample_in_order

    training = sample_in_order(training_queries(queries, qrels), limit, config.seed)
    denoiser = None
    if denoise is not None:
        from ranker.rerank.reranker import RerankConfig, Reranker

        scorer = Reranker(RerankConfig(model=str(denoise), runtime=runtime))
        denoiser = cross_encoder_denoiser(scorer, index.docs, denoise_margin, show_progress)
    groups, report = mine_index(index, training, config, denoiser)
    recorded = {**report_dict(config, report), **(about or {}), "denoise": str(denoise) if denoise else None}
    write_tables(groups, index.doc_ids(), out, recorded)
    return recorded, report
