"""Retrieval metrics over runs and qrels, computed by ir_measures, not by hand.

A judged query missing from a run counts as zero; queries in the run with no
judgements are ignored (ir_measures' behaviour, as trec_eval with ``-c``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ranker.core.errors import InputError
from ranker.data.records import Qrels
from ranker.eval.runs import Run

#: Reported metrics: our display name -> ir_measures measure name.
MEASURES: dict[str, str] = {
    "nDCG@10": "nDCG@10",
    "MRR@10": "RR@10",
    "R@1": "R@1",
    "R@10": "R@10",
    "R@100": "R@100",
    "MAP": "AP",
}


#: Measures asked for by name only, for graded judgments (0, 1 partly relevant,
#: 2 answers it): the rank of the first article that answers the query.
GRADED: dict[str, str] = {"MRR@10 (grade 2)": "RR(rel=2)@10"}


def _measures(names: Sequence[str]):
    import ir_measures

    known = {**MEASURES, **GRADED}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; known: {', '.join(known)}")
    return {n: ir_measures.parse_measure(known[n]) for n in names}


def evaluate(run: Run, qrels: Qrels, metrics: Sequence[str] = tuple(MEASURES)) -> dict[str, float]:
    """Mean of each metric over the judged queries with at least one relevant document.

    A judged query missing from the run counts as zero; queries in the run with
    no judgements are ignored (ir_measures' behaviour, as trec_eval with ``-c``).

    Example:
        >>> evaluate({"q1": {"d1": 2.0, "d2": 1.0}}, {"q1": {"d2": 1}}, ["MRR@10"])
        {'MRR@10': 0.5}
    """
    import ir_measures

    measures = _measures(metrics)
    relevant = judged(qrels)
    if not relevant:
        raise ValueError("the qrels hold no query with a relevant document")
    values = ir_measures.calc_aggregate(list(measures.values()), relevant, run)
    return {name: float(values[measure]) for name, measure in measures.items()}


def evaluate_per_query(run: Run, qrels: Qrels, metrics: Sequence[str] = tuple(MEASURES)) -> dict[str, dict[str, float]]:
    """Each metric for each judged query (those missing from the run get zeros).

    Example:
        >>> evaluate_per_query({"q1": {"d1": 1.0}}, {"q1": {"d1": 1}, "q2": {"d3": 1}}, ["R@1"])
        {'q1': {'R@1': 1.0}, 'q2': {'R@1': 0.0}}
    """
    import ir_measures

    measures = _measures(metrics)
    by_name = {str(m): name for name, m in measures.items()}
    relevant = judged(qrels)
    table = {qid: {name: 0.0 for name in measures} for qid in sorted(relevant)}
    for metric in ir_measures.iter_calc(list(measures.values()), relevant, run):
        table[metric.query_id][by_name[str(metric.measure)]] = float(metric.value)
    return table


def judged(qrels: Qrels) -> Qrels:
    """The queries that metrics average over: those with a relevant document.

    Example:
        >>> judged({"q1": {"d1": 1}, "q2": {"d2": 0}})
        {'q1': {'d1': 1}}
    """
    return {qid: docs for qid, docs in qrels.items() if any(rel > 0 for rel in docs.values())}


def read_judged_qrels(path: str | Path) -> Qrels:
    """The qrels of ``path``, which must judge at least one document relevant.

    Raises:
        InputError: a malformed file, or one with no relevant document (nothing to evaluate).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "qrels.txt"
        >>> _ = p.write_text("q1 0 d1 0\\n")
        >>> read_judged_qrels(p)  # doctest: +NORMALIZE_WHITESPACE
        Traceback (most recent call last):
        ranker.core.errors.InputError: ...qrels.txt: no query has a relevant document (relevance above 0):
            nothing to evaluate
    """
    from ranker.data.qrels import read_qrels

    qrels = read_qrels(path)
    if not judged(qrels):
        raise InputError(path, None, "no query has a relevant document (relevance above 0): nothing to evaluate")
    return qrels
