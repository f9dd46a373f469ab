"""``ranker evaluate`` and ``ranker report``: runs scored against qrels, one system or many."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ranker.cli.common import guard, say
from ranker.core.flags import count, number


def add_commands(commands) -> None:
    """Add ``evaluate`` and ``report``."""
    evaluate = commands.add_parser("evaluate", help="score a TREC run against qrels (nDCG@10, MRR@10, R@k, MAP)")
    evaluate.add_argument("run", type=Path, help="a TREC run file")
    evaluate.add_argument("qrels", type=Path, help="a TREC or BEIR qrels file")
    evaluate.add_argument("--json", action="store_true", help="print JSON")
    evaluate.add_argument("--per-query", action="store_true", help="also print every query's metrics")
    evaluate.set_defaults(handler=evaluate_command)

    report = commands.add_parser(
        "report",
        help="an evaluation report (self-contained HTML + Markdown): systems table with intervals and tests, plots, "
             "failures",
        description="Compare TREC runs (ours or anyone's) on one set of qrels and write OUT/index.html "
        "(self-contained:\nfigures embedded, opens from disk), OUT/report.md with the figures beside it, and "
        "OUT/report.json.\n"
        "Each system's nDCG@10, MRR@10, R@1, R@10, R@100 and MAP (ir_measures, as 'ranker evaluate') with a 95%\n"
        "bootstrap interval and a paired t-test against the baseline; recall@k curves, where the relevant article\n"
        "lands before and after, per-query wins and losses, the queries helped and hurt most, time per stage.\n"
        "Runs given the same NAME= (one recipe's seeds) make one system: each query's mean over them is what is\n"
        "tested, and the table adds the range of the runs' own means.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument("runs", nargs="+", metavar="[NAME=]RUN",
                        help="TREC run files; NAME defaults to the file name without .trec. The same NAME= on "
                             "several runs (one recipe's seeds) makes one system, scored by each query's mean over "
                             "them")
    report.add_argument("--qrels", type=Path, required=True, help="a TREC or BEIR qrels file")
    report.add_argument("--out", type=Path, required=True, help="the report folder (e.g. reports/demo); replaced whole")
    report.add_argument("--baseline", help="the system the others are tested against (default: the first run)")
    report.add_argument("--focus",
                        help="the system whose wins and losses are examined (default: the best other by nDCG@10)")
    report.add_argument("--data", type=Path,
                        help="a BEIR folder: query texts and article titles for the failure tables")
    report.add_argument("--heads", type=Path, help="a folder of <task>/metrics.json (python -m pipelines.heads --out)")
    report.add_argument("--index", type=Path, help="an index folder: its manifest goes in the report")
    report.add_argument("--model", type=Path, help="a trained model folder: its ranker.json goes in the report")
    report.add_argument("--title", default="Evaluation report", help="the report's heading")
    report.add_argument("--alpha", type=number(0, 1, open_low=True, open_high=True), default=0.05,
                        help="significance level of the paired test (default 0.05)")
    report.add_argument("--examples", type=count(0), default=5,
                        help="queries shown as helped most and hurt most (default 5)")
    report.add_argument("--json", action="store_true", help="print the report's data as JSON")
    report.set_defaults(handler=report_command)


def evaluate_command(args: argparse.Namespace) -> int:
    """``ranker evaluate``: :func:`ranker.eval.metrics.evaluate` (and per query)."""
    from ranker.core.display import format_table
    from ranker.eval.metrics import evaluate, evaluate_per_query, judged, read_judged_qrels
    from ranker.eval.runs import read_run

    run, qrels = read_run(args.run), read_judged_qrels(args.qrels)
    scores = evaluate(run, qrels)
    per_query = evaluate_per_query(run, qrels) if args.per_query else None
    if args.json:
        out = {"run": str(args.run), "qrels": str(args.qrels), "queries": len(judged(qrels)), "metrics": scores}
        if per_query is not None:
            out["per_query"] = per_query
        print(json.dumps(out, indent=2))
        return 0
    if per_query is not None:
        names = list(scores)
        print(format_table(["qid", *names], [[qid, *(f"{v[n]:.4f}" for n in names)] for qid, v in per_query.items()]))
        print()
    print(format_table(["run", *scores], [[args.run.name, *(f"{v:.4f}" for v in scores.values())]]))
    return 0


def report_command(args: argparse.Namespace) -> int:
    """``ranker report``: :func:`ranker.eval.report.make_report`."""
    from ranker.core.outputs import REPORT
    from ranker.eval.report import make_report
    from ranker.eval.report.build import ReportConfig

    out = guard(args, REPORT)
    config = ReportConfig(baseline=args.baseline, focus=args.focus, alpha=args.alpha, examples=args.examples)
    page, report = make_report(out, args.runs, args.qrels, config, data=args.data, heads=args.heads, index=args.index,
                               model=args.model, title=args.title)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        say(f"report written: {page}")
    return 0
