"""Gather what an evaluation report shows, as plain data (``report.json``).

:func:`build_report` reads the runs, the qrels and whatever else is given (the
queries and corpus for titles, the runs' side files for timings, an index
manifest, a model's ``ranker.json``, head ``metrics.json`` files) and returns
one JSON-ready dict; :mod:`ranker.eval.report.render` turns it into HTML and Markdown.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ranker.core.errors import InputError
from ranker.data.records import Qrels
from ranker.eval.metrics import MEASURES
from ranker.eval.report.stats import mean_over_runs, per_query, recall_curve, relevant_ranks, systems_table
from ranker.eval.runs import Run, ranked, read_run_meta


@dataclass(frozen=True)
class ReportConfig:
    """What the report compares and how.

    ``baseline``: the system every other is tested against (default: the first
    run given). ``focus``: the system whose wins and losses are examined
    (default: the best other system by ``focus_metric``).

    Example:
        >>> ReportConfig(baseline="bm25").alpha
        0.05
    """

    baseline: str | None = None
    focus: str | None = None
    focus_metric: str = "nDCG@10"
    metrics: tuple[str, ...] = tuple(MEASURES)
    confidence: float = 0.95
    alpha: float = 0.05
    examples: int = 5
    depths: tuple[int, ...] = (1, 2, 3, 5, 10, 20, 50, 100)
    seed: int = 0

    def __post_init__(self) -> None:
        unknown = [m for m in (*self.metrics, self.focus_metric) if m not in MEASURES]
        if unknown:
            raise ValueError(f"unknown metrics {unknown}; known: {', '.join(MEASURES)}")
        if not 0 < self.alpha < 1 or not 0 < self.confidence < 1:
            raise ValueError("alpha and confidence must be between 0 and 1")


def _titles(data: Path | None) -> tuple[dict[str, str], dict[str, str]]:
    """(query texts by qid, article titles by doc id) from a BEIR folder, or empty maps."""
    if data is None:
        return {}, {}
    from ranker.data.readers import read_articles, read_queries

    queries = {q.qid: q.text for q in read_queries(data).records}
    titles = {a.doc_id: a.title or a.text[:80] for a in read_articles(data).records}
    return queries, titles


def _examples(runs: dict[str, Run], qrels: Qrels, qids: list[str], ranks: dict[str, np.ndarray], focus: str,
              baseline: str, count: int, queries: dict[str, str], titles: dict[str, str]) -> dict[str, list[dict]]:
    """The queries ``focus`` helped and hurt most: by how far it moved the relevant article."""

    def moved(rank: np.ndarray) -> np.ndarray:  # a missed article counts as one past the deepest rank
        return np.where(rank == 0, 10**6, rank)

    shift = moved(ranks[baseline]) - moved(ranks[focus])  # > 0: focus ranked it higher
    out = {}
    for kind, order in (("helped", np.argsort(-shift, kind="stable")), ("hurt", np.argsort(shift, kind="stable"))):
        chosen = []
        for i in order:
            if len(chosen) == count or shift[i] == 0 or (shift[i] > 0) != (kind == "helped"):
                break  # sorted by shift: past the first tie, no query of this kind is left
            qid = qids[i]
            worse = baseline if kind == "helped" else focus  # the system where another article beat it
            relevant = sorted(d for d, rel in qrels[qid].items() if rel > 0)
            top = ranked(runs[worse].get(qid, {}))
            chosen.append({
                "qid": qid,
                "query": queries.get(qid, ""),
                "relevant": relevant[0],
                "relevant_title": titles.get(relevant[0], ""),
                "ranks": {system: int(r[i]) for system, r in ranks.items()},
                "beaten_by": {"system": worse, "doc_id": top[0][0] if top else "",
                              "title": titles.get(top[0][0], "") if top else ""},
            })
        out[kind] = chosen
    return out


#: The held-out sets a head's metrics may hold beside ``test``, and how a report names them.
HEAD_SETS = {"general_dev": "general questions (dev)", "quotes_test_whole_articles": "whole articles",
             "general_dev_whole_articles": "general questions (dev), whole articles"}


def _heads(folder: Path | None) -> list[dict[str, Any]]:
    """One row per ``<task>/metrics.json`` under ``folder`` that has a test result, and one
    per further held-out set it reports (:data:`HEAD_SETS`: QA's general questions)."""
    if folder is None:
        return []
    rows = []
    for path in sorted(folder.glob("*/metrics.json")):
        metrics = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(metrics.get("test"), dict):
            continue
        # the pipeline's wall time for the task (training and testing), else the training loop's
        seconds = metrics.get("seconds", metrics.get("train", {}).get("seconds"))
        for key, name in {"test": None, **HEAD_SETS}.items():
            found = metrics.get(key)
            if not isinstance(found, dict):
                continue
            figures = {k: v for k, v in found.items() if isinstance(v, (int, float)) and k != "n"}
            task = path.parent.name if name is None else f"{path.parent.name}: {name}"
            rows.append({"task": task, "test": figures, "n": found.get("n"),
                         "seconds": seconds if name is None else None})
    return rows


def _json_file(path: Path | None, name: str) -> dict[str, Any]:
    if path is None:
        return {}
    target = path / name if path.is_dir() else path
    if not target.is_file():
        raise InputError(target, None, f"not found (expected {name})")
    return json.loads(target.read_text(encoding="utf-8"))


def build_report(run_paths: Mapping[str, Path | Sequence[Path]], qrels: Qrels, config: ReportConfig = ReportConfig(),
                 data: Path | None = None, heads: Path | None = None, index: Path | None = None,
                 model: Path | None = None, title: str = "Evaluation report",
                 qrels_name: str = "") -> dict[str, Any]:
    """Everything the report shows, JSON-ready.

    A system given several runs (the same recipe under different seeds) is scored by
    each query's mean over them, and its row also holds the range of the runs' own
    means; its first run stands for it in the rank plot and the examples.

    Args:
        run_paths: system name -> TREC run file (ours or anyone's), or a list of them.
        qrels: the judgements the runs are scored on.
        config: baseline, focus and statistics.
        data: a BEIR folder for query texts and article titles (optional).
        heads: a folder of ``<task>/metrics.json`` (optional).
        index: an index folder whose ``manifest.json`` to show (optional).
        model: a model folder whose ``ranker.json`` to show (optional).

    Example:
        >>> from ranker.eval.metrics import read_judged_qrels
        >>> qrels = read_judged_qrels("data/news/qrels/test-title.tsv")
        >>> runs = {"bm25": Path("runs/demo/bm25.test-title.trec"),  # the demo has no seeds: two weights stand in
        ...         "reranked": [Path("runs/demo/reranked.test-title-sample200.trec"),
        ...                      Path("runs/demo/reranked-mixed.test-title-sample200.trec")]}
        >>> report = build_report(runs, qrels)
        >>> report["queries"], report["baseline"], report["focus"], len(report["systems"]["reranked"]["paths"])
        (6, 'bm25', 'reranked', 2)
        >>> cell = report["systems"]["reranked"]["metrics"]["nDCG@10"]  # its two runs averaged query by query
        >>> sorted(cell), report["systems"]["bm25"]["metrics"]["nDCG@10"]["p"]  # the baseline is not tested
        (['better', 'high', 'low', 'mean', 'p'], None)
    """
    from ranker.eval.runs import read_run

    if not run_paths:
        raise ValueError("a report needs at least one run")
    paths = {name: [Path(found)] if isinstance(found, (str, Path)) else [Path(p) for p in found]
             for name, found in run_paths.items()}
    if not all(paths.values()):
        raise ValueError(f"no run given for {', '.join(name for name, found in paths.items() if not found)}")
    every = {name: [read_run(path) for path in found] for name, found in paths.items()}
    runs = {name: found[0] for name, found in every.items()}  # what stands for a system in ranks and examples
    baseline = config.baseline or next(iter(runs))
    values, spreads = {}, {}
    for name, found in every.items():
        qids, per_run = per_query({str(i): run for i, run in enumerate(found)}, qrels, config.metrics)
        values[name], spreads[name] = mean_over_runs(list(per_run.values()))
    table = systems_table(values, baseline, config.confidence, config.seed)
    others = [s for s in runs if s != baseline]
    if config.focus is not None and config.focus not in runs:
        raise ValueError(f"focus '{config.focus}' is not one of the systems: {', '.join(runs)}")
    focus = config.focus or (max(others, key=lambda s: table[s][config.focus_metric].mean) if others else baseline)
    ranks = {system: relevant_ranks(run, qrels, qids) for system, run in runs.items()}
    queries, titles = _titles(data)
    metric = config.focus_metric
    curves = {s: np.mean([recall_curve(run, qrels, config.depths) for run in found], axis=0).tolist()
              for s, found in every.items()}
    return {
        "title": title,
        "qrels": qrels_name,
        "queries": len(qids),
        "baseline": baseline,
        "focus": focus,
        "config": asdict(config),
        "systems": {s: {"path": str(paths[s][0]), "paths": [str(p) for p in paths[s]],
                        "meta": read_run_meta(paths[s][0]),
                        "metrics": {m: asdict(c) for m, c in table[s].items()},
                        "runs_range": {m: list(r) for m, r in spreads[s].items()}} for s in runs},
        "recall": {"depths": list(config.depths), "curves": curves},
        "ranks": {s: r.tolist() for s, r in ranks.items()},
        "per_query_focus": {"metric": metric,
                            "differences": (values[focus][metric] - values[baseline][metric]).tolist()},
        "examples": _examples(runs, qrels, qids, ranks, focus, baseline, config.examples, queries, titles)
        if focus != baseline else {"helped": [], "hurt": []},
        "heads": _heads(heads),
        "index_manifest": _json_file(index, "manifest.json"),
        "model_card": _json_file(model, "ranker.json"),
    }


def parse_systems(specs: Sequence[str], check: bool = True) -> dict[str, list[Path]]:
    """``[NAME=]PATH`` arguments as system name -> run files.

    The same NAME= on several runs makes one system of them (seeds of one recipe,
    averaged per query). A name taken from two file names is an error instead, since
    two files that happen to share a name are rarely meant to be averaged. With
    ``check=False`` each spec is only split (to list the files a command reads).

    Raises:
        InputError: a missing run file, an unprintable name, a name given twice
            without NAME=, or one file given twice for a system.

    Example:
        >>> parse_systems(["bm25=a.trec", "b.trec"], check=False)
        {'bm25=a.trec': [PosixPath('a.trec')], 'b.trec': [PosixPath('b.trec')]}
    """
    names: dict[str, list[Path]] = {}
    implicit: set[str] = set()
    for spec in specs:
        name, _, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
        path = Path(path)
        if not check:
            names[spec] = [path]
            continue
        given = bool(name)
        name = name or (path.name[: -len(".trec")] if path.name.endswith(".trec") else path.stem)
        if not name.isprintable():
            raise InputError("command line", spec.encode("unicode_escape").decode(),
                             "a system name must be printable text")
        if not path.is_file():
            raise InputError(path, None, "run file not found")
        if name in names and (not given or name in implicit):
            raise InputError(path, None, f"the system name '{name}' is given twice; name runs with NAME=PATH "
                             "(the same NAME= on several runs averages them, e.g. seeds)")
        if path.resolve() in (p.resolve() for p in names.get(name, [])):
            raise InputError(path, None, f"this run is given twice for '{name}'; a system's runs must be different "
                             "files")
        if not given:
            implicit.add(name)
        names.setdefault(name, []).append(path)
    return names
