"""File lists with sha256s, checked when an artifact is loaded and by ``ranker verify``.

An index folder's ``manifest.json``, a trained model's ``ranker.json`` and mined
tables' ``mining.json`` list the sha256 of every other file in the folder. Loading compares them, so a file
changed, truncated or swapped after it was written is a clear error naming it,
never wrong answers. (Written here because no library we use checks a folder
against a file list.)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ranker.core.errors import InputError
from ranker.core.files import read_json, sha256_file, stale_siblings

#: The file in each kind of folder that holds the list (and so is not in it).
LISTS = {"index": "manifest.json", "model": "ranker.json", "mined tables": "mining.json"}


def file_hashes(folder: str | Path, leave_out: str) -> dict[str, str]:
    """The sha256 of every file under ``folder`` but ``leave_out``, by relative path.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "a.txt").write_text("abc")
        >>> file_hashes(d, "manifest.json")["a.txt"][:12]
        'ba7816bf8f01'
    """
    folder = Path(folder)
    return {name: sha256_file(folder / name) for name in _listing(folder, leave_out)}


def _listing(folder: Path, leave_out: str) -> list[str]:
    """Every file under ``folder`` but ``leave_out``, by relative path, sorted."""
    return [p.relative_to(folder).as_posix() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.relative_to(folder).as_posix() != leave_out]


def problems(folder: str | Path, listed: dict[str, str], extra: bool = False, apart: str | None = None) -> list[str]:
    """What is wrong with ``folder`` against its file list: one line per missing or
    changed file, and (``extra=True``) per file the list does not name, but for
    those under the top-level folder ``apart`` (checked with a list of its own).

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "a.txt").write_text("abc")
        >>> problems(d, {"a.txt": "0" * 64, "b.txt": "0" * 64})
        ['a.txt: sha256 differs from the list (changed or truncated)', 'b.txt: missing']
    """
    folder = Path(folder)
    found = []
    for name, digest in sorted(listed.items()):
        path = folder / name
        if not path.is_file():
            found.append(f"{name}: missing")
        elif sha256_file(path) != digest:
            found.append(f"{name}: sha256 differs from the list (changed or truncated)")
    if extra:
        leave_out = set(LISTS.values())
        for dirpath, dirs, files in os.walk(folder):  # os.walk: a symlink to a folder is not followed
            if apart is not None and Path(dirpath) == folder and apart in dirs:
                dirs.remove(apart)  # a folder with a list of its own, checked apart
            for entry in sorted(dirs + files):
                path = Path(dirpath) / entry
                name = path.relative_to(folder).as_posix()
                if path.is_symlink() or not (path.is_file() or path.is_dir()):
                    found.append(f"{name}: not a regular file or folder (a link, a pipe or a device)")
                elif path.is_file() and name not in listed and name not in leave_out:
                    found.append(f"{name}: not in the list")
    return found


def check(folder: str | Path, listed: dict[str, str], remedy: str | Callable[[str], str]) -> None:
    """Raise an :class:`InputError` naming the first missing or changed file of ``folder``
    and what to do (``remedy``, or ``remedy(name)`` of that file).

    Example:
        >>> check("indexes/news", {"docs.sqlite": "0" * 64}, "rebuild it")  # doctest: +NORMALIZE_WHITESPACE
        Traceback (most recent call last):
        ranker.core.errors.InputError: indexes/news/docs.sqlite: sha256 differs from the list (changed or truncated);
            rebuild it
    """
    folder = Path(folder)
    key = stat_key(folder, listed)
    if key is not None and vouched(key):
        return
    found = problems(folder, listed)
    if found:
        name, problem = found[0].split(": ", 1)
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        todo = remedy(name) if callable(remedy) else remedy
        raise InputError(folder / name, None, f"{problem}{more}; {todo}")
    if key is not None and key == stat_key(folder, listed):  # nothing changed while we hashed
        vouch(key)


def _checksum(about: dict) -> str:
    import hashlib
    import json

    body = {k: v for k, v in about.items() if k != "checksum"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=True).encode()).hexdigest()


def write_listed(folder: str | Path, name: str, about: dict, files: dict[str, str] | None = None) -> dict:
    """Write ``folder/name``: ``about`` plus the sha256 of every other file in the
    folder (``files``) and a ``checksum`` over the settings themselves, so that an
    edited setting is caught as surely as an edited file. Returns what was written.

    ``files`` given (sha256s already checked) is written as the list instead of
    hashing the folder again: adding a file to a checked folder must not bless a
    file that changed meanwhile.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "a.txt").write_text("abc")
        >>> sorted(write_listed(d, "ranker.json", {"task": "demo"}))
        ['checksum', 'files', 'task']
    """
    import json

    from ranker.core.files import atomic_write_text

    folder = Path(folder)
    about = {k: v for k, v in about.items() if k not in ("files", "checksum")}
    before = _stats(folder, _listing(folder, name)) if files is None else None
    about["files"] = file_hashes(folder, name) if files is None else dict(sorted(files.items()))
    about["checksum"] = _checksum(about)
    atomic_write_text(folder / name, json.dumps(about, indent=2) + "\n")
    # hashed just now: the first open need not hash them again, unless one changed meanwhile
    if before is not None and before == _stats(folder, sorted(about["files"])):
        vouch(stat_key(folder, about["files"]))
    return about


def seal_problem(about: dict) -> str | None:
    """What is wrong with a list file's own integrity: no file list, or settings
    changed since it was written (its ``checksum`` differs); None when sound.

    Example:
        >>> seal_problem({"files": {"a.txt": "0" * 64}})
        'no checksum: written by an older ranker or edited by hand'
    """
    if not isinstance(about.get("files"), dict) or not about["files"]:
        return "no file list with sha256s: written by an older ranker or edited by hand"
    if "checksum" not in about:
        return "no checksum: written by an older ranker or edited by hand"
    if about["checksum"] != _checksum(about):
        return "its settings changed after it was written (checksum differs)"
    return None


#: Files a model's list may name that are made again on first use when deleted: its
#: OpenVINO exports (:mod:`ranker.models.exported`). Missing, they are not a problem; changed, they are.
REMADE = "openvino/"


def present(folder: str | Path, listed: dict[str, str]) -> dict[str, str]:
    """``listed`` without the files under :data:`REMADE` that were deleted.

    Example:
        >>> present("/nonexistent", {"openvino/sequence/model.bin": "0" * 64, "model.safetensors": "0" * 64})
        {'model.safetensors': '0000000000000000000000000000000000000000000000000000000000000000'}
    """
    return {name: digest for name, digest in listed.items()
            if not (name.startswith(REMADE) and not (Path(folder) / name).exists())}


def model_remedy(name: str) -> str:
    """What to do about a changed file of a model we trained: an OpenVINO export
    (``openvino/KIND/...``, :mod:`ranker.models.exported`) is made again once deleted;
    anything else must be restored, or the model trained again.

    Example:
        >>> model_remedy("openvino/sequence/model.bin")
        'delete the folder openvino/sequence and it is made again on first use'
    """
    parts = name.split("/")
    if parts[0] == "openvino" and len(parts) > 2:
        return f"delete the folder openvino/{parts[1]} and it is made again on first use"
    return "the model changed after training: restore the file or retrain"


def read_listed(folder: str | Path, name: str, remedy: str | Callable[[str], str]) -> dict:
    """The JSON object ``folder/name`` (``{}`` when there is none), after checking
    its own checksum and the files it lists under ``files`` against their sha256s.

    Raises:
        InputError: the file is not a JSON object, lists no files, was edited, or a
            listed file is missing or changed.

    Example:
        >>> read_listed("models/demo/mined", "mining.json", "mine again")["config"]["strategy"]
        'hybrid'
    """
    path = Path(folder) / name
    if not path.is_file():
        return {}
    about = read_json(path, dict)
    problem = seal_problem(about)
    if problem:
        raise InputError(path, None, f"{problem}; {remedy(name) if callable(remedy) else remedy}")
    check(folder, present(folder, about["files"]), remedy)
    return about


# Files already checked, by what they are now (see stat_key): in this process, and
# across processes in the cache. Hashing a million-article index (3 GB) takes three
# seconds, and every query process, server start and reload opened it that way.
_CHECKED: set[str] = set()


def stat_key(folder: Path, listed: dict[str, str]) -> str | None:
    """A key for the listed files exactly as they are on disk now: each one's name,
    sha256 from the list, device, inode, size, and modification and change times in
    nanoseconds; None when one is missing.

    Any write to a file changes its change time (ctime), which, unlike the
    modification time, no tool sets back, so a key recorded once the files were
    hashed does not vouch for a file written since. What escapes it: a write within
    the same tick of the filesystem's clock as the hashing (milliseconds), the
    system clock set back, and bit rot (a change the filesystem never saw); ``ranker
    verify`` hashes every file, always.

    Example:
        >>> stat_key(Path("/nonexistent"), {"a": "0" * 64}) is None
        True
    """
    import hashlib
    import json

    names = sorted(listed)
    stats = _stats(folder, names)
    if stats is None:
        return None
    keyed = [[n, listed[n], *st] for n, st in zip(names, stats, strict=True)]
    return hashlib.sha256(json.dumps(keyed).encode()).hexdigest()


def _stats(folder: Path, names: list[str]) -> list[list[int]] | None:
    """Each file's device, inode, size, and modification and change times (ns); None when one is missing."""
    found = []
    for name in names:
        try:
            st = (folder / name).stat()
        except OSError:
            return None
        found.append([st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns])
    return found


def _vouched_path(key: str) -> Path:
    from ranker.core.files import cache_root

    return cache_root() / "verified" / key[:40]


def vouched(key: str) -> bool:
    """Whether files with this :func:`stat_key` were hashed and matched their list."""
    if key in _CHECKED:
        return True
    try:
        return _vouched_path(key).exists()
    except (OSError, RuntimeError):  # a cache we may not read (or no home folder) vouches for nothing
        return False


def vouch(key: str) -> None:
    """Record that the files of this :func:`stat_key` match their list (an empty file
    in the cache; a cache that cannot be written, or no home folder, only means
    hashing again)."""
    _CHECKED.add(key)
    try:
        path = _vouched_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    except (OSError, RuntimeError):
        pass


def verify(folder: str | Path, nested: tuple[str, Callable[[Path], list[str]]] | None = None
           ) -> tuple[str, list[str]]:
    """The kind of ``folder`` (``index``, ``model`` or ``mined tables``) and everything wrong with it.
    ``nested``: a top-level folder inside it with lists of its own, and what checks
    it (an index's segments: :func:`ranker.index.segmented.segment_problems`).

    Raises:
        InputError: the folder holds neither list, or a list without sha256s.

    Example:
        >>> verify("indexes/news")
        ('index', [])
    """
    folder = Path(folder)
    for kind, name in LISTS.items():
        path = folder / name
        if path.is_file():
            about = read_json(path, dict)
            if not isinstance(about.get("files"), dict) or not about["files"]:
                raise InputError(path, "files",
                                 "no file list with sha256s: written by an older ranker; rebuild or retrain")
            sealed = seal_problem(about)
            apart = nested[0] if nested and (folder / nested[0]).is_dir() else None
            found = problems(folder, present(folder, about["files"]), extra=True, apart=apart)
            if apart is not None:
                found += nested[1](folder)
            return kind, ([f"{name}: {sealed}"] if sealed else []) + found
    raise InputError(folder, None,
                     "not an index (manifest.json), a trained model (ranker.json) or mined tables (mining.json)")


def verify_folders(folders: list[str | Path], nested: tuple[str, Callable[[Path], list[str]]] | None = None
                   ) -> list[dict[str, Any]]:
    """``ranker verify``: each folder's kind, whether it is whole, and what is wrong.

    A folder that cannot be checked at all (neither list in it) is reported as
    ``unverifiable``; the others are still checked.

    Example:
        >>> import tempfile
        >>> verify_folders([tempfile.mkdtemp()])[0]["kind"]
        'unverifiable'
    """
    found = []
    for folder in folders:
        try:
            kind, wrong = verify(folder, nested)
        except InputError as err:
            kind, wrong = "unverifiable", [err.problem]
        found.append({"folder": str(folder), "kind": kind, "ok": not wrong, "problems": wrong,
                      "leftovers": [str(p) for p in stale_siblings(folder)]})
    return found
