"""What the service is doing, for whoever operates it: ``GET /metrics`` in the
Prometheus text format, and a request id on every response and its log line.

Counted per request, by endpoint (the route's template, so ids do not multiply the
series) and status: ``ranker_requests_total`` and ``ranker_request_seconds``.
Read from the service when scraped: batches, queries, the worker's seconds per
stage, the queue's depth, readiness and the index version served.

Example:
    >>> from fastapi.testclient import TestClient
    >>> from ranker.serve.routes import create_app
    >>> from ranker.serve.service import ServiceConfig
    >>> app = create_app(ServiceConfig(index="indexes/news"))
    >>> with TestClient(app) as client:
    ...     _ = app.state.service.wait_ready()
    ...     answer = client.get("/health", headers={"X-Request-ID": "probe-1"})
    ...     text = client.get("/metrics").text
    >>> answer.headers["x-request-id"], 'ranker_requests_total{endpoint="/health",status="200"} 1.0' in text
    ('probe-1', True)
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from ranker.core.display import visible

log = logging.getLogger("ranker.serve")

#: a request id a client or proxy sends is kept if it is this short and plain; otherwise we make one
GIVEN_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
#: request latency buckets, in seconds: from a plain search to a large reranked batch
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


def new_registry(service) -> Any:
    """A registry of this app's own (never the process-wide default, which a second
    app in the same process would collide with), reading ``service`` when scraped."""
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    registry.register(_ServiceCollector(service))
    return registry


class RequestMetrics:
    """ASGI middleware: each request gets an id (``X-Request-ID``, the client's if it
    sent a plain one), counted and timed by endpoint and status, and one log line."""

    def __init__(self, app, registry) -> None:
        from prometheus_client import Counter, Histogram

        self.app = app
        self.requests = Counter("ranker_requests", "HTTP requests by endpoint and status", ["endpoint", "status"],
                                registry=registry)
        self.latency = Histogram("ranker_request_seconds", "HTTP request latency by endpoint", ["endpoint"],
                                 registry=registry, buckets=BUCKETS)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if GIVEN_ID.fullmatch(given) else uuid.uuid4().hex
        status = [500]  # what a request that raised past every handler amounts to

        async def send_with_id(message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", request_id.encode())]}
            await send(message)

        began = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - began
            endpoint = getattr(scope.get("route"), "path", None) or "other"  # FastAPI puts the matched route there
            self.requests.labels(endpoint, str(status[0])).inc()
            self.latency.labels(endpoint).observe(seconds)
            log.info("request %s: %s %s -> %d in %.1f ms", request_id, scope["method"], visible(scope["path"][:200]),
                     status[0], 1000 * seconds)


class _ServiceCollector:
    """The service's own counters, read at each scrape."""

    def __init__(self, service) -> None:
        self.service = service

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        service, stats = self.service, self.service.stats
        yield CounterMetricFamily("ranker_batches", "batches of searches the worker ran", value=stats["batches"])
        yield CounterMetricFamily("ranker_queries", "queries the worker searched", value=stats["queries"])
        stages = CounterMetricFamily("ranker_stage_seconds", "the worker's seconds in each stage", labels=["stage"])
        for stage, seconds in stats["seconds"].items():
            stages.add_metric([stage], seconds)
        yield stages
        yield GaugeMetricFamily("ranker_queue_depth", "searches waiting for the worker", value=service.queue_depth)
        yield GaugeMetricFamily("ranker_ready", "1 while searches are answered", value=float(service.ready))
        served = GaugeMetricFamily("ranker_index_version", "the index version served (1 on its label)",
                                   labels=["version"])
        if service.generation is not None:
            served.add_metric([str(service.generation.version)], 1.0)
        yield served
