"""Turn a report's data (:func:`ranker.eval.report.build.build_report`) into HTML and Markdown.

The HTML is one self-contained file: styles inline, figures as base64 PNG data
URIs, no script or font from anywhere else, so it opens from disk or an email
attachment. A few lines of inline script record, once the page has loaded, how
many tables have rows and how many figures decoded (``<body data-rendered=…>``),
which the browser test reads back.
"""

from __future__ import annotations

import base64
import html
import json
from typing import Any

from ranker.eval.report.plots import rank_shift_plot, recall_plot, wins_losses_plot
from ranker.eval.report.stats import Cell

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: .2em; } h2 { margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 1em 0; font-variant-numeric: tabular-nums; }
th, td { padding: .3em .6em; border-bottom: 1px solid #eee; text-align: right; vertical-align: top; }
th:first-child, td:first-child, .text { text-align: left; }
tr.baseline td { background: #f6f6f6; } tr.focus td { background: #eef7f5; }
.ci { color: #888; font-size: .85em; } .up { color: #1a7f5a; } .down { color: #c0392b; }
.meta { color: #666; } figure { margin: 1em 0; } img { max-width: 100%; }
pre { background: #f7f7f7; padding: .8em; overflow-x: auto; font-size: 12px; }
"""

SCRIPT = """
window.addEventListener("load", function () {
  var tables = Array.from(document.querySelectorAll("table")).filter(function (t) { return t.rows.length > 1; }).length;
  var plots = Array.from(document.images).filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
  document.body.setAttribute("data-rendered", "tables=" + tables + " plots=" + plots);
});
"""


def _has_averaged(report: dict[str, Any]) -> bool:
    """Whether any system of the report is the mean of several runs."""
    return any(len(info["paths"]) > 1 for info in report["systems"].values())


def _averaged(report: dict[str, Any]) -> str:
    """What the systems table's note adds when a system averages several runs; '' otherwise."""
    if not _has_averaged(report):
        return ""
    return (" A system of several runs (seeds) is scored by each query's mean over its runs and tested that way;"
            " 'runs a–b' is the range of the runs' own means.")


def figures(report: dict[str, Any]) -> dict[str, tuple[str, bytes]]:
    """file name -> (caption, PNG bytes) for every figure the report has data for."""
    import numpy as np

    baseline, focus = report["baseline"], report["focus"]
    out = {"recall.png": ("Recall@k for every system",
                          recall_plot(report["recall"]["depths"], report["recall"]["curves"]))}
    ranks = {s: np.array(report["ranks"][s]) for s in dict.fromkeys([baseline, focus])}
    out["ranks.png"] = (f"Rank of the relevant article: {baseline} against {focus}{_first_runs(report)}",
                        rank_shift_plot(ranks))
    if focus != baseline:
        differences = np.array(report["per_query_focus"]["differences"])
        out["wins.png"] = (f"Per-query {report['per_query_focus']['metric']}: {focus} minus {baseline}",
                           wins_losses_plot(differences, report["per_query_focus"]["metric"], focus, baseline))
    return out


def _cell(cell: dict[str, Any], alpha: float) -> tuple[str, str]:
    """(plain text, mark) of one metric cell (a :class:`~ranker.eval.report.stats.Cell` as JSON)."""
    return f"{cell['mean']:.3f}", Cell(**cell).mark(alpha)


def _first_runs(report: dict[str, Any]) -> str:
    """Said beside ranks and examples, which show one run of each system."""
    return "; a system of several runs shows its first" if _has_averaged(report) else ""


def _name(system: str, info: dict[str, Any]) -> str:
    """A system's name, with how many runs it averages when more than one."""
    runs = len(info["paths"])
    return system if runs == 1 else f"{system} (mean of {runs} runs)"


def _runs_range(info: dict[str, Any], metric: str) -> str:
    """'runs 0.842–0.851': the range of a several-run system's own means, else ''."""
    if len(info["paths"]) == 1:
        return ""
    low, high = info["runs_range"][metric]
    return f"runs {low:.3f}–{high:.3f}"


def _head_rows(report: dict[str, Any]) -> list[list[str]]:
    """One row per head: task, test figures, n, wall time."""
    return [[row["task"], ", ".join(f"{k} {v:.4g}" for k, v in row["test"].items()), str(row["n"] or "—"),
             f"{row['seconds'] / 60:.1f} min" if row["seconds"] else "—"] for row in report["heads"]]


def _cost_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for system, info in report["systems"].items():
        meta = info["meta"]
        seconds = meta.get("seconds") or {}
        queries = meta.get("queries") or 0
        if not seconds or not queries:
            rows.append([system, "—", "—", "—", "no timing (a run without a .meta.json side file)"])
            continue
        stages = ", ".join(f"{stage} {1000 * s / queries:.1f} ms" for stage, s in seconds.items())
        total = sum(seconds.values())
        rows.append([system, str(queries), f"{total:.1f} s", f"{1000 * total / queries:.1f} ms", stages])
    return rows


def _manifest_summary(report: dict[str, Any]) -> dict[str, Any]:
    index, model = report["index_manifest"], report["model_card"]
    out = {}
    if index:
        out["index"] = {k: index[k] for k in ("doc_count", "source", "created", "build_seconds") if k in index}
        out["index"]["components"] = {name: {k: v for k, v in part.items() if not isinstance(v, (list, dict))}
                                      for name, part in index.get("components", {}).items()}
    if model:
        out["model"] = {k: v for k, v in model.items() if k not in ("dev",)}
    return out


def render_html(report: dict[str, Any], images: dict[str, tuple[str, bytes]]) -> str:
    """The report as one self-contained HTML page.

    Example:
        >>> from ranker.eval.metrics import read_judged_qrels
        >>> from ranker.eval.report.build import build_report
        >>> runs = {"bm25": "runs/demo/bm25.test-title.trec", "hybrid": "runs/demo/hybrid.test-title.trec"}
        >>> report = build_report(runs, read_judged_qrels("data/news/qrels/test-title.tsv"))
        >>> page = render_html(report, figures(report))
        >>> page.startswith("<!doctype html>"), page.count("src='data:image/png;base64,")  # the figures inline
        (True, 3)
    """
    e = html.escape
    baseline, focus = report["baseline"], report["focus"]
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{e(report['title'])}</title>",
             f"<style>{STYLE}</style></head><body>",
             f"<h1>{e(report['title'])}</h1>",
             f"<p class='meta'>{report['queries']} judged queries ({e(report['qrels'])}); baseline "
             f"<b>{e(baseline)}</b>; examined system <b>{e(focus)}</b>. Means with "
             f"{int(report['config']['confidence'] * 100)}% bootstrap intervals; ▲/▼: better/worse than the "
             f"baseline by a two-sided paired t-test at p &lt; {report['config']['alpha']}.{_averaged(report)}</p>",
             *_html_systems(report)]

    parts.append("<h2>Plots</h2>")
    for caption, png in images.values():
        data = base64.b64encode(png).decode("ascii")
        parts.append(f"<figure><img alt='{e(caption)}' src='data:image/png;base64,{data}'>"
                     f"<figcaption>{e(caption)}</figcaption></figure>")

    parts += _html_examples(report)

    parts.append("<h2>Cost</h2><table><tr><th>system</th><th>queries</th><th>total</th><th>per query</th>"
                 "<th class='text'>per stage, per query</th></tr>")
    for row in _cost_rows(report):
        parts.append("<tr>" + "".join(f"<td{' class=text' if i in (0, 4) else ''}>{e(c)}</td>"
                                      for i, c in enumerate(row)) + "</tr>")
    parts.append("</table>")

    if report["heads"]:
        parts.append("<h2>The other heads</h2><table><tr><th>task</th><th class='text'>test figures</th><th>n</th>"
                     "<th>time</th></tr>")
        for task, figures_text, n, took in _head_rows(report):
            parts.append(f"<tr><td>{e(task)}</td><td class='text'>{e(figures_text)}</td><td>{n}</td>"
                         f"<td>{took}</td></tr>")
        parts.append("</table>")

    summary = _manifest_summary(report)
    if summary:
        parts.append(f"<h2>What produced these numbers</h2><pre>{e(json.dumps(summary, indent=2))}</pre>")
    parts.append("<h2>Runs</h2><ul>" + "".join(f"<li>{e(s)}: " + ", ".join(f"<code>{e(p)}</code>" for p in i["paths"])
                                               + "</li>" for s, i in report["systems"].items()) + "</ul>")
    parts.append(f"<script>{SCRIPT}</script></body></html>\n")
    return "\n".join(parts)


def _html_systems(report: dict[str, Any]) -> list[str]:
    """The systems table: each metric's mean, its interval, and its mark against the baseline."""
    e = html.escape
    alpha = report["config"]["alpha"]
    metrics = report["config"]["metrics"]
    baseline, focus = report["baseline"], report["focus"]
    parts = ["<h2>Systems</h2><table><tr><th>system</th>" + "".join(f"<th>{e(m)}</th>" for m in metrics) + "</tr>"]
    for system, info in report["systems"].items():
        kind = " class='baseline'" if system == baseline else " class='focus'" if system == focus else ""
        cells = []
        for m in metrics:
            cell = info["metrics"][m]
            text, mark = _cell(cell, alpha)
            style = "up" if mark == "▲" else "down" if mark == "▼" else ""
            p = "" if cell["p"] is None else f" title='p = {cell['p']:.3g}'"
            spread = _runs_range(info, m)
            cells.append(f"<td{p}>{text}<span class='{style}'>{mark}</span><br>"
                         f"<span class='ci'>{cell['low']:.3f}–{cell['high']:.3f}</span>"
                         + (f"<br><span class='ci'>{spread}</span>" if spread else "") + "</td>")
        parts.append(f"<tr{kind}><td>{e(_name(system, info))}</td>{''.join(cells)}</tr>")
    parts.append("</table>")
    return parts


def _html_examples(report: dict[str, Any]) -> list[str]:
    """Where it goes wrong: the queries the examined system hurt and helped most, and what it ranked first."""
    e = html.escape
    parts = [f"<h2>Where it goes wrong</h2><p>The queries on which <b>{e(report['focus'])}</b> moved the relevant "
             f"article furthest against <b>{e(report['baseline'])}</b> (rank 0: not "
             f"retrieved{_first_runs(report)}).</p>"]
    systems = list(report["systems"])
    for kind in ("hurt", "helped"):
        rows = report["examples"].get(kind, [])
        parts.append(f"<h3>{'Hurt most' if kind == 'hurt' else 'Helped most'}</h3>")
        if not rows:
            parts.append("<p class='meta'>none</p>")
            continue
        parts.append("<table><tr><th>query</th><th class='text'>relevant article</th>"
                     + "".join(f"<th>{e(s)}</th>" for s in systems) + "<th class='text'>ranked first instead</th></tr>")
        for row in rows:
            beaten = row["beaten_by"]
            parts.append(f"<tr><td class='text'>{e(row['query'] or row['qid'])}</td>"
                         f"<td class='text'>{e(row['relevant_title'] or row['relevant'])}</td>"
                         + "".join(f"<td>{row['ranks'][s]}</td>" for s in systems)
                         + f"<td class='text'>{e(beaten['title'] or beaten['doc_id'])} "
                         f"<span class='meta'>({e(beaten['system'])})</span></td></tr>")
        parts.append("</table>")
    return parts


def _md_table(headers: list[str], rows: list[list[str]]) -> str:
    def clean(text: str) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(clean(h) for h in headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(clean(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_markdown(report: dict[str, Any], images: dict[str, tuple[str, bytes]]) -> str:
    """The report as Markdown; figures are referenced as the PNG files written beside it.

    Example:
        >>> from ranker.eval.metrics import read_judged_qrels
        >>> from ranker.eval.report.build import build_report
        >>> runs = {"bm25": "runs/demo/bm25.test-title.trec", "hybrid": "runs/demo/hybrid.test-title.trec"}
        >>> report = build_report(runs, read_judged_qrels("data/news/qrels/test-title.tsv"))
        >>> text = render_markdown(report, figures(report))
        >>> text.splitlines()[0]
        '# Evaluation report'
        >>> [line for line in text.splitlines() if line.startswith("![")][0]  # the PNG write_report puts beside it
        '![Recall@k for every system](recall.png)'
    """
    alpha = report["config"]["alpha"]
    metrics = report["config"]["metrics"]
    baseline, focus = report["baseline"], report["focus"]
    out = [f"# {report['title']}", "",
           f"{report['queries']} judged queries ({report['qrels']}); baseline **{baseline}**; examined system "
           f"**{focus}**. Means with {int(report['config']['confidence'] * 100)}% bootstrap intervals; ▲/▼: "
           f"better/worse than the baseline by a two-sided paired t-test at p < {alpha}.{_averaged(report)}", "",
           "## Systems", ""]
    rows = []
    for system, info in report["systems"].items():
        cells = []
        for m in metrics:
            cell = info["metrics"][m]
            text, mark = _cell(cell, alpha)
            spread = _runs_range(info, m)
            cells.append(f"{text}{mark} ({cell['low']:.3f}–{cell['high']:.3f}{'; ' + spread if spread else ''})")
        name = _name(system, info)
        rows.append([f"**{name}**" if system == focus else name, *cells])
    out += [_md_table(["system", *metrics], rows), "", "## Plots", ""]
    out += [f"![{caption}]({name})\n" for name, (caption, _) in images.items()]
    out += ["## Where it goes wrong", "", f"Queries on which {focus} moved the relevant article furthest against "
            f"{baseline} (rank 0: not retrieved{_first_runs(report)}).", ""]
    systems = list(report["systems"])
    for kind in ("hurt", "helped"):
        out += [f"### {'Hurt most' if kind == 'hurt' else 'Helped most'}", ""]
        rows = [[r["query"] or r["qid"], r["relevant_title"] or r["relevant"], *(str(r["ranks"][s]) for s in systems),
                 f"{r['beaten_by']['title'] or r['beaten_by']['doc_id']} ({r['beaten_by']['system']})"]
                for r in report["examples"].get(kind, [])]
        out += [_md_table(["query", "relevant article", *systems, "ranked first instead"], rows) if rows else "none",
                ""]
    out += ["## Cost", "", _md_table(["system", "queries", "total", "per query", "per stage, per query"],
                                     _cost_rows(report)), ""]
    if report["heads"]:
        out += ["## The other heads", "", _md_table(["task", "test figures", "n", "time"], _head_rows(report)), ""]
    summary = _manifest_summary(report)
    if summary:
        out += ["## What produced these numbers", "", "```json", json.dumps(summary, indent=2), "```", ""]
    out += ["## Runs", ""] + [f"- {s}: " + ", ".join(f"`{p}`" for p in i["paths"])
                              for s, i in report["systems"].items()] + [""]
    return "\n".join(out)
