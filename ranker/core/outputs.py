"""Where a command may write: the checks that keep a user's files safe.

Every command that writes asks :func:`check_output` first, before any work. A
path is refused when writing there could destroy what the command did not make:
the current folder or one of its parents, one of the command's own inputs (or a
folder holding one, or a path inside one), a path of the wrong type (a file where
a folder is written, or the reverse), or an existing file or folder that is not an
artifact of the same kind. Artifacts are recognised by what they hold (an index by
its ``manifest.json``, a report by its ``report.json``, a run file by its TREC
lines), as coreutils' ``mv -n`` and Lucene's write-once segments would have it:
replacing an output is allowed only over an output of the same kind.

(Written here because no library we use decides whether a path is safe to replace.)
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from ranker.core.errors import InputError
from ranker.core.files import TEMPORARY

#: The files that make a folder an artifact with a file list (ranker.core.integrity);
#: nothing is written inside such a folder but by its own writer.
_LIST_FILES = ("manifest.json", "ranker.json", "mining.json", "state.json", "generated.json")
#: The longest temporary suffix our writers add to a name (".NAME.tmp-PID-8hex-old").
_SCRATCH = len(".") + len(".tmp-4194304-12345678-old")


@dataclass(frozen=True)
class Artifact:
    """A kind of output: its name (with its article), whether it is a folder, and how to recognise one.

    ``recognise(path)`` is asked only of a path that exists and has the right type;
    an empty folder or an empty file is always fair game (nothing would be lost).

    Example:
        >>> RUN.name, RUN.folder
        ('a TREC run file', False)
    """

    name: str
    folder: bool
    recognise: Callable[[Path], bool]


def _names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if not TEMPORARY.fullmatch(p.name)}


def _listed_only(folder: Path, list_file: str, also: frozenset[str] = frozenset()) -> bool:
    """Whether ``folder`` holds its list file and nothing its list (or ``also``) does not name."""
    about = _json_object(folder / list_file)
    if about is None or not isinstance(about.get("files"), dict):
        return False
    listed = {name.split("/", 1)[0] for name in about["files"]} | {list_file} | also
    return _names(folder) <= listed


def _json_object(path: Path) -> dict | None:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _is_index(folder: Path) -> bool:
    manifest = _json_object(folder / "manifest.json")
    # the articles added since the build live in segments/, a store with its own lists (ranker.index.segmented)
    store = _json_object(folder / "segments" / "store.json")
    segments = frozenset({"segments"} if store is not None and store.get("format") == "ranker-segments" else ())
    return (manifest is not None and manifest.get("format") == "ranker-index"
            and _listed_only(folder, "manifest.json", segments))


def _is_report(folder: Path) -> bool:
    names = _names(folder)
    return "report.json" in names and all(n in ("index.html", "report.md", "report.json") or n.endswith(".png")
                                          for n in names)


def _is_mined(folder: Path) -> bool:
    names = _names(folder)
    return "mining.json" in names and names <= {"groups.parquet", "pairs.parquet", "mining.json"}


def _is_generated(folder: Path) -> bool:
    names = _names(folder)
    return "generated.json" in names and names <= {"queries.jsonl", "qrels", "generated.json"}


def _is_training(folder: Path) -> bool:
    """model/ (a trained model, its files listed), checkpoint/ (listed likewise),
    metrics.json (what training wrote), or cross-validation folds of those."""
    names = _names(folder)
    if not names:
        return False
    for name in names:
        path = folder / name
        if name == "model":
            ok = path.is_dir() and _listed_only(path, "ranker.json")
        elif name == "checkpoint":
            ok = path.is_dir() and _listed_only(path, "state.json")
        elif name == "metrics.json":
            about = _json_object(path)
            ok = about is not None and bool({"best", "history", "train"} & set(about))
        elif re.fullmatch(r"fold-\d+", name):
            ok = path.is_dir() and _is_training(path)
        else:
            ok = False
        if not ok:
            return False
    return True


def _is_news(folder: Path) -> bool:
    try:
        heading = (folder / "README.md").read_text(encoding="utf-8").split("\n", 1)[0]
    except (OSError, UnicodeDecodeError):
        return False
    return heading.startswith("# News benchmark") and _names(folder) <= {"corpus.jsonl", "queries.jsonl", "qrels",
                                                                           "README.md"}


def _is_shards(folder: Path) -> bool:
    names = _names(folder)
    return "ABOUT" in names and all(n == "ABOUT" or re.fullmatch(r"shard-\d+\.npy", n) for n in names)


def _first_lines(path: Path, count: int = 5) -> list[str] | None:
    try:
        with open(path, encoding="utf-8") as handle:
            # up to ``count`` lines: the file may well be longer, or shorter
            return [line for _, line in zip(range(count), handle, strict=False) if line.strip()]
    except (OSError, UnicodeDecodeError):
        return None


def _is_run(path: Path) -> bool:
    lines = _first_lines(path)
    return bool(lines) and all(len(p := line.split()) == 6 and p[1] == "Q0" for line in lines)


def _is_rejects(path: Path) -> bool:
    lines = _first_lines(path)
    if not lines:
        return False
    try:
        return all({"path", "where", "problem", "row"} <= set(json.loads(line)) for line in lines)
    except (ValueError, TypeError, RecursionError):
        return False


def _is_run_meta(path: Path) -> bool:
    about = _json_object(path)
    return about is not None and {"tag", "queries"} <= set(about)


def folder_of(name: str, pattern: str) -> Artifact:
    """A folder artifact whose every entry's name matches ``pattern`` (a regex):
    the output folders of the pipelines, which hold what their stages write.

    Example:
        >>> folder_of("a demo runs folder", r".+\\.trec(\\.meta\\.json)?").name
        'a demo runs folder'
    """
    return Artifact(name, True, lambda folder: all(re.fullmatch(pattern, n) for n in _names(folder)))


INDEX = Artifact("a ranker index", True, _is_index)
REPORT = Artifact("a ranker report", True, _is_report)
MINED = Artifact("a folder of mined tables", True, _is_mined)
GENERATED = Artifact("a folder of generated training queries", True, _is_generated)
TRAINING = Artifact("a ranker training folder", True, _is_training)
NEWS = Artifact("a news benchmark folder", True, _is_news)
SHARDS = Artifact("a folder of embedding shards", True, _is_shards)
RUN = Artifact("a TREC run file", False, _is_run)
RUN_META = Artifact("a run side file (.meta.json)", False, _is_run_meta)
REJECTS = Artifact("a rejects file", False, _is_rejects)
#: a picture a pipeline takes (the search page's): recognised by PNG's signature
PNG = Artifact("a PNG image", False, lambda path: path.open("rb").read(8) == b"\x89PNG\r\n\x1a\n")


def _problem(target: Path, artifact: Artifact, inputs: Iterable[tuple[str, str | Path]]) -> str | None:
    cwd = Path.cwd().resolve()
    if target == cwd:
        return "is the current folder: writing there would replace your files; choose a new folder"
    if target in cwd.parents:
        return "is a parent of the current folder: writing there would replace your files; choose a new folder"
    if len(os.fsencode(target.name)) + _SCRATCH > 255:
        return "has a name too long for its temporary sibling: choose a shorter name"
    for _flag, given in inputs:
        source = _resolved(Path(given))
        if target == source:
            return "is an input of this command: choose another output"
        if target in source.parents:
            return f"holds an input of this command ({given}): choose another output"
        if source in target.parents:
            return f"lies inside an input of this command ({given}): choose another output"
    for ancestor in target.parents:
        held = next((name for name in _LIST_FILES if (ancestor / name).is_file()), None)
        if held:
            return (f"lies inside {ancestor}, which its {held} describes (a ranker artifact): writing there "
                    "would break it; choose a path outside it")
    if target.exists():
        if not (target.is_dir() or target.is_file()):
            return "is not a regular file or folder (a device, a pipe or a socket): choose a new path"
        if artifact.folder and not target.is_dir():
            return f"is a file; a folder is written here ({artifact.name}): choose a new path"
        if not artifact.folder and target.is_dir():
            return f"is a folder; a file is written here ({artifact.name}): choose a new path"
        empty = not _names(target) if artifact.folder else target.stat().st_size == 0
        if not empty and not artifact.recognise(target):
            return (f"already exists and is not {artifact.name}, so it is not replaced: "
                    f"choose a new {'or empty folder' if artifact.folder else 'path'}")
        if not os.access(target, os.W_OK):
            return "cannot be replaced: it is read-only"
        return None
    ancestor = target.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        return f"cannot be created: {ancestor} is a file, not a folder"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"cannot be created: {ancestor} is read-only or not writable by you"
    return None


def check_output(out: str | Path, artifact: Artifact, inputs: Iterable[tuple[str, str | Path | None]] = ()) -> Path:
    """Refuse an output path that writing ``artifact`` could destroy; return the path to write.

    A symlink is followed: its target must pass the same checks, and the target is
    what the caller writes (so the link stays a link). Other paths come back as given.

    Args:
        out: the output path the user gave.
        artifact: what will be written there.
        inputs: (flag, path) of every input the command reads; None paths are skipped.

    Raises:
        InputError: naming ``out`` as given and what to do instead.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "notes.txt").write_text("mine")
        >>> check_output(d / "new-index", INDEX) == d / "new-index"
        True
        >>> check_output(d, INDEX)  # doctest: +NORMALIZE_WHITESPACE
        Traceback (most recent call last):
        ...
        ranker.core.errors.InputError: ...: already exists and is not a ranker index, so it is not replaced:
            choose a new or empty folder
    """
    given = Path(out)
    if str(given) == "":
        raise InputError("command line", "--out", "an empty output path")
    try:
        target = _resolved(given)
        problem = _problem(target, artifact, [(flag, path) for flag, path in inputs if path is not None])
    except _Loop as loop:
        raise InputError(given, None, f"cannot be resolved: {loop} (a symlink loop?)") from None
    if problem:
        raise InputError(given, None, problem)
    # a link, or a path through '..', is written at the place it stands for
    return target if given.is_symlink() or ".." in given.parts else given


class _Loop(Exception):
    pass


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (RuntimeError, OSError) as err:  # Python 3.11 raises RuntimeError for a symlink loop
        raise _Loop(str(err)) from None


def sibling(out: Path, suffix: str) -> Path:
    """The side file ``OUT<suffix>`` beside an output (rejects, run metadata).

    Example:
        >>> sibling(Path("runs/bm25.trec"), ".meta.json")
        PosixPath('runs/bm25.trec.meta.json')
    """
    return out.with_name(out.name + suffix)
