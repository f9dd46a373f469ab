"""Offline evaluation reports: ``reports/<name>/index.html`` (self-contained) and ``report.md``.

``build`` gathers the numbers (ir_measures per query, scipy's bootstrap and
paired t-test), ``plots`` draws the figures with matplotlib, ``render`` writes
HTML and Markdown; :func:`write_report` puts them in one folder, atomically.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def write_report(out: str | Path, report: dict[str, Any]) -> Path:
    """Write ``index.html``, ``report.md``, ``report.json`` and the figures' PNGs into ``out``.

    The folder is built beside its place and renamed into it, so a failed run
    leaves any earlier report untouched. Returns the path of ``index.html``.

    Example:
        >>> from ranker.eval.metrics import read_judged_qrels
        >>> from ranker.eval.report.build import build_report
        >>> runs = {"bm25": "runs/demo/bm25.test-title.trec", "hybrid": "runs/demo/hybrid.test-title.trec"}
        >>> write_report("reports/demo", build_report(runs, read_judged_qrels("data/news/qrels/test-title.tsv")))
        PosixPath('reports/demo/index.html')
        >>> sorted(path.name for path in Path("reports/demo").iterdir())
        ['index.html', 'ranks.png', 'recall.png', 'report.json', 'report.md', 'wins.png']
    """
    from ranker.core.files import atomic_directory
    from ranker.core.outputs import REPORT, check_output
    from ranker.eval.report.render import figures, render_html, render_markdown

    out = check_output(out, REPORT)  # never over a folder of something else
    images = figures(report)
    with atomic_directory(out) as tmp:
        (tmp / "index.html").write_text(render_html(report, images), encoding="utf-8")
        (tmp / "report.md").write_text(render_markdown(report, images), encoding="utf-8")
        (tmp / "report.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
        for name, (_, png) in images.items():
            (tmp / name).write_bytes(png)
    return out / "index.html"


def make_report(out: str | Path, specs: list[str], qrels: str | Path, config=None, **given: Any) -> tuple[Path, dict]:
    """``ranker report``: parse the ``[NAME=]RUN`` specs, score them on ``qrels``,
    and write the report folder ``out``. ``given``: what :func:`build_report` shows
    besides (``data``, ``heads``, ``index``, ``model``, ``title``).

    Returns:
        The path of ``index.html`` and the report's data.

    Raises:
        InputError: a bad spec, a baseline or focus that names no system, or qrels
            with nothing relevant.

    Example:
        >>> page, report = make_report("reports/demo", ["bm25=runs/demo/bm25.test-title.trec",
        ...                                             "runs/demo/hybrid.test-title.trec"],
        ...                            "data/news/qrels/test-title.tsv")
        >>> page, list(report["systems"]), report["queries"]  # a name of its own, or the file's name
        (PosixPath('reports/demo/index.html'), ['bm25', 'hybrid.test-title'], 6)
    """
    from ranker.core.errors import InputError
    from ranker.eval.metrics import read_judged_qrels
    from ranker.eval.report.build import ReportConfig, build_report, parse_systems

    config = config or ReportConfig()
    runs = parse_systems(specs)
    for flag, name in (("--baseline", config.baseline), ("--focus", config.focus)):
        if name is not None and name not in runs:
            raise InputError(f"{flag} '{name}' is not one of the runs", None, ", ".join(runs))
    report = build_report(runs, read_judged_qrels(qrels), config, qrels_name=str(qrels), **given)
    return write_report(out, report), report
