"""Merges in the background of ``ranker serve`` (issue 37).

Every ``ranker add`` leaves one more segment, and each costs a search a little.
While the service runs, one thread looks every ``every`` seconds at the index's
segments and, when the tiered policy (:class:`~ranker.index.merge_policy.TieredPolicy`)
plans a merge, runs ``ranker merge INDEX --tiered`` in a child process at the lowest
CPU priority (``nice 19``): on two cores a merge in the service's own process would
hold the GIL against the worker, while a niced process gets the CPU only when the
service's threads leave it idle, so a merge yields whenever requests wait. The
merge commits a new generation like any other writer, and the service's watch
loads it as it loads an add's (the generation it serves meanwhile keeps its files:
:mod:`ranker.index.holds`).

Example:
    >>> merges = BackgroundMerges("indexes/news", every=0)  # 0: never
    >>> merges.start(threading.Event()), merges.stats()
    (False, {'merges': 0, 'merging': False, 'failed': None})
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ranker.index.merge_policy import TieredPolicy
from ranker.index.segments import BASE

log = logging.getLogger("ranker.serve")


class BackgroundMerges:
    """The service's merging thread: :meth:`start` it; :meth:`stats` for ``GET /stats``."""

    def __init__(self, index: str | Path, every: float, policy: TieredPolicy = TieredPolicy()) -> None:
        self.index, self.every, self.policy = Path(index), every, policy
        self.done = 0
        self.running = False
        #: why the last merge failed (it is tried again only once the index changes), or None
        self.failed: str | None = None
        self._failed_at: int | None = None

    def start(self, stopping: threading.Event) -> bool:
        """Start the thread (unless ``every`` is 0); whether it was started."""
        if self.every <= 0:
            return False
        threading.Thread(target=self._loop, args=(stopping,), name="ranker-merge", daemon=True).start()
        return True

    def stats(self) -> dict[str, Any]:
        return {"merges": self.done, "merging": self.running, "failed": self.failed}

    def wanted(self) -> int | None:
        """The current generation's number when the policy plans a merge of it, else None."""
        from ranker.index.segmented import store_of

        try:
            store = store_of(self.index)
            if store is None:
                return None
            generation = store.current()
        except Exception:  # noqa: BLE001 - a folder being replaced or damaged: the watch reports it
            return None
        fixed = 1 if generation.segments and generation.segments[0].name == BASE else 0  # never merged here
        segments = generation.segments[fixed:]
        if not self.policy.plan([s.documents - s.deleted for s in segments]):
            return None
        return generation.number

    def _loop(self, stopping: threading.Event) -> None:
        while not stopping.wait(self.every):
            number = self.wanted()
            if number is None or number == self._failed_at:
                continue
            self.running = True
            began = time.perf_counter()
            try:
                self._merge()
                self.done += 1
                self.failed, self._failed_at = None, None
                log.info("index %s: merged segments in the background in %.1f s", self.index,
                         time.perf_counter() - began)
            except (OSError, subprocess.SubprocessError) as err:
                self.failed, self._failed_at = str(err), number
                log.warning("index %s: a background merge failed (%s); tried again once the index changes",
                            self.index, err)
            finally:
                self.running = False

    def _merge(self) -> None:
        process = subprocess.Popen([sys.executable, "-m", "ranker", "merge", str(self.index), "--tiered", "--quiet"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            os.setpriority(os.PRIO_PROCESS, process.pid, 19)  # the CPU only when the service leaves it idle
        except OSError:
            pass  # it ended already, or the system refuses: it runs at normal priority
        _, errors = process.communicate()
        if process.returncode != 0:
            raise subprocess.SubprocessError(errors.strip().splitlines()[-1] if errors.strip()
                                             else f"exit status {process.returncode}")
