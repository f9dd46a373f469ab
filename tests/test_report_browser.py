"""Open a report in headless Chromium: the page must show a table and a plot.

CI installs Chromium (``.ci/run``) and sets ``RANKER_BROWSER_TEST=required``, so
there a missing browser fails the test; elsewhere it is skipped without one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("RANKER_BROWSER_TEST") == "required":
        pytest.fail("Chromium is required here (RANKER_BROWSER_TEST=required) but not installed: "
                    "apt-get install chromium")
    pytest.skip("no Chromium on this machine (CI installs it)")


def render(page, folder, *extra: str) -> subprocess.CompletedProcess:
    """Run Chromium on ``page`` with a fresh profile; the virtual time budget lets the load event fire."""
    profile = folder / "profile"
    return subprocess.run([chromium(), *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=5000", *extra,
                           page.resolve().as_uri()], capture_output=True, text=True, timeout=90)


@pytest.mark.timeout(180)
def test_the_report_shows_a_table_and_a_plot_in_headless_chromium(runs_and_qrels, tmp_path):
    import matplotlib.image

    from ranker.cli import main

    paths, _, folder = runs_and_qrels
    out = folder / "report"
    assert main(["report", *(f"{n}={p}" for n, p in paths.items()), "--qrels", str(folder / "qrels.tsv"),
                 "--out", str(out)]) == 0
    dom = render(out / "index.html", tmp_path, "--dump-dom")
    rendered = re.search(r'data-rendered="tables=(\d+) plots=(\d+)"', dom.stdout)
    assert rendered, f"the page did not finish loading in Chromium: {dom.stderr[-500:]}"
    tables, plots = map(int, rendered.groups())
    assert tables >= 1 and plots >= 3, f"Chromium shows {tables} tables and {plots} plots"
    shot = tmp_path / "report.png"
    render(out / "index.html", tmp_path, f"--screenshot={shot}", "--window-size=1280,2400")
    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[0] >= 2000 and pixels[..., :3].std() > 0.05  # not a blank page
