"""The library a user imports: the public API, the README's Python example, one-way
imports, and one order for settings (preset, then TOML, then flags)."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ranker
from ranker.cli import main

ROOT = Path(__file__).resolve().parents[1]


def test_help_shows_the_api_and_import_stays_light():
    code = ("import sys, ranker; "
            "print(sorted(m for m in ('torch', 'faiss', 'transformers', 'bm25s', 'numpy') if m in sys.modules)); "
            "help(ranker)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60,
                          env={"PAGER": "cat", "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    for name in ranker.__all__:
        assert name in done.stdout, name
    assert done.stdout.splitlines()[0] == "[]"


def test_every_exported_name_resolves():
    for name in ranker.__all__:
        assert getattr(ranker, name) is not None
    assert callable(ranker.evaluate_run) and ranker.evaluate_run.__module__ == "ranker.eval.metrics"
    with pytest.raises(AttributeError):
        ranker.no_such_name  # noqa: B018


def readme_python() -> str:
    """The README's Python example: the first ```python block under '## Python'."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Python", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_python_example_runs_and_gives_ranker_search_json_hits(demo_copy, capsys):
    namespace: dict = {}
    exec(compile(readme_python(), "README.md (## Python)", "exec"), namespace)
    shown = capsys.readouterr().out
    hits = namespace["hits"]
    assert hits and shown
    query, k = namespace["query"], namespace["k"]
    assert main(["search", "indexes/news", query, "-k", str(k), "--json"]) == 0
    expected = json.loads(capsys.readouterr().out)["hits"]
    assert [h.to_dict() for h in hits] == expected


def test_searcher_with_a_reranker_equals_ranker_query_json(demo_copy, capsys):
    model = "models/demo/model/model"
    hits = ranker.Searcher("indexes/news", reranker=model).search("oil prices OPEC", k=3)
    assert main(["query", "indexes/news", "oil prices OPEC", "--reranker", model, "-k", "3", "--json"]) == 0
    expected = json.loads(capsys.readouterr().out)["hits"]
    assert [h.to_dict() for h in hits] == expected and all(h.before is not None for h in hits)


def test_reranker_rank_orders_as_sentence_transformers_cross_encoder(demo_world):
    from sentence_transformers import CrossEncoder

    model = demo_world / "models/demo/model/model"
    texts = ["The dam spillway broke.", "Oil prices fell sharply after OPEC.", "A judge blocked the ban."]
    fp32 = ranker.RerankConfig(model=str(model), precision="fp32")  # CrossEncoder computes in fp32
    ours = ranker.Reranker(fp32).rank("oil prices", texts, return_documents=True)
    theirs = CrossEncoder(str(model), device="cpu", max_length=32).rank("oil prices", texts, return_documents=True)
    assert [r["corpus_id"] for r in ours] == [r["corpus_id"] for r in theirs]
    np.testing.assert_allclose([r["score"] for r in ours], [r["score"] for r in theirs], rtol=1e-5, atol=1e-5)
    assert [r["text"] for r in ours] == [texts[r["corpus_id"]] for r in ours]
    assert len(ranker.Reranker(model).rank("oil prices", texts, top_k=1)) == 1


def test_fit_reranker_trains_from_python_data(tmp_path, tiny_bert):
    from conftest import NEWS

    texts = [text for _, _, text in NEWS]
    groups = [(title, text, [t for t in texts if t != text][:2]) for _, title, text in NEWS]
    config = ranker.RerankerTrainConfig(model=str(tiny_bert), max_length=32)
    metrics = ranker.fit_reranker(groups, tmp_path / "ce", config, ranker.TrainConfig(max_steps=2, batch_size=2),
                                  show_progress=False)
    assert metrics["train"]["steps"] == 2
    scores = ranker.Reranker(tmp_path / "ce" / "model").rank("Oil prices", texts)
    assert len(scores) == len(texts) and all(np.isfinite(r["score"]) for r in scores)
    assert main(["verify", str(tmp_path / "ce" / "model")]) == 0


def test_build_index_and_evaluate_from_python(tmp_path, demo_world):
    articles = ranker.read_articles(demo_world / "data/news").records
    ranker.build_index(articles, tmp_path / "idx", show_progress=False)
    searcher = ranker.Searcher(tmp_path / "idx")
    assert searcher.name == "bm25" and searcher.search("Brexit Article 50", k=1)[0].doc_id == "3"
    run = ranker.read_run(demo_world / "runs/demo/bm25.test-title.trec")
    scores = ranker.evaluate_run(run, ranker.read_qrels(demo_world / "data/news/qrels/test-title.tsv"))
    assert 0 < scores["MRR@10"] <= 1


# -- one-way imports ----------------------------------------------------------------


def import_graph(package: Path) -> dict[str, set[str]]:
    """Module -> the package modules it imports, counting every import statement
    (module level, inside functions, under TYPE_CHECKING)."""
    modules = {}
    for path in package.rglob("*.py"):
        parts = path.relative_to(package.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path

    def resolve(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {m: set() for m in modules}
    for name, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
            for target in targets:
                found = resolve(target) if target.split(".")[0] == package.name else None
                # a submodule importing its own package's __init__ (for __version__) is not an edge back
                if found and found != name and not (modules[found].name == "__init__.py"
                                                    and name.startswith(found + ".")):
                    graph[name].add(found)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycle_among_ranker_modules():
    assert cycles(import_graph(ROOT / "ranker")) == []


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_library_never_imports_the_cli_or_the_pipelines():
    graph = import_graph(ROOT / "ranker")
    assert not [m for m, targets in graph.items() if "ranker.cli" in targets and m not in ("ranker.__main__",)]
    for path in (ROOT / "ranker").rglob("*.py"):
        assert "from pipelines" not in path.read_text() and "import pipelines" not in path.read_text(), path


# -- one order for settings: preset, then the TOML file, then the flags ------------------


def test_mining_settings_preset_then_toml_then_flags(demo_copy, capsys):
    Path("t.toml").write_text("[mine]\nnum_negatives = 2\nrange_max = 4\n")
    args = ["mine", "indexes/news", "--queries", "data/news", "--split", "train", "--preset", "quick",
            "--config", "t.toml", "--relative-margin", "-1", "--quiet"]
    assert main([*args, "--out", "m1"]) == 0
    config = json.loads(Path("m1/mining.json").read_text())["config"]
    # quick says 3 negatives and hybrid; the file says 2 (and range 4); nothing on the command line
    assert (config["strategy"], config["num_negatives"], config["range_max"]) == ("hybrid", 2, 4)
    assert main([*args, "--range-max", "5", "--out", "m2"]) == 0
    config = json.loads(Path("m2/mining.json").read_text())["config"]
    assert (config["strategy"], config["num_negatives"], config["range_max"]) == ("hybrid", 2, 5)


def test_training_settings_preset_then_toml_then_flags(demo_copy, tiny_bert, capsys):
    Path("t.toml").write_text("[train]\nlearning_rate = 5e-5\nbatch_size = 4\n\n[reranker]\nmax_length = 32\n")
    args = ["train", "reranker", "--groups", "models/demo/mined", "--index", "indexes/news", "--model", str(tiny_bert),
            "--preset", "quick", "--config", "t.toml", "--max-steps", "1", "--dev", "data/news", "--quiet"]
    assert main([*args, "--out", "t1"]) == 0
    metrics = json.loads(Path("t1/metrics.json").read_text())
    train = metrics["train"]["config"]
    about = json.loads(Path("t1/model/ranker.json").read_text())
    # quick: lr 2e-4, batch 8, 128 tokens, the weight tuned on all dev queries; the file: lr 5e-5, batch 4, 32 tokens
    assert (train["learning_rate"], train["batch_size"], train["epochs"]) == (5e-5, 4, 1)
    assert about["max_length"] == 32 and metrics["weight"]["queries"] == 6  # quick tunes on every dev query
    assert main([*args, "--batch-size", "2", "--out", "t2"]) == 0
    train = json.loads(Path("t2/metrics.json").read_text())["train"]["config"]
    assert (train["learning_rate"], train["batch_size"]) == (5e-5, 2)
