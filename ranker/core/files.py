"""Writing files and folders so that a crash never leaves half an artifact.

Everything a job produces is first written to a temporary sibling and then
renamed into place: a reader sees the old artifact or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from ranker.core.errors import InputError

#: The names of the temporary siblings our writers make (``.NAME.tmp-8hex`` for a
#: file, ``.NAME.tmp-PID-8hex`` for a folder, ``-old`` for the one being replaced):
#: one pattern, so that cleaning up, naming errors and recognising our own outputs
#: agree on what is ours, and a user's file named like ``.notes.tmp-2024`` is not.
TEMPORARY = re.compile(r"\.(?P<name>.+)\.tmp-(?:(?P<pid>\d+)-)?[0-9a-f]{8}(?:-old)?")


def cache_root() -> Path:
    """Where ranker keeps what it can make again: exports of models we may not write
    (:mod:`ranker.models.exported`) and the record of folders already verified
    (:mod:`ranker.core.integrity`). ``$RANKER_CACHE``, else ``$XDG_CACHE_HOME/ranker``,
    else ``~/.cache/ranker``.

    Example:
        >>> isinstance(cache_root(), Path)
        True
    """
    if os.environ.get("RANKER_CACHE"):
        return Path(os.environ["RANKER_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ranker"


def final_name(path: str | Path) -> str:
    """The path a temporary sibling stands for (``.name.tmp-…`` -> ``name``, also as
    a folder above the file), so an error names what the user asked for, not our
    scratch file.

    Example:
        >>> final_name("runs/.idx.tmp-123-1a2b3c4d/bm25/data.npy")
        'runs/idx/bm25/data.npy'
    """
    parts = Path(os.fsdecode(path)).parts
    named = [m.group("name") if (m := TEMPORARY.fullmatch(p)) else p for p in parts]
    return str(Path(*named)) if named else str(path)


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Return the hex sha256 of a file, read in chunks.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "x"
        >>> _ = p.write_bytes(b"abc")
        >>> sha256_file(p)[:12]
        'ba7816bf8f01'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk_size), b""):
            digest.update(block)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary sibling and a rename.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "out.txt"
        >>> atomic_write_bytes(p, b"done\\n")
        >>> p.read_bytes()
        b'done\\n'
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


class DuplicateKeyError(ValueError):
    """A JSON object names the same key twice (``json`` would keep the last silently)."""


def _unique_keys(pairs: list[tuple[str, object]]) -> dict:
    found: dict = {}
    for key, value in pairs:
        if key in found:
            raise DuplicateKeyError(f"duplicate key '{key}'")
        found[key] = value
    return found


def loads_strict(text: str):
    """``json.loads`` that refuses a key given twice in one object.

    Raises:
        ValueError: invalid JSON (``json.JSONDecodeError``), a duplicate key
            (:class:`DuplicateKeyError`), or nesting too deep to parse.

    Example:
        >>> loads_strict('{"a": 1}')
        {'a': 1}
        >>> loads_strict('{"a": 1, "a": 2}')
        Traceback (most recent call last):
        ...
        ranker.core.files.DuplicateKeyError: duplicate key 'a'
    """
    import json

    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except RecursionError:
        raise ValueError("nested too deeply to read") from None


def read_json(path: str | Path, kind: type = dict):
    """A JSON file's value, which must be of type ``kind``; an InputError naming the file otherwise.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.json"
        >>> _ = p.write_text('{"files": {}}')
        >>> read_json(p)
        {'files': {}}
    """
    path = Path(path)
    try:
        value = loads_strict(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise InputError(path, None, f"cannot read it ({err.strerror})") from None
    except (UnicodeDecodeError, ValueError) as err:
        raise InputError(path, None, f"unreadable ({err})") from None
    if not isinstance(value, kind):
        raise InputError(path, None, f"expected a JSON {'object' if kind is dict else kind.__name__}")
    return value


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically (see :func:`atomic_write_bytes`).

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "a.json"
        >>> atomic_write_text(p, "{}")
        >>> p.read_text()
        '{}'
    """
    atomic_write_bytes(path, text.encode("utf-8"))


def exchange(a: Path, b: Path) -> bool:
    """Swap two existing paths in one atomic step (Linux ``renameat2`` with
    ``RENAME_EXCHANGE``); False where the system cannot, and nothing changed.

    Replacing a folder otherwise takes two renames (old out, new in), and a
    process killed between them leaves no folder at all. Python's ``os`` has no
    binding for it, hence ctypes.

    Example:
        >>> import tempfile, pathlib
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (d / "a").write_text("A"); _ = (d / "b").write_text("B")
        >>> exchange(d / "a", d / "b"), (d / "a").read_text()  # on Linux
        (True, 'B')
    """
    import ctypes
    import errno

    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):  # old kernel, or a file system without it
        return False
    raise OSError(code, os.strerror(code), str(a))


def stale_siblings(path: str | Path) -> list[Path]:
    """Temporary siblings of ``path`` left by writers that were killed (the pid in
    their name is gone): what the next write to ``path`` removes.

    Example:
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> (folder / ".idx.tmp-999999999-1a2b3c4d").mkdir()  # no such process
        >>> [p.name for p in stale_siblings(folder / "idx")]
        ['.idx.tmp-999999999-1a2b3c4d']
    """
    path = Path(path)
    found = []
    for sibling in sorted(path.parent.glob(f".{path.name}.tmp-*")):
        ours = TEMPORARY.fullmatch(sibling.name)
        if ours and ours.group("name") == path.name and ours.group("pid") and not _alive(int(ours.group("pid"))):
            found.append(sibling)
    return found


def scratch_sibling(path: str | Path) -> Path:
    """A new empty folder beside ``path``, named as our temporaries are
    (``.NAME.tmp-PID-8hex``), so that if this process is killed the next write to
    ``path`` recognises it as stale and removes it.

    Example:
        >>> import os, tempfile, pathlib
        >>> scratch = scratch_sibling(pathlib.Path(tempfile.mkdtemp()) / "idx")
        >>> scratch.is_dir(), scratch.name.startswith(f".idx.tmp-{os.getpid()}-")
        (True, True)
    """
    path = Path(path)
    scratch = path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    scratch.mkdir()
    return scratch


def remove_stale_siblings(path: Path) -> None:
    """Temporary siblings of ``path`` left by folder writers that were killed (their pid is gone)."""
    for sibling in stale_siblings(path):
        shutil.rmtree(sibling, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Build a folder in a temporary sibling; move it into place only on success.

    If the body raises, the temporary folder is removed and any folder already at
    ``path`` is untouched. On success the new folder takes the old one's place in
    one atomic exchange (on Linux; elsewhere two renames), and the old one is
    deleted after. A process killed at any moment leaves ``path`` as it was or
    complete; what a killed writer left beside it is removed by the next writer.
    A symlink is written through: its target is replaced and the link stays.

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "index"
        >>> with atomic_directory(target) as tmp:
        ...     _ = (tmp / "manifest.json").write_text("{}")
        >>> sorted(p.name for p in target.iterdir())
        ['manifest.json']
    """
    path = Path(path)
    if path.is_symlink():  # replace what the link points at, never the link itself
        path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_siblings(path)
    tmp = scratch_sibling(path)
    try:
        yield tmp
        for child in tmp.rglob("*"):
            if child.is_file():
                with open(child, "rb") as handle:
                    os.fsync(handle.fileno())
        if path.exists() and exchange(tmp, path):
            pass  # tmp now holds the old folder, removed below
        else:
            old = tmp.with_name(f"{tmp.name}-old")
            if path.exists():
                os.replace(path, old)
            os.replace(tmp, path)
            tmp = old
        _fsync_dir(path.parent)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


@contextlib.contextmanager
def one_writer(path: str | Path, waiting: Callable[[], None] | None = None) -> Iterator[None]:
    """Hold an exclusive lock for writing the folder ``path``: writers of one folder
    (a build, an update) run one after the other, and an update that reads the folder
    once it holds the lock never loses another writer's work. The lock is on the
    parent folder, whose inode a swap leaves in place, and creates no file.
    ``waiting`` is called once when another writer holds it (to say so), before waiting.

    Example:
        >>> import tempfile, pathlib
        >>> with one_writer(pathlib.Path(tempfile.mkdtemp()) / "index"):
        ...     pass
    """
    parent = Path(path).resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    with folder_lock(parent, waiting=waiting):
        yield


@contextlib.contextmanager
def folder_lock(folder: str | Path, wait: bool = True, waiting: Callable[[], None] | None = None
                ) -> Iterator[None]:
    """An exclusive ``flock`` on the folder itself (no file is created), released when
    the block ends or the process dies; ``wait=False`` raises ``BlockingIOError`` at
    once when another process holds it; ``waiting`` is called once before waiting for it.

    Example:
        >>> import tempfile, pathlib
        >>> with folder_lock(tempfile.mkdtemp(), wait=False):
        ...     pass
    """
    import fcntl

    fd = os.open(folder, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise
            if waiting is not None:
                waiting()
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


#: The longest line a reader takes, in bytes: room for the longest text an
#: article may hold (1,000,000 characters) written as JSON escapes, with its
#: title and metadata. A longer line is refused after reading this much of it, so
#: memory stays bounded whatever the input.
MAX_LINE_BYTES = 16 * 1024 * 1024


def decoded_lines(path: str | Path, max_bytes: int = MAX_LINE_BYTES,
                  long_lines: str = "raise") -> Iterator[tuple[int, str | InputError]]:
    """Yield (1-based line number, text), decoding each line strictly as UTF-8.

    Decoding line by line means an undecodable byte is reported with its line
    number, not as an offset into the file. A UTF-8 byte-order mark is dropped.
    No line is read whole if it is over ``max_bytes``: with ``long_lines="yield"``
    its number comes with an :class:`InputError` in place of its text, and the
    rest of it is skipped in pieces (the caller may skip it and go on).

    Raises:
        InputError: a line that is not valid UTF-8, or (``long_lines="raise"``) over ``max_bytes``.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.txt"
        >>> _ = p.write_bytes(b"ok\\n" + b"x" * 100 + b"\\nnext\\n")
        >>> next(decoded_lines(p))
        (1, 'ok\\n')
        >>> [(n, getattr(line, "problem", line)) for n, line in decoded_lines(p, max_bytes=10, long_lines="yield")]
        [(1, 'ok\\n'), (2, 'over 10 bytes long; lines that long are refused before they are read'), (3, 'next\\n')]
    """
    with open(path, "rb") as handle:
        number = 0
        while raw := handle.readline(max_bytes + 1):
            number += 1
            if len(raw) > max_bytes and not raw.endswith(b"\n"):
                problem = InputError(path, f"line {number}", f"over {max_bytes:,} bytes long; lines that long are "
                                     "refused before they are read")
                if long_lines == "raise":
                    raise problem
                while (rest := handle.readline(1 << 20)) and not rest.endswith(b"\n"):
                    pass  # the rest of the line, a megabyte at a time
                yield number, problem
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:
                raise InputError(
                    path, f"line {number}", f"undecodable bytes (not UTF-8) at byte {err.start} of the line"
                ) from None
            if number == 1:
                line = line.removeprefix("\ufeff")
            yield number, line


def split_lines(path: str | Path, what: str) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, whitespace-separated fields) of each non-blank line of a
    column file (TREC runs and qrels).

    Raises:
        InputError: the file is missing, or a line is not valid UTF-8.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "run.trec"
        >>> _ = p.write_text("q1 Q0 d1 1 2.5 bm25\\n\\n")
        >>> list(split_lines(p, "run"))
        [(1, ['q1', 'Q0', 'd1', '1', '2.5', 'bm25'])]
    """
    if not Path(path).is_file():
        raise InputError(path, None, f"no such {what} file")
    for number, line in decoded_lines(path):
        parts = line.split()
        if parts:
            yield number, parts
