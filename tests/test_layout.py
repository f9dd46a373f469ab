"""The tree is the architecture: layers that import only downwards, a layout in
docs/design.md that lists every module, and documentation whose dotted names
(``ranker.index.update.update_index``) resolve in the code as it stands.

Imports are read from the source (every ``import`` statement, the lazy ones inside
functions included), not from what a test run happens to load."""

from __future__ import annotations

import ast
import importlib
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = ROOT / "ranker"
#: Libraries that load or run a model: plumbing must start without any of them.
MODEL_LIBRARIES = {"torch", "transformers", "sentence_transformers", "openvino", "faiss", "onnxruntime",
                   "tokenizers", "safetensors", "ray", "accelerate"}


def module_name(path: Path) -> str:
    """``ranker/index/folder.py`` -> ``ranker.index.folder``; a package's ``__init__`` is the package."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path, package: str | None = None) -> set[str]:
    """Every module ``path`` imports, absolute, wherever the statement stands (``package``:
    the one relative imports start from, by default the file's own)."""
    if package is None:
        package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: climb from this module's package
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def library_imports() -> dict[str, set[str]]:
    return {module_name(p): imports_of(p) for p in sorted(LIBRARY.rglob("*.py"))}


def under(name: str, *packages: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in packages)


def test_core_imports_no_model_library_and_nothing_above_it():
    wrong = {
        (module, imported)
        for module, imported_names in library_imports().items() if under(module, "ranker.core")
        for imported in imported_names
        if imported.split(".")[0] in MODEL_LIBRARIES
        or (under(imported, "ranker") and not under(imported, "ranker.core"))
    }
    assert not wrong, sorted(wrong)


def test_retrieval_and_index_import_no_training_heads_service_or_cli():
    wrong = {
        (module, imported)
        for module, imported_names in library_imports().items() if under(module, "ranker.retrieve", "ranker.index")
        for imported in imported_names
        if under(imported, "ranker.train", "ranker.heads", "ranker.serve", "ranker.cli")
    }
    assert not wrong, sorted(wrong)


def test_nothing_in_the_library_imports_the_cli_or_the_jobs():
    wrong = {
        (module, imported)
        for module, imported_names in library_imports().items()
        if not under(module, "ranker.cli", "ranker.__main__")
        for imported in imported_names
        if under(imported, "ranker.cli", "pipelines", "benchmarks", "tests", "conftest")
    }
    assert not wrong, sorted(wrong)


def test_the_layer_check_sees_a_lazy_import(tmp_path):
    """The checks above would pass vacuously if the reader missed imports inside functions."""
    module = tmp_path / "probe.py"
    module.write_text("def f():\n    import torch\n    from ranker.train import loop\n    from ..cli import main\n")
    assert {"torch", "ranker.train", "ranker.train.loop", "ranker.cli.main"} <= imports_of(module, "ranker.index")


# -- docs/design.md's layout is the tree ----------------------------------------------


def layout_paths() -> list[str]:
    """The files and folders docs/design.md's layout block names, as paths from the root.

    The block is an indented tree: a line's first word is a name, a folder ends in
    ``/``, and two more spaces of indent put a name inside the folder above it; a
    line indented further than that continues the description above it.
    """
    text = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    block = re.search(r"## Layout\n.*?```\n(.*?)```", text, re.S).group(1)
    paths, stack = [], []  # stack: (indent, folder path)
    for line in block.splitlines():
        if not line.strip():
            continue
        indent, name = len(line) - len(line.lstrip()), line.split()[0]
        if indent > (stack[-1][0] + 2 if stack else 0):
            continue
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = (stack[-1][1] if stack else "") + name
        paths.append(path)
        if name.endswith("/"):
            stack.append((indent, path))
    return paths


def test_design_layout_lists_every_module_and_nothing_else():
    listed = [p for p in layout_paths() if p.startswith("ranker/")]
    kept = [p for p in LIBRARY.rglob("*") if "__pycache__" not in p.parts]
    on_disk = {str(p.relative_to(ROOT)) + ("/" if p.is_dir() else "") for p in kept}
    on_disk.add("ranker/")
    inits = {p for p in on_disk if p.endswith("__init__.py")}
    assert not set(listed) - on_disk, f"docs/design.md lists what the tree lacks: {sorted(set(listed) - on_disk)}"
    required = {p for p in on_disk if p.endswith((".py", "/"))}  # data files may go unnamed
    missing = required - inits - set(listed)
    assert not missing, f"add these to docs/design.md's layout: {sorted(missing)}"
    assert len(listed) == len(set(listed)), "docs/design.md lists a path twice"


def test_design_layout_names_the_top_level_folders_that_exist():
    for path in layout_paths():
        if "/" not in path.rstrip("/"):
            assert (ROOT / path).exists(), f"docs/design.md's layout names {path}, which the repository lacks"


def test_every_package_has_an_init():
    """A folder without ``__init__.py`` is a namespace package: installed by accident, not by intent."""
    folders = {p.parent for p in LIBRARY.rglob("*.py")}
    assert not [f for f in folders if not (f / "__init__.py").exists()], sorted(
        str(f.relative_to(ROOT)) for f in folders if not (f / "__init__.py").exists())


# -- every dotted name the docs cite resolves ------------------------------------------

#: ``ranker.json`` and friends are file names, not modules.
FILE_SUFFIXES = {"json", "md", "py", "toml", "trec", "tsv", "jsonl", "parquet", "html", "png"}


def resolves(dotted: str) -> bool:
    """``dotted`` is a module, or a name reachable from one by attributes."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for attribute in parts[cut:]:
                target = getattr(target, attribute)
        except AttributeError:
            return False
        return True
    return False


def cited_names() -> dict[str, set[str]]:
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    texts = [name for name in tracked if name.endswith(".md")] + ["ranker/__init__.py", "ranker/heads/__init__.py"]
    pattern = re.compile(r"(?<![\w/.-])ranker(?:\.[A-Za-z_]\w*)+")
    cited: dict[str, set[str]] = {}
    for name in texts:
        for dotted in pattern.findall((ROOT / name).read_text(encoding="utf-8")):
            if dotted.rsplit(".", 1)[-1] not in FILE_SUFFIXES:
                cited.setdefault(dotted, set()).add(name)
    return cited


def test_every_dotted_name_in_the_docs_and_registries_resolves():
    cited = cited_names()
    assert "ranker.index.update.update_index" in cited  # the pattern finds what it is meant to
    broken = {dotted: sorted(where) for dotted, where in cited.items() if not resolves(dotted)}
    assert not broken, broken


def test_every_path_the_layout_cites_resolves_as_a_module():
    for path in layout_paths():
        if path.startswith("ranker/") and path.endswith(".py") and not path.endswith("__main__.py"):  # it runs main()
            assert resolves(module_name(ROOT / path)), path


@pytest.mark.parametrize("dotted, expected", [("ranker.index.folder.Index", True), ("ranker.index.nowhere", False),
                                              ("ranker.index.folder.Nothing", False)])
def test_the_name_check_can_fail(dotted, expected):
    assert resolves(dotted) is expected


def test_the_lazy_api_and_the_task_registry_name_what_exists():
    import ranker
    from ranker.heads import TASKS

    assert all(getattr(ranker, name) is not None for name in ranker.__all__)
    for spec in TASKS.values():
        module = importlib.import_module(spec.module)
        for attribute in (spec.config_name, spec.train_name, spec.task_name):
            assert hasattr(module, attribute), (spec.module, attribute)
