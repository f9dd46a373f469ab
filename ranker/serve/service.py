"""A long-lived searcher for many clients at once: what ``ranker serve`` runs.

Every search goes through one worker thread that owns the models. Requests that
arrive while it is busy (or within ``batch_wait`` of the first) are searched as
one batch: the first stage takes them together, and the cross-encoder scores all
their pairs in one pass, so its batches stay full and its streams busy as load
grows, where a thread per request would only split the same two cores between
more forward passes. Numeric work stays bounded by OpenVINO's (or torch's) own
threads, whatever the number of clients. Which searches a batch holds is fair
across clients and bounded in cost (:mod:`ranker.serve.schedule`); a search is
found, then shown (:mod:`ranker.serve.steps`), and the worker writes each answer's
JSON, so that its cost falls in its client's turn.

The index folder is watched: when an update or rebuild lands (it swaps the whole
folder, :func:`ranker.core.files.atomic_directory`), the new version is loaded beside
the old one, which keeps answering until the new one is ready; then batches go
to the new one. A batch is searched wholly in one version, and its answers say
which (``index_version``).

Written here rather than taken from a serving library: the batching is across
queries *inside* our pipeline (first stage, then the pairs of every query of the
batch), which model servers (Ray Serve, Triton) batch only at a model's input.

Example:
    >>> service = Service(ServiceConfig(index="indexes/news"))
    >>> service.start(); service.wait_ready()  # loads in the background; True once it answers
    True
    >>> answer = service.search(SearchRequest("oil prices", k=3))  # among the demo's six articles
    >>> answer["retriever"], len(answer["hits"]), answer["hits"][0]["title"], sorted(answer["hits"][0]["why"])
    ('hybrid', 3, 'Oil prices fell sharply', ['bm25', 'dense', 'first_stage'])
    >>> service.close()
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ranker.core.errors import InputError
from ranker.index.folder import RETRIEVERS
from ranker.rerank import DEFAULT_DEPTH
from ranker.serve import steps
from ranker.serve.generation import FileStamps, Generation, model_stamps, stat_of
from ranker.serve.merging import BackgroundMerges
from ranker.serve.request import SearchRequest, is_date
from ranker.serve.schedule import STOP, FairQueue, find_cost, show_cost

log = logging.getLogger("ranker.serve")

#: How deep the first stage is searched when a request filters by outlet or date:
#: the filters keep the matching articles among these.
FILTER_DEPTH = 1000


@dataclass(frozen=True)
class ServiceConfig:
    """What a service searches and how it batches.

    Example:
        >>> ServiceConfig(index="indexes/news", reranker="models/demo/model/model").max_k
        100
    """

    index: str | Path
    reranker: str | None = None
    #: articles reranked per query, and the cross-encoder's share (None: the model's tuned weight)
    depth: int = DEFAULT_DEPTH
    weight: float | None = None
    runtime: str = "auto"
    precision: str = "auto"
    #: the cross-encoder's number format when not ``precision`` (``int8`` is the cross-encoder's alone)
    rerank_precision: str | None = None
    #: how long the worker waits for more requests to join a batch, and the most it takes
    batch_wait: float = 0.002
    max_batch: int = 32
    max_k: int = 100
    max_query_chars: int = 1000
    #: how often the index folder is checked for a new version and its files for damage, in seconds
    watch_every: float = 0.5
    #: whether /health shows the index's and the model's paths (else their folders' names)
    show_paths: bool = False
    #: fairness and bounds (ranker.serve.schedule): the estimated milliseconds of work the worker
    #: takes before it turns to the next client, the most searches queued (more: 429), and how
    #: long a search may wait and run before it is dropped (503)
    slice_ms: float = 40.0
    max_queued: int = 512
    deadline: float = 120.0
    #: how often the index's segments are looked at for a background merge, in seconds (0: never)
    merge_every: float = 10.0


@dataclass
class _Job:
    request: SearchRequest
    future: Future = field(default_factory=Future)
    started: float = field(default_factory=time.perf_counter)
    #: whose turn it takes, its next step's estimated milliseconds (ranker.serve.schedule), and
    #: whether it is shown in the same turn as it is found (when showing costs little)
    client: str = "local"
    cost: float = 0.0
    whole: bool = True
    #: what finding left for showing, and the index version it was found in (None: not yet found)
    found: steps.Found | None = None
    generation: Generation | None = None
    #: answer with the JSON text (bytes) rather than the dict: the HTTP layer's, made here so
    #: that its cost falls in the asking client's turn, not on the event loop every client shares
    encoded: bool = False


class Overdue(RuntimeError):
    """A search waited past the service's deadline and was dropped unanswered (503)."""


class Unavailable(RuntimeError):
    """The service cannot answer searches now (a file of its index is damaged); the
    message says why. The HTTP layer answers it with a 503."""


#: Errors of reading the index's files: a search failing with one marks the service
#: unhealthy at once (a bug elsewhere fails its own requests and nothing more)
FILE_ERRORS = (sqlite3.DatabaseError, OSError, EOFError)


class Service:
    """Load an index (and a reranker) once and answer :class:`SearchRequest` objects
    from any number of threads; see the module's text for how."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        self.generation: Generation | None = None
        self.reranker = None
        self.error: str | None = None
        self.loaded_in: float | None = None
        #: why searches are refused now (a damaged index file), or None; the watch clears it on recovery
        self.broken: str | None = None
        #: the reranker's files as loaded, and what changed in them since (it keeps answering from memory)
        self.model_stamps: FileStamps | None = None
        self.model_changed: str | None = None
        self._probed: tuple[float, str | None] = (0.0, None)
        self._reranker_probed = 0.0
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._queue = FairQueue(config.max_queued)  # an idle client may claim 250 ms of work ahead
        self._threads: list[threading.Thread] = []
        #: what the worker has done: batches, queries, and seconds per stage (``GET /stats``)
        self.merges = BackgroundMerges(config.index, config.merge_every)
        self.stats: dict[str, Any] = {"batches": 0, "queries": 0, "largest_batch": 0,
                                      "seconds": dict.fromkeys(("first_stage", "rerank", "hits"), 0.0)}

    # -- life ---------------------------------------------------------------------------
    def start(self) -> None:
        """Load in the background; :attr:`ready` says when searches can be answered."""
        thread = threading.Thread(target=self._load, name="ranker-load", daemon=True)
        thread.start()
        self._threads.append(thread)

    def load(self) -> None:
        """Load in this thread (what :meth:`start` runs); raises what stops it."""
        started = time.perf_counter()
        self.generation = Generation.load(self.config.index, self.config.runtime, self.config.precision)
        if self.config.reranker is not None:
            from ranker.rerank.reranker import RerankConfig, Reranker

            self.reranker = Reranker(RerankConfig(model=str(self.config.reranker), depth=self.config.depth,
                                                  weight=self.config.weight, runtime=self.config.runtime,
                                                  precision=self.config.rerank_precision or self.config.precision))
            from ranker.models.loading import resolve_model

            self.model_stamps = model_stamps(resolve_model(self.reranker.config.model))  # the folder it loaded
        # one search before the first client's: the runtime's first pass sets up its kernels
        self._run([_Job(SearchRequest("news", k=1))])
        self.loaded_in = time.perf_counter() - started
        for target, name in ((self._work, "ranker-worker"), (self._watch, "ranker-watch")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        self.merges.start(self._stopping)
        self._ready.set()

    def _load(self) -> None:
        try:
            self.load()
        except InputError as err:  # bad input, said in one line by whoever started the service (and /health)
            self.error = str(err)
        except Exception as err:  # noqa: BLE001 - logged with its traceback; /health reports it
            self.error = f"{type(err).__name__}: {err}"
            log.exception("cannot serve")

    @property
    def queue_depth(self) -> int:
        """Searches waiting for the worker."""
        return self._queue.qsize()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Wait until loaded (True) or failed or timed out (False)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self._ready.wait(0.05):
            if self.error is not None or (deadline is not None and time.monotonic() > deadline):
                return False
        return True

    def close(self, timeout: float = 30.0) -> None:
        """Answer what is queued, then stop the threads."""
        self._stopping.set()
        self._queue.stop()
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(timeout)

    # -- asking ---------------------------------------------------------------------------
    def check(self, request: SearchRequest) -> None:
        """Raise ValueError naming what to fix in ``request``."""
        if not request.query.strip():
            raise ValueError("the query is empty: give some words to search for")
        if len(request.query) > self.config.max_query_chars:
            raise ValueError(f"the query is {len(request.query)} characters; at most {self.config.max_query_chars}")
        if not 1 <= request.k <= self.config.max_k:
            raise ValueError(f"k must be between 1 and {self.config.max_k}, not {request.k}")
        names = self.generation.names if self.generation else RETRIEVERS
        if request.retriever is not None and request.retriever not in names:
            raise ValueError(f"retriever must be one of {', '.join(names)} for this index, not '{request.retriever}'")
        for name, value in (("date_from", request.date_from), ("date_to", request.date_to)):
            if value is not None and not is_date(value):
                raise ValueError(f"{name} must be a date written YYYY-MM-DD, not '{value}'")
        if request.date_from and request.date_to and request.date_from > request.date_to:
            raise ValueError(f"date_from ({request.date_from}) is after date_to ({request.date_to}): swap them")

    def submit(self, request: SearchRequest, client: str = "local") -> Future:
        """Queue ``request``; the future gives its answer (a JSON-ready dict). Raises
        ValueError for a bad request, RuntimeError when not ready, QueueFull when full."""
        return self.submit_many([request], client)[0]

    def submit_many(self, requests: list[SearchRequest], client: str = "local",
                    encoded: bool = False) -> list[Future]:
        """Queue all of ``requests`` for ``client`` (whose searches take turns with other
        clients'), or none of them; their futures, in order: each a JSON-ready dict, or
        with ``encoded`` its JSON text as UTF-8 bytes."""
        if not self.ready:
            raise RuntimeError(self.error or "still loading")
        if self._stopping.is_set():
            raise RuntimeError("shutting down")
        for request in requests:
            self.check(request)
        jobs = []
        for request in requests:
            find, show = self.costs(request)
            whole = show <= self.config.slice_ms / 2  # deferring so little would only add a turn's wait
            jobs.append(_Job(request, client=client, cost=find + show if whole else find, whole=whole,
                             encoded=encoded))
        self._queue.put_many(jobs, client, [job.cost for job in jobs])
        return [job.future for job in jobs]

    def costs(self, request: SearchRequest) -> tuple[float, float]:
        """The estimated milliseconds of finding ``request``'s hits and of showing them
        (:func:`ranker.serve.schedule.find_cost`, :func:`~ranker.serve.schedule.show_cost`)."""
        reranks = bool(request.rerank and self.reranker is not None)
        pairs = self.reranker.config.depth if reranks else 0
        tokens = self.reranker.config.max_length if reranks else 0
        return find_cost(len(request.query), pairs, tokens), show_cost(request.k)

    def search(self, request: SearchRequest, timeout: float | None = 60.0) -> dict[str, Any]:
        """The answer to one request (blocking)."""
        return self.submit(request).result(timeout)

    # -- the worker ---------------------------------------------------------------------------
    def _work(self) -> None:
        while True:
            jobs = self._queue.take(self.config.slice_ms, self.config.batch_wait, self.config.max_batch)
            if jobs is STOP:
                return
            try:
                self._run(jobs)
            except Exception as err:  # noqa: BLE001 - a bug here must fail these requests, not stop the worker
                log.exception("a batch failed")
                for waiting in jobs:
                    if not waiting.future.done():
                        waiting.future.set_exception(err)

    def _watch(self) -> None:
        """Every ``watch_every`` seconds: see damage to the files served, a change of the
        model's files, and a new version of the index (or the damaged one restored),
        which is loaded beside the old one, which serves meanwhile."""
        said = None  # the last failure logged: a folder that stays broken is reported once, not every check
        failed_at = None  # (the files' stamps, time) of the last failed load: opening hashes every file, so a
        # broken folder is opened again only when one of its files changes or after 30 s
        while not self._stopping.wait(self.config.watch_every):
            current = self.generation
            if current is None:
                continue
            self.damage(current)
            if self.model_stamps is not None and self.model_changed is None:
                self.model_changed = self.model_stamps.changed()
                if self.model_changed:
                    log.warning("the reranker's %s; still answering with the model loaded (restart to load it)",
                                self.model_changed)
            if self.broken is None and current.index.is_current():
                continue
            stamp = (stat_of(Path(self.config.index) / "manifest.json"), current.stamps.now())
            if failed_at is not None and failed_at[0] == stamp and time.monotonic() - failed_at[1] < 30:
                continue
            try:
                self._reload()
                said, failed_at = None, None
            except Exception as err:  # noqa: BLE001 - keep serving the old version; try again next time
                if str(err) != said:
                    log.warning("index %s changed but could not be loaded (%s); %s", self.config.index, err,
                                f"refusing searches: {self.broken}" if self.broken
                                else f"still serving version {current.version}")
                    said = str(err)
                failed_at = (stamp, time.monotonic())

    def _reload(self) -> None:
        """Load the folder's version now and serve it (healthy again, if it was not)."""
        started = time.perf_counter()
        newer = Generation.load(self.config.index, self.config.runtime, self.config.precision,
                                previous=None if self.broken else self.generation)  # damaged: all read again
        self.generation, was = newer, self.broken
        self.broken = None
        log.info("index %s: version %s loaded in %.1f s (%d documents); serving it now%s", self.config.index,
                 newer.version, time.perf_counter() - started, newer.documents, " (recovered)" if was else "")

    def damage(self, generation: Generation) -> str | None:
        """Why ``generation`` must not be read (a file of it changed in place, with no new
        version committed: truncated, replaced, removed), or None. Marks the service
        broken, so that every search answers 503 until the watch loads a whole version."""
        if self.broken is None:
            changed = generation.stamps.changed()
            if changed is not None and generation.index.is_current():  # a new version is not damage
                self.mark_broken(f"the index's {changed}")
        return self.broken

    def mark_broken(self, why: str) -> str:
        """Refuse searches from now on, saying ``why``, until the watch loads a whole
        version (the first reason stands); the reason searches get."""
        if self.broken is None:
            self.broken = f"{why}; searches resume when it is restored or rebuilt"
            log.error("index %s: %s", self.config.index, self.broken)
        return self.broken

    def probe(self) -> str | None:
        """A real search through every retriever (and, at most every 10 s and only when
        nothing waits, the reranker); None if all answered, else why not. ``/health`` asks
        this, at most once a second."""
        began, last = time.monotonic(), self._probed
        if began - last[0] < 1.0:
            return last[1]
        rerank = self.reranker is not None and self.queue_depth == 0 and began - self._reranker_probed >= 10
        try:
            for name in self.generation.names:
                with_reranker = rerank and name == self.generation.default
                self.search(SearchRequest("news", k=1, retriever=name, rerank=with_reranker), timeout=10)
            found = None
        except Unavailable as err:
            found = str(err)
        except Exception as err:  # noqa: BLE001 - whatever a search raised is why the service is not healthy
            found = f"a probe search failed ({type(err).__name__}: {err})"
        if rerank:
            self._reranker_probed = began
        self._probed = (began, found)
        return found

    def _run(self, jobs: list[_Job]) -> None:
        """One batch: each search's next step, the cheapest groups first (a small request
        batched with large ones is answered before them)."""
        jobs = self._live(jobs)
        finding = [job for job in jobs if job.found is None]
        if finding:
            self.stats["batches"] += 1
            self.stats["queries"] += len(finding)
            self.stats["largest_batch"] = max(self.stats["largest_batch"], len(finding))
        generation = self.generation  # one version for the whole batch's finding
        groups: dict[tuple, list[_Job]] = defaultdict(list)
        for job in jobs:
            if job.found is not None:
                groups["show", id(job)].append(job)
                continue
            request = job.request
            rerank = bool(request.rerank and self.reranker is not None)
            groups["find", request.retriever or generation.default, rerank,
                   self._depth(request, rerank, generation)].append(job)
        for key, group in sorted(groups.items(), key=lambda item: sum(j.cost for j in item[1])):
            if key[0] == "show":
                self._show(group[0])
            else:
                self._find(generation, *key[1:], group)

    def _live(self, jobs: list[_Job]) -> list[_Job]:
        """Those of ``jobs`` still to be done: not those whose client left, nor those past
        the deadline or whose index files are damaged (they get their error)."""
        now, live, damage = time.perf_counter(), [], {}
        for job in jobs:
            if job.future.cancelled():  # its client left
                continue
            generation = job.generation or self.generation  # looked at before any of its pages is read (a
            if id(generation) not in damage:  # truncated map would crash us), once a batch
                damage[id(generation)] = self.damage(generation)
            broken = damage[id(generation)]
            if broken is not None:
                _fail(job, Unavailable(broken))
            elif now - job.started > self.config.deadline:
                _fail(job, Overdue(f"waited {now - job.started:.1f} s, past the service's deadline of "
                                   f"{self.config.deadline:g} s; dropped unanswered"))
            else:
                live.append(job)
        return live

    def _find(self, generation: Generation, name: str, rerank: bool, depth: int, group: list[_Job]) -> None:
        """Finding for ``group`` together; then each search is shown at once if that costs
        little or nobody waits, else at its client's next turn, so that waiting clients go first."""
        try:
            found = steps.find(generation, self.reranker, name, rerank, depth, [job.request for job in group],
                               self._counter())
        except Exception as err:  # noqa: BLE001 - each waiting request gets the error
            self._failed(group, err)
            return
        later: dict[str, list[_Job]] = defaultdict(list)
        nobody_waits = self._queue.qsize() == 0
        for job, result in zip(group, found, strict=True):
            job.generation, job.found, job.cost = generation, result, show_cost(job.request.k)
            if job.whole or nobody_waits:
                self._show(job)
            else:
                later[job.client].append(job)
        for client, waiting in later.items():
            self._queue.put_front(waiting, client, [job.cost for job in waiting])

    def _show(self, job: _Job) -> None:
        """Showing: the answer to ``job``'s search, from what finding left."""
        if not job.future.set_running_or_notify_cancel():  # its client left
            return
        count = self._counter()
        try:
            answer = steps.show(job.generation, self.reranker, job.found, job.request)
        except Exception as err:  # noqa: BLE001 - the request gets the error
            self._failed([job], err)
            return
        count("hits")
        answer["took_ms"] = round(1000 * (time.perf_counter() - job.started), 1)
        job.future.set_result(steps.json_bytes(answer) if job.encoded else answer)

    def _failed(self, jobs: list[_Job], err: Exception) -> None:
        """``jobs`` get ``err``; an error of reading the index's files first marks the service broken."""
        if isinstance(err, FILE_ERRORS):
            self.mark_broken(f"reading the index failed ({type(err).__name__}: {err})")
        for job in jobs:
            _fail(job, Unavailable(self.broken) if self.broken else err)

    def _counter(self) -> Callable[[str], None]:
        """``count(stage)`` adds the time since the last call (or since now) to ``stage``'s seconds."""
        since = [time.perf_counter()]

        def count(stage: str) -> None:
            now = time.perf_counter()
            self.stats["seconds"][stage] += now - since[0]
            since[0] = now

        return count

    def _depth(self, request: SearchRequest, rerank: bool, generation: Generation) -> int:
        """How deep the first stage is searched, as ``ranker search``/``query`` would for one query."""
        depth = max(request.k, self.reranker.config.depth) if rerank else request.k
        if request.filtered:
            depth = max(depth, FILTER_DEPTH)
        return min(depth, generation.documents)


def _fail(job: _Job, err: Exception) -> None:
    """``job`` fails with ``err``, unless its client left meanwhile."""
    try:
        job.future.set_exception(err)
    except InvalidStateError:  # cancelled between our look and now
        pass
