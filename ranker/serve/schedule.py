"""Which queued searches the worker takes next: fair across clients, bounded in cost.

One worker owns the models, so whatever it takes, everyone else waits for. A
first-come queue lets one client's 64 long queries at ``k=100`` hold everyone for
seconds. Here each client (a connection, or an ``X-Client-ID``) has its own queue;
the worker takes one search from each client in turn, and stops adding to a batch
once its estimated cost reaches a slice, so a small request waits behind at most
one slice of a large one. Costs are estimates in milliseconds of this 2-core
machine, from the stage timings of ``GET /stats`` (docs/serve.md): they only need
to rank requests and bound a slice, not to be exact.

Written here rather than taken from a library: the unit scheduled is one query of
our pipeline, and its cost depends on our stages (asyncio and thread pools
schedule tasks, not work inside one worker's batches).

Example:
    >>> queue = FairQueue(max_queued=10)
    >>> for n in range(3):
    ...     queue.put(f"big-{n}", client="a", cost=100.0)
    >>> queue.put("small", client="b", cost=1.0)
    >>> queue.take(slice_cost=150.0, wait=0.0)  # one from each client in turn (the newest first), within the slice
    ['small', 'big-0']
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict, deque
from typing import Any


class QueueFull(RuntimeError):
    """More searches are waiting than the service takes: the client should retry later (429)."""


#: what :meth:`FairQueue.take` returns once :meth:`FairQueue.stop` was called and nothing is left
STOP = object()


def estimated_cost(k: int, query_chars: int, rerank_pairs: int, tokens: int) -> float:
    """A search's estimated milliseconds on the worker: the first stage grows with the
    query's length, the hits (snippets) with ``k``, the reranking with its pairs and
    their tokens.

    Example:
        >>> estimated_cost(k=10, query_chars=20, rerank_pairs=10, tokens=128) < estimated_cost(100, 1000, 10, 128)
        True
    """
    return 2.0 + query_chars / 40 + 1.0 * k + rerank_pairs * tokens / 13.0


class FairQueue:
    """Per-client queues taken round-robin, in slices of bounded cost; thread-safe."""

    def __init__(self, max_queued: int) -> None:
        self.max_queued = max_queued
        self._clients: OrderedDict[str, deque[tuple[Any, float]]] = OrderedDict()
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
        with self._ready:
            if self._size >= self.max_queued:
                raise QueueFull(f"{self._size} searches are waiting, the most this service queues")
            self._line(client).append((item, cost))
            self._size += 1
            self._ready.notify()

    def put_many(self, items: list[Any], client: str, costs: list[float]) -> None:
        """Queue all of ``items`` or, if they do not fit, none (a request is answered whole)."""
        with self._ready:
            if self._size + len(items) > self.max_queued:
                raise QueueFull(f"{self._size} searches are waiting; {len(items)} more would pass the most this "
                                f"service queues ({self.max_queued})")
            self._line(client).extend(zip(items, costs, strict=True))
            self._size += len(items)
            self._ready.notify()

    def _line(self, client: str) -> deque:
        """``client``'s queue; a client new to the queue goes first, as it has had no turn yet."""
        if client not in self._clients:
            self._clients[client] = deque()
            self._clients.move_to_end(client, last=False)
        return self._clients[client]

    def stop(self) -> None:
        """Let the worker finish what is queued, then get :data:`STOP`."""
        with self._ready:
            self._stopped = True
            self._ready.notify_all()

    def take(self, slice_cost: float, wait: float, max_items: int = 64) -> list[Any] | object:
        """The next batch: blocks until something is queued, then takes one item per
        client in turn while the batch's cost stays within ``slice_cost`` (a first item
        costlier than a slice goes alone), waiting up to ``wait`` seconds for more to join
        while there is room. :data:`STOP` once stopped and empty."""
        with self._ready:
            while self._size == 0:
                if self._stopped:
                    return STOP
                self._ready.wait()
            deadline = time.monotonic() + wait
            taken, cost = [], 0.0
            while len(taken) < max_items and cost < slice_cost:
                if self._size == 0:
                    left = deadline - time.monotonic()
                    if left <= 0 or self._stopped or not self._ready.wait(left):
                        break
                    continue
                for client in list(self._clients):  # one from each client, in the order they came
                    line = self._clients[client]
                    if taken and cost + line[0][1] > slice_cost:  # it would pass the slice: the next batch's
                        return taken
                    item, item_cost = line.popleft()
                    self._size -= 1
                    if not line:
                        del self._clients[client]
                    else:
                        self._clients.move_to_end(client)  # its next one waits for the others' turn
                    taken.append(item)
                    cost += item_cost
                    if len(taken) >= max_items or cost >= slice_cost:
                        break
            return taken
