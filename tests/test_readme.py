"""The README's commands run: the tour against a world laid out as `make demo`
leaves it (tests/conftest.py: demo_world), and the bring-your-own-corpus example
against small files of the shape it names. No text in the repository points at a
file the repository does not hold."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from conftest import NEWS
from ranker.cli import main

ROOT = Path(__file__).resolve().parents[1]


def section_commands(heading: str) -> list[list[str]]:
    """The `ranker …` lines of the first code block under ``## heading``, comments dropped."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```\n(.*?)```", section, re.S).group(1)
    commands = [shlex.split(line, comments=True) for line in block.splitlines() if line.strip()]
    assert commands and all(c[0] == "ranker" for c in commands), commands
    return [c[1:] for c in commands]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_every_tour_command_runs_on_the_demos_outputs(demo_copy, capsys):
    commands = section_commands("A tour of the CLI")
    assert len(commands) >= 10
    for command in commands:
        code = main(command)
        captured = capsys.readouterr()
        assert code == 0, (command, captured.err)
        assert "Traceback" not in captured.err


def test_bring_your_own_corpus_runs(tmp_path, monkeypatch, capsys):
    import csv

    monkeypatch.chdir(tmp_path)
    with open("my-articles.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["url", "title", "body"])
        writer.writerows([f"http://example.org/{doc}", title, text] for doc, title, text in NEWS)
    Path("my-queries.tsv").write_text("".join(f"q{doc}\t{title}\n" for doc, title, _ in NEWS))
    Path("my-qrels.txt").write_text("".join(f"q{doc} 0 http://example.org/{doc} 1\n" for doc, _, _ in NEWS))
    commands = section_commands("Bring your own corpus")
    # the corpus is indexed BM25-only here (the example's default also encodes with the packaged model)
    commands[0] = [*commands[0], "--retrievers", "bm25"]
    for command in commands:
        code = main([*command, *(["--strategy", "bm25"] if command[0] == "mine" else [])])
        assert code == 0, (command, capsys.readouterr().err)
    assert Path("runs/mine.trec").is_file() and Path("runs/mine-mined/groups.parquet").is_file()


def test_no_text_points_at_a_file_the_repository_lacks():
    """Paths written in backquotes in the documentation and the code's comments that
    look like repository files (docs/…, ranker/…, tests/…, benchmarks/…, pipelines/…,
    data/README.md) must exist; outputs that commands create (runs/, indexes/, …)
    are not repository files and are not checked."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    texts = [p for p in tracked if p.endswith((".md", ".py", ".toml"))]
    pattern = re.compile(r"\b((?:docs|ranker|tests|benchmarks|pipelines)/[\w./-]+\.(?:md|py|json|png|toml)"
                         r"|data/README\.md)")
    missing = set()
    for name in texts:
        for found in pattern.findall((ROOT / name).read_text(encoding="utf-8")):
            if not (ROOT / found).exists():
                missing.add(f"{name}: {found}")
    assert not missing, sorted(missing)
    for banned in ("CONVENTIONS.md", "runs/ft-mix", "runs/embedder-try", "runs/labels/", "runs/passage-fusion"):
        hits = [name for name in texts
                if banned in (ROOT / name).read_text(encoding="utf-8") and name != "tests/test_readme.py"]
        assert not hits, (banned, hits)
