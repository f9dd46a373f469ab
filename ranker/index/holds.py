"""Readers hold a generation of a segmented index; a commit removes only what no reader holds.

A reader (:class:`~ranker.index.segments.Snapshot`) takes a shared ``flock`` on its
generation's file for as long as it is open; a commit tries an exclusive one on each
older generation's file, without waiting, and removes the file (and so frees its
segments for removal) only when it gets it. A reader that opened the file just
before it was removed sees, once it holds its lock, that the file has no name left
(``st_nlink == 0``) and opens the index again. Lucene counts references to its
commit points in-process; a file lock also covers readers in other processes
(``ranker serve``, ``ranker query --queries -``), and the kernel lets go of a killed
reader's lock.

Example:
    >>> import tempfile, pathlib
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "generation-000001.json"
    >>> _ = path.write_text("{}")
    >>> held = hold(path)
    >>> release(path), path.exists()  # a reader holds it: it stays
    (False, True)
    >>> held.close()
    >>> release(path), path.exists()
    (True, False)
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import BinaryIO

from ranker.core.errors import InputError


class IndexChanged(InputError):
    """The index folder was rebuilt or updated while this process was opening it: open it again."""


def hold(path: Path) -> BinaryIO:
    """Hold the generation file ``path`` for a reader (a shared lock on it, released when
    the returned file is closed): no commit removes a generation a reader holds."""
    try:
        handle = open(path, "rb")  # held for the reader's life: closed by Snapshot.close
    except FileNotFoundError:
        raise IndexChanged(path.parent.parent, None, "the index was updated while this process opened it: "
                           "open it again") from None
    fcntl.flock(handle, fcntl.LOCK_SH)
    if os.fstat(handle.fileno()).st_nlink == 0:  # removed between opening and locking: it is gone
        handle.close()
        raise IndexChanged(path.parent.parent, None, "the index was updated while this process opened it: "
                           "open it again")
    return handle


def release(path: Path) -> bool:
    """Remove the superseded generation file ``path`` unless a reader holds it; whether it was removed.
    Removed under an exclusive lock, so a reader that locks it afterwards sees it gone."""
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return True
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        path.unlink()
    return True
