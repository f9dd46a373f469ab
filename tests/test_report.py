"""The evaluation report: its numbers are ``ranker evaluate``'s, its marks follow the paired test,
and its HTML stands alone."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from ranker.cli import main
from ranker.eval.metrics import evaluate
from ranker.eval.report.build import ReportConfig, build_report
from ranker.eval.report.stats import Cell, bootstrap_interval, paired_p, relevant_ranks
from ranker.eval.runs import read_run_meta, write_run
from tests.conftest import QUERIES


def test_the_systems_table_holds_ranker_evaluates_numbers(runs_and_qrels):
    paths, qrels, _ = runs_and_qrels
    report = build_report(paths, qrels, ReportConfig(baseline="bm25"))
    from ranker.eval.runs import read_run

    for system, path in paths.items():
        expected = evaluate(read_run(path), qrels)
        found = {m: cell["mean"] for m, cell in report["systems"][system]["metrics"].items()}
        assert found == pytest.approx(expected, abs=1e-12)
        for cell in report["systems"][system]["metrics"].values():
            assert cell["low"] <= cell["mean"] + 1e-12 and cell["mean"] <= cell["high"] + 1e-12


def test_significance_marks_match_the_known_cases(runs_and_qrels):
    from scipy.stats import ttest_rel

    paths, qrels, _ = runs_and_qrels
    report = build_report(paths, qrels, ReportConfig(baseline="bm25"))
    mark = {s: Cell(**info["metrics"]["MRR@10"]).mark(0.05) for s, info in report["systems"].items()}
    # every query up by the same amount / down / unchanged
    assert (mark["bm25"], mark["same"], mark["better"], mark["worse"]) == ("", "", "▲", "▼")
    # mixed: +0.5 on half the queries, -1/6 on the other half; its p-value is scipy's
    mixed = np.array([1.0, 1 / 3] * (QUERIES // 2))
    expected = ttest_rel(mixed, np.full(QUERIES, 0.5)).pvalue
    assert report["systems"]["mixed"]["metrics"]["MRR@10"]["p"] == pytest.approx(expected)
    assert mark["mixed"] == ("▲" if expected < 0.05 else "")
    assert report["focus"] == "better"  # the best by nDCG@10 other than the baseline


def test_paired_p_and_intervals_on_degenerate_input():
    assert paired_p(np.array([1.0, 0.0]), np.array([1.0, 0.0])) == 1.0
    assert paired_p(np.array([1.0, 1.0]), np.array([0.5, 0.5])) == 0.0
    assert bootstrap_interval(np.array([0.5, 0.5])) == (0.5, 0.5)
    low, high = bootstrap_interval(np.array([0.0, 1.0] * 50))
    assert 0.35 < low < 0.5 < high < 0.65


def test_relevant_ranks_and_failure_examples(runs_and_qrels):
    paths, qrels, _ = runs_and_qrels
    from ranker.eval.runs import read_run

    qids = sorted(qrels)
    assert relevant_ranks(read_run(paths["misses"]), qrels, qids).tolist() == [1] * 16 + [0] * 4
    report = build_report({"bm25": paths["bm25"], "misses": paths["misses"]}, qrels, ReportConfig(examples=3))
    hurt, helped = report["examples"]["hurt"], report["examples"]["helped"]
    assert [row["ranks"]["misses"] for row in hurt] == [0, 0, 0]  # a miss is the worst move
    assert [row["ranks"]["misses"] for row in helped] == [1, 1, 1]
    assert hurt[0]["beaten_by"]["system"] == "misses" and hurt[0]["beaten_by"]["doc_id"].startswith("x")


def test_cli_report_writes_self_contained_html_and_markdown(runs_and_qrels, capsys):
    paths, _, folder = runs_and_qrels
    out = folder / "reports" / "demo"
    heads = folder / "heads"
    for task, metrics in (("tag", {"test": {"accuracy": 0.95, "n": 10}, "seconds": 120}), ("qa", {"best": {}})):
        (heads / task).mkdir(parents=True)
        (heads / task / "metrics.json").write_text(json.dumps(metrics))
    code = main(["report", *(f"{n}={p}" for n, p in paths.items()), "--qrels", str(folder / "qrels.tsv"),
                 "--out", str(out), "--baseline", "bm25", "--heads", str(heads)])
    assert code == 0 and str(out / "index.html") in capsys.readouterr().out
    page = (out / "index.html").read_text()
    assert page.count("data:image/png;base64,") == 3  # recall, ranks, wins and losses
    references = re.findall(r"""(?:src|href)\s*=\s*['"]([^'"]*)['"]""", page)
    assert references and all(r.startswith("data:") for r in references)
    assert "<link" not in page and "@import" not in page and "url(" not in page
    markdown = (out / "report.md").read_text()
    for name in ("recall.png", "ranks.png", "wins.png"):
        assert f"]({name})" in markdown and (out / name).read_bytes()[:4] == b"\x89PNG"
    assert "| better |" in markdown and "▲" in markdown and "▼" in markdown
    assert "retrieve 25.0 ms, rerank 75.0 ms" in page  # 0.5 s and 1.5 s over 20 queries
    data = json.loads((out / "report.json").read_text())
    assert data["baseline"] == "bm25"
    assert data["heads"] == [{"task": "tag", "test": {"accuracy": 0.95}, "n": 10, "seconds": 120}]  # qa: no test yet
    assert "| tag | accuracy 0.95 | 10 | 2.0 min |" in markdown


def test_cli_report_refuses_an_unknown_baseline_in_one_line(runs_and_qrels, capsys):
    paths, _, folder = runs_and_qrels
    code = main(["report", str(paths["bm25"]), "--qrels", str(folder / "qrels.tsv"), "--out", str(folder / "r"),
                 "--baseline", "nope"])
    assert code == 2
    assert capsys.readouterr().err.strip() == "ranker: error: --baseline 'nope' is not one of the runs: bm25"
    assert not (folder / "r").exists()


def test_run_side_files_round_trip(tmp_path):
    write_run(tmp_path / "a.trec", {"q1": {"d1": 1.0}}, tag="a", meta={"seconds": {"retrieve": 0.2}})
    assert read_run_meta(tmp_path / "a.trec") == {"tag": "a", "queries": 1, "seconds": {"retrieve": 0.2}}
    assert read_run_meta(tmp_path / "none.trec") == {}


def test_a_heads_row_for_each_held_out_set_qa_reports(tmp_path):
    from ranker.eval.report.build import _heads

    (tmp_path / "qa").mkdir()
    (tmp_path / "qa" / "metrics.json").write_text(json.dumps({
        "test": {"F1": 99.4, "exact_match": 98.6, "n": 769}, "general_dev": {"F1": 73.5, "n": 350},
        "general_dev_whole_articles": {"F1": 68.7, "n": 350, "by_window_choice": {}}, "seconds": 60}))
    assert _heads(tmp_path) == [
        {"task": "qa", "test": {"F1": 99.4, "exact_match": 98.6}, "n": 769, "seconds": 60},
        {"task": "qa: general questions (dev)", "test": {"F1": 73.5}, "n": 350, "seconds": None},
        {"task": "qa: general questions (dev), whole articles", "test": {"F1": 68.7}, "n": 350, "seconds": None}]


def test_a_system_of_several_runs_is_tested_on_each_querys_mean_over_them(runs_and_qrels):
    from scipy.stats import ttest_rel

    from ranker.eval.metrics import evaluate_per_query
    from ranker.eval.runs import read_run

    paths, qrels, _ = runs_and_qrels
    seeds = [paths["better"], paths["mixed"]]
    report = build_report({"bm25": paths["bm25"], "seeds": seeds}, qrels, ReportConfig(baseline="bm25"))
    row = report["systems"]["seeds"]
    assert row["paths"] == [str(p) for p in seeds] and report["systems"]["bm25"]["paths"] == [str(paths["bm25"])]
    means = [evaluate(read_run(p), qrels)["MRR@10"] for p in seeds]  # 1.0 and 2/3
    assert row["metrics"]["MRR@10"]["mean"] == pytest.approx(sum(means) / 2)
    assert row["runs_range"]["MRR@10"] == pytest.approx([min(means), max(means)])
    per_query = [evaluate_per_query(read_run(p), qrels, ["MRR@10"]) for p in seeds]
    averaged = np.array([(per_query[0][q]["MRR@10"] + per_query[1][q]["MRR@10"]) / 2 for q in sorted(qrels)])
    assert row["metrics"]["MRR@10"]["p"] == pytest.approx(ttest_rel(averaged, np.full(QUERIES, 0.5)).pvalue)
    # the recall curve is the runs' mean too: R@1 is 1.0 for better and 0.5 for mixed
    assert report["recall"]["curves"]["seeds"][0] == pytest.approx(0.75)


def test_cli_report_averages_runs_given_the_same_name_and_says_so(runs_and_qrels, capsys):
    paths, _, folder = runs_and_qrels
    out = folder / "seeds"
    assert main(["report", f"bm25={paths['bm25']}", f"ce={paths['better']}", f"ce={paths['worse']}",
                 "--qrels", str(folder / "qrels.tsv"), "--out", str(out)]) == 0
    markdown = (out / "report.md").read_text()
    assert "ce (mean of 2 runs)" in markdown and "runs 0.333–1.000" in markdown  # MRR@10 of rank 3 and rank 1
    assert "each query's mean over its runs" in markdown and "each query's mean" in (out / "index.html").read_text()
    assert "a system of several runs shows its first" in markdown  # the ranks and examples are one run's
    single = folder / "single"
    assert main(["report", str(paths["bm25"]), str(paths["better"]), "--qrels", str(folder / "qrels.tsv"),
                 "--out", str(single)]) == 0
    assert "mean of" not in (single / "report.md").read_text()


@pytest.mark.parametrize("runs, message", [
    (["{a}", "{b}/bm25.trec"], "the system name 'bm25' is given twice; name runs with NAME=PATH"),
    (["{a}", "bm25={b}/bm25.trec"], "the system name 'bm25' is given twice"),
    (["x={a}", "x={a}"], "this run is given twice for 'x'"),
])
def test_cli_report_refuses_runs_that_cannot_be_meant_as_seeds(runs_and_qrels, capsys, runs, message):
    paths, _, folder = runs_and_qrels
    other = folder / "other"
    other.mkdir()
    (other / "bm25.trec").write_bytes(paths["bm25"].read_bytes())
    args = [r.format(a=paths["bm25"], b=other) for r in runs]
    assert main(["report", *args, "--qrels", str(folder / "qrels.tsv"), "--out", str(folder / "r")]) == 2
    assert message in capsys.readouterr().err
    assert not (folder / "r").exists()
