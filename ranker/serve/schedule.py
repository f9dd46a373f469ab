"""Which queued searches the worker takes next: fair across clients, bounded in cost.

One worker owns the models, so whatever it takes, everyone else waits for. A
first-come queue lets one client's 64 long queries at ``k=100`` hold everyone for
seconds. Here each client (a connection, or an ``X-Client-ID``) has its own queue,
served in start-time fair order (:class:`FairQueue`), and a batch ends before its
estimated cost would pass a slice, so a small request waits behind at most one
slice of a large one, or one step of a search larger than a slice: a search is
found and then shown (:mod:`ranker.serve.steps`), and a large one is shown at its
client's next turn. Costs are estimates in milliseconds of this 2-core machine,
from the stage timings of ``GET /stats`` (docs/serve.md): they only need to rank
requests and bound a slice, not to be exact.

Written here rather than taken from a library: the unit scheduled is one step of
one query of our pipeline, and its cost depends on our stages (asyncio and thread
pools schedule tasks, not work inside one worker's batches).

Example:
    >>> queue = FairQueue(max_queued=10)
    >>> for n in range(3):
    ...     queue.put(f"big-{n}", client="a", cost=100.0)
    >>> queue.put("small", client="b", cost=1.0)
    >>> queue.take(slice_cost=150.0, wait=0.0)  # a's first, then b's (its clock is lower now), within the slice
    ['big-0', 'small']
"""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import Any


class QueueFull(RuntimeError):
    """More searches are waiting than the service takes: the client should retry later (429)."""


#: what :meth:`FairQueue.take` returns once :meth:`FairQueue.stop` was called and nothing is left
STOP = object()


def find_cost(query_chars: int, rerank_pairs: int, tokens: int) -> float:
    """Finding's estimated milliseconds (:mod:`ranker.serve.steps`): the first stage
    grows with the query's length (the dense encoder reads all of it), the reranking
    with its pairs and their tokens.

    Example:
        >>> find_cost(query_chars=20, rerank_pairs=0, tokens=0) < find_cost(1000, 0, 0) < find_cost(1000, 10, 128)
        True
    """
    return 5.0 + query_chars / 35 + rerank_pairs * tokens / 13.0


def show_cost(k: int) -> float:
    """Showing's charge, in estimated milliseconds: the articles, snippets and JSON of
    ``k`` hits. A hit costs the worker about 0.2 ms but is charged 1: a large answer
    also costs the event loop and the network, and charging it so keeps a client that
    asks for a few hits ahead of those that ask for pages of a hundred (the fairness
    benchmark, docs/serve.md, measured both rates).

    Example:
        >>> show_cost(10) < show_cost(100)
        True
    """
    return 1.0 + 1.0 * k


class FairQueue:
    """Per-client queues served in start-time fair order, in slices of bounded cost; thread-safe.

    Each client has a virtual clock: the estimated cost of what it has been served.
    The next search comes from the waiting client whose clock is lowest (at equal
    clocks, the one waiting longest). A client that starts waiting has its clock
    moved up to at most ``credit`` behind the queue's (the clock of the latest search
    started): a client that asked little lately goes ahead of those that asked much,
    by at most ``credit`` of work, and cannot claim all the turns it was idle for.
    So a light client beside heavy ones is served at its next chance, clients that
    ask equally take equal turns, and none starves (start-time fair queuing, Goyal
    et al. 1996, with one search as the packet and a bounded credit for idlers).
    """

    def __init__(self, max_queued: int, credit: float = 250.0) -> None:
        self.max_queued = max_queued
        self.credit = credit
        self._lines: dict[str, deque[tuple[Any, float]]] = {}
        self._clock: dict[str, float] = {}  # waiting clients, and idle ones still ahead of the queue's clock
        self._now = 0.0
        self._arrivals = 0  # ties go to the client that started waiting first
        self._since: dict[str, int] = {}
        self._size = 0
        self._stopped = False
        self._ready = threading.Condition()

    def qsize(self) -> int:
        return self._size

    def put(self, item: Any, client: str, cost: float) -> None:
        """Queue ``item`` for ``client``.

        Raises:
            QueueFull: ``max_queued`` searches are already waiting.
        """
        self.put_many([item], client, [cost])

    def put_many(self, items: list[Any], client: str, costs: list[float]) -> None:
        """Queue all of ``items`` or, if they do not fit, none (a request is answered whole).

        Raises:
            QueueFull: they would pass ``max_queued``.
        """
        with self._ready:
            if self._size + len(items) > self.max_queued:
                raise QueueFull(f"{self._size} searches are waiting; {len(items)} more would pass the most this "
                                f"service queues ({self.max_queued})")
            self._line(client).extend(zip(items, costs, strict=True))
            self._size += len(items)
            self._ready.notify()

    def put_front(self, items: list[Any], client: str, costs: list[float]) -> None:
        """Queue ``items``, in order, first in ``client``'s line, whatever the bound: the
        next steps of searches already admitted (the client's next turns finish what it began)."""
        with self._ready:
            self._line(client).extendleft(reversed(list(zip(items, costs, strict=True))))
            self._size += len(items)
            self._ready.notify()

    def _line(self, client: str) -> deque[tuple[Any, float]]:
        """``client``'s line; one that starts waiting starts from the queue's clock, not from when it last asked."""
        if client not in self._lines:
            self._lines[client] = deque()
            self._clock[client] = max(self._clock.get(client, -self.credit), self._now - self.credit)
            self._arrivals += 1
            self._since[client] = self._arrivals
        return self._lines[client]

    def stop(self) -> None:
        """Let the worker finish what is queued, then get :data:`STOP`."""
        with self._ready:
            self._stopped = True
            self._ready.notify_all()

    def take(self, slice_cost: float, wait: float, max_items: int = 64) -> list[Any] | object:
        """The next batch: blocks until something is queued, then takes searches in fair
        order while the batch's cost stays within ``slice_cost`` (a first search costlier
        than a slice goes alone), waiting up to ``wait`` seconds for more to join while
        there is room. :data:`STOP` once stopped and empty."""
        with self._ready:
            while self._size == 0:
                if self._stopped:
                    return STOP
                self._ready.wait()
            deadline = time.monotonic() + wait
            taken, cost = [], 0.0
            while len(taken) < max_items:
                if self._size == 0:
                    left = deadline - time.monotonic()
                    if left <= 0 or self._stopped or not self._ready.wait(left):
                        break
                    continue
                # the lowest clock; at equal clocks the client waiting longest
                client = min(self._lines, key=lambda c: (self._clock[c], self._since[c]))
                line = self._lines[client]
                if taken and cost + line[0][1] > slice_cost:  # it would pass the slice: the next batch's
                    break
                item, item_cost = line.popleft()
                self._size -= 1
                self._now = max(self._now, self._clock[client])  # never back: idlers' credit stays bounded
                self._clock[client] += item_cost
                if not line:
                    del self._lines[client], self._since[client]
                taken.append(item)
                cost += item_cost
            # idle clients whose clock is a credit behind the queue's would start there anyway
            for idle in [c for c, at in self._clock.items() if c not in self._lines and at <= self._now - self.credit]:
                del self._clock[idle]
            return taken
