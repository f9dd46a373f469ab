"""Writing files and folders so that a crash never leaves half an artifact.

Everything a job produces is first written to a temporary sibling and then
renamed into place: a reader sees the old artifact or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

from ranker.errors import InputError


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


@contextlib.contextmanager
def atomic_directory(path: str | Path) -> Iterator[Path]:
    """Build a folder in a temporary sibling; move it into place only on success.

    If the body raises, the temporary folder is removed and any folder already at
    ``path`` is untouched. On success an existing folder is swapped out and
    deleted only after the new one is in place.

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "index"
        >>> with atomic_directory(target) as tmp:
        ...     _ = (tmp / "manifest.json").write_text("{}")
        >>> sorted(p.name for p in target.iterdir())
        ['manifest.json']
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    tmp = path.with_name(f".{path.name}.tmp-{tag}")
    tmp.mkdir()
    try:
        yield tmp
        for child in tmp.rglob("*"):
            if child.is_file():
                with open(child, "rb") as handle:
                    os.fsync(handle.fileno())
        old = path.with_name(f".{path.name}.old-{tag}")
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        _fsync_dir(path.parent)
        if old.exists():
            shutil.rmtree(old)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def decoded_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield (1-based line number, text), decoding each line strictly as UTF-8.

    Decoding line by line means an undecodable byte is reported with its line
    number, not as an offset into the file. A UTF-8 byte-order mark is dropped.

    Raises:
        InputError: a line that is not valid UTF-8.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "t.txt"
        >>> _ = p.write_bytes(b"ok\\n\\xff\\n")
        >>> next(decoded_lines(p))
        (1, 'ok\\n')
    """
    with open(path, "rb") as handle:
        for number, raw in enumerate(handle, start=1):
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
