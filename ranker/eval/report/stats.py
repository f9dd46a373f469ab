"""The numbers of an evaluation report: per-query metrics, confidence intervals, paired tests.

Per-query values come from :func:`ranker.eval.metrics.evaluate_per_query` (ir_measures),
so a report's means are exactly ``ranker evaluate``'s. The statistics are scipy's:
a percentile bootstrap of the mean for the 95% interval, and a two-sided paired
t-test of each system against the baseline over the same queries (in IR
evaluation the t-test and the randomisation test agree closely; Smucker, Allan
and Carterette, CIKM 2007).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ranker.data.records import Qrels
from ranker.eval.metrics import MEASURES, evaluate_per_query, judged
from ranker.eval.runs import Run


@dataclass(frozen=True)
class Cell:
    """One system's score on one metric: the mean, its interval, and the test against the baseline.

    ``p`` is None for the baseline itself; ``better`` says which way a significant difference goes.

    Example:
        >>> Cell(0.5, 0.4, 0.6, 0.01, True).mark(0.05)
        '▲'
    """

    mean: float
    low: float
    high: float
    p: float | None = None
    better: bool | None = None

    def mark(self, alpha: float) -> str:
        """``▲``/``▼`` when the difference from the baseline is significant at ``alpha``, else ``''``."""
        if self.p is None or not self.p < alpha:
            return ""
        return "▲" if self.better else "▼"


def per_query(runs: dict[str, Run], qrels: Qrels,
              metrics: Sequence[str] = tuple(MEASURES)) -> tuple[list[str], dict[str, dict[str, np.ndarray]]]:
    """Every system's per-query values, aligned over the judged queries (sorted qids).

    Example:
        >>> qids, values = per_query({"a": {"q1": {"d1": 1.0}}}, {"q1": {"d1": 1}, "q2": {"d2": 1}}, ["R@1"])
        >>> qids, values["a"]["R@1"].tolist()
        (['q1', 'q2'], [1.0, 0.0])
    """
    qids = sorted(judged(qrels))
    values = {}
    for system, run in runs.items():
        table = evaluate_per_query(run, qrels, metrics)
        values[system] = {m: np.array([table[q][m] for q in qids], dtype=np.float64) for m in metrics}
    return qids, values


def mean_over_runs(
    per_run: Sequence[dict[str, np.ndarray]],
) -> tuple[dict[str, np.ndarray], dict[str, tuple[float, float]]]:
    """One system's per-query values averaged over its runs (seeds, say), and the range of the runs' own means.

    Averaging each query over the runs before testing treats the seeds as one system, so
    a paired test against a baseline asks whether the recipe beats it, not one lucky run.

    Example:
        >>> mean, spread = mean_over_runs([{"R@1": np.array([1.0, 0.0])}, {"R@1": np.array([1.0, 1.0])}])
        >>> mean["R@1"].tolist(), spread["R@1"]
        ([1.0, 0.5], (0.5, 1.0))
    """
    if not per_run:
        raise ValueError("a system needs at least one run")
    mean = {m: np.mean([run[m] for run in per_run], axis=0) for m in per_run[0]}
    spread = {m: (float(min(run[m].mean() for run in per_run)), float(max(run[m].mean() for run in per_run)))
              for m in per_run[0]}
    return mean, spread


def bootstrap_interval(values: np.ndarray, confidence: float = 0.95, resamples: int = 2000,
                       seed: int = 0) -> tuple[float, float]:
    """The percentile-bootstrap interval of the mean (``scipy.stats.bootstrap``).

    Values that are all the same have no spread to resample: the interval is that value.

    Example:
        >>> bootstrap_interval(np.array([1.0, 1.0, 1.0]))
        (1.0, 1.0)
    """
    from scipy.stats import bootstrap

    if len(values) == 0:
        return float("nan"), float("nan")
    if np.ptp(values) == 0:
        return float(values[0]), float(values[0])
    found = bootstrap((values,), np.mean, confidence_level=confidence, n_resamples=resamples, method="percentile",
                      rng=np.random.default_rng(seed))
    return float(found.confidence_interval.low), float(found.confidence_interval.high)


def paired_p(system: np.ndarray, baseline: np.ndarray) -> float:
    """Two-sided paired t-test p-value (``scipy.stats.ttest_rel``); 1.0 when no query differs.

    Example:
        >>> paired_p(np.array([0.5, 1.0]), np.array([0.5, 1.0]))
        1.0
    """
    from scipy.stats import ttest_rel

    differences = system - baseline
    if not np.any(differences):
        return 1.0
    if np.ptp(differences) == 0:  # every query moved by the same amount: no variance, the shift is certain
        return 0.0
    return float(ttest_rel(system, baseline).pvalue)


def systems_table(values: dict[str, dict[str, np.ndarray]], baseline: str, confidence: float = 0.95,
                  seed: int = 0) -> dict[str, dict[str, Cell]]:
    """system -> metric -> :class:`Cell`, each tested against ``baseline`` over the same queries.

    Example:
        >>> values = {"bm25": {"R@1": np.array([0.0, 1.0])}, "ce": {"R@1": np.array([1.0, 1.0])}}
        >>> systems_table(values, "bm25")["ce"]["R@1"].mean
        1.0
    """
    if baseline not in values:
        raise ValueError(f"baseline '{baseline}' is not one of the systems: {', '.join(values)}")
    table = {}
    for system, metrics in values.items():
        row = {}
        for metric, v in metrics.items():
            low, high = bootstrap_interval(v, confidence, seed=seed)
            if system == baseline:
                row[metric] = Cell(float(v.mean()), low, high)
            else:
                base = values[baseline][metric]
                row[metric] = Cell(float(v.mean()), low, high, paired_p(v, base), bool(v.mean() > base.mean()))
        table[system] = row
    return table


def relevant_ranks(run: Run, qrels: Qrels, qids: Sequence[str]) -> np.ndarray:
    """The rank of each query's best-ranked relevant document (1 = first); 0 when the run misses it.

    Example:
        >>> relevant_ranks({"q1": {"d1": 2.0, "d2": 1.0}}, {"q1": {"d2": 1}}, ["q1"]).tolist()
        [2]
    """
    from ranker.eval.runs import ranked

    ranks = np.zeros(len(qids), dtype=np.int64)
    for i, qid in enumerate(qids):
        relevant = {d for d, rel in qrels.get(qid, {}).items() if rel > 0}
        for rank, (docid, _) in enumerate(ranked(run.get(qid, {})), start=1):
            if docid in relevant:
                ranks[i] = rank
                break
    return ranks


def recall_curve(run: Run, qrels: Qrels, depths: Sequence[int]) -> list[float]:
    """R@k at each depth, by ir_measures (the share of each query's relevant documents in its top k).

    Example:
        >>> recall_curve({"q1": {"d1": 2.0, "d2": 1.0}}, {"q1": {"d2": 1}}, [1, 2])
        [0.0, 1.0]
    """
    import ir_measures

    measures = [ir_measures.parse_measure(f"R@{k}") for k in depths]
    values = ir_measures.calc_aggregate(measures, judged(qrels), run)
    return [float(values[m]) for m in measures]
