"""The HTTP face of :class:`ranker.serve.service.Service`: a JSON API and a search page (FastAPI).

Endpoints (documented at ``/docs``, the OpenAPI page):

- ``GET /search?q=…&k=…&retriever=…&rerank=…&outlet=…&date_from=…&date_to=…``: one query's hits
- ``POST /search`` with ``{"queries": [...], "k": …, ...}``: several at once
- ``GET /documents/{id}``: one article; ``GET /facets``: outlets and dates, for filters
- ``GET /stats``: batches, queries and seconds per stage since the start
- ``GET /metrics``: the same and more in the Prometheus text format (:mod:`ranker.serve.metrics`)
- ``GET /health``: 200 when a real search through every retriever answers; 503 while loading,
  when loading failed, or when a file of the index is damaged (with why)
- ``GET /``: the search page (one self-contained HTML file: no fonts, scripts or styles from elsewhere)

Every error is JSON ``{"error": "…"}``: 4xx says what to fix in the request;
an unexpected failure is a 500 with one line, its traceback in the log.

The routes are plain module-level functions on one router; each finds the
service the app was made with in ``request.app.state.service``.

Example:
    >>> from fastapi.testclient import TestClient
    >>> app = create_app(ServiceConfig(index="indexes/news"))
    >>> with TestClient(app) as client:  # the service loads in the background: /health says when it is ready
    ...     ready = app.state.service.wait_ready()
    ...     found = client.get("/search", params={"q": "Brexit Article 50", "k": 1, "retriever": "bm25"}).json()
    >>> ready, found["hits"][0]["title"]
    (True, 'Brexit letter sent')
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from importlib import resources
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from ranker import __version__
from ranker.serve.metrics import RequestMetrics, new_registry
from ranker.serve.schedule import QueueFull
from ranker.serve.service import FILE_ERRORS, Overdue, SearchRequest, Service, ServiceConfig, Unavailable

log = logging.getLogger("ranker.serve")

#: the most queries one POST may carry, and the largest body taken (64 queries of 1,000 characters fit)
MAX_QUERIES = 64
MAX_BODY = 1 << 20
#: the longest URL (path and query string, in bytes: a 1,000-character query escaped fits) and the
#: most header bytes a request may send; over them, a JSON 414 or 431
MAX_URL = 16 * 1024
MAX_HEADERS = 32 * 1024
#: where /docs takes swagger-ui's script and styles from: this server, not a CDN
DOCS_ASSETS = "/docs-assets"
#: how often a waiting request checks that its client is still there, in seconds
DISCONNECT_CHECK = 0.1
#: the hint for a POST body that is not the JSON object it should be
JSON_HINT = 'send a JSON object {"queries": ["…"]} with Content-Type: application/json'


class RequestLimits:
    """Refuse, before reading it, a URL over :data:`MAX_URL` (414), headers over
    :data:`MAX_HEADERS` (431), a body over :data:`MAX_BODY` (413) and a body of
    unknown length (411): a search request is small, and parsing a huge one costs
    the server memory. The HTTP layer is set to let such requests through to here
    (``server.py``), so they get the service's JSON error, not a plain-text one.
    Plain ASGI, so requests pass through untouched otherwise."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            refused = _over_a_limit(scope)
            if refused is not None:
                await refused(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _over_a_limit(scope) -> JSONResponse | None:
    """The JSON error for a request over one of the limits, or None."""
    url = len(scope.get("raw_path") or scope["path"].encode()) + len(scope.get("query_string", b""))
    if url > MAX_URL:
        return _error(414, f"the URL is {url:,} bytes; at most {MAX_URL:,} (send long or many queries with "
                      "POST /search)")
    header_bytes = sum(len(name) + len(value) for name, value in scope["headers"])
    if header_bytes > MAX_HEADERS:
        return _error(431, f"the headers are {header_bytes:,} bytes; at most {MAX_HEADERS:,}")
    headers = dict(scope["headers"])
    length = headers.get(b"content-length", b"")
    if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
        return _error(411, "send the body with a Content-Length (at most 1 MiB), not chunked")
    if length and (not length.isdigit() or int(length) > MAX_BODY):
        return _error(413, f"the body is {length.decode(errors='replace')} bytes; at most {MAX_BODY:,} "
                      f"({MAX_QUERIES} queries a request)")
    return None


class BatchSearch(BaseModel):
    """A POST /search body: several queries with the same settings."""

    model_config = {"extra": "forbid"}

    queries: list[str] = Field(min_length=1, max_length=MAX_QUERIES, description="the query texts")
    k: int = Field(10, strict=True, description="hits per query (1 to 100)")
    retriever: Literal["bm25", "dense", "hybrid"] | None = None
    rerank: bool = Field(True, strict=True)
    outlet: str | None = None
    date_from: str | None = Field(None, description="YYYY-MM-DD, inclusive")
    date_to: str | None = Field(None, description="YYYY-MM-DD, inclusive")


def _error(status: int, message: str, retry_after: int | None = None) -> JSONResponse:
    headers = None if retry_after is None else {"Retry-After": str(retry_after)}
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _validation_message(err: RequestValidationError) -> str:
    """Pydantic's first complaint as one sentence naming the parameter."""
    first = err.errors()[0]
    where = [str(part) for part in first.get("loc", ()) if part not in ("query", "body", "path")]
    if first.get("type") == "json_invalid":
        return f"the body is not valid JSON: {JSON_HINT}"
    if not where and first.get("type") in ("model_attributes_type", "dict_type", "missing"):
        return f"the body is not a JSON object: {JSON_HINT}"
    if first.get("type") == "missing" and where == ["q"]:
        return "give a query: /search?q=your+words"
    name = ".".join(where) or "the body"
    return f"{name}: {first.get('msg', 'invalid')}"


router = APIRouter()


def _service(request: Request) -> Service:
    return request.app.state.service


async def _invalid(request: Request, err: RequestValidationError) -> JSONResponse:
    return _error(422, _validation_message(err))


async def _http_error(request: Request, err: StarletteHTTPException) -> JSONResponse:
    if err.status_code == 404 and err.detail == "Not Found":
        return _error(404, f"no such endpoint: {request.url.path} (the API is described at /docs)")
    if err.status_code == 400 and str(err.detail).startswith("There was an error parsing the body"):
        return _error(400, f"the body could not be read: {JSON_HINT}")
    if err.status_code == 405:
        return _error(405, f"{request.method} is not allowed on {request.url.path} (the API is described at /docs)")
    return _error(err.status_code, str(err.detail))


async def _unexpected(request: Request, err: Exception) -> JSONResponse:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=err)
    return _error(500, f"internal error ({type(err).__name__}); the server's log has the details")


async def _answer(request: Request, requests: list[SearchRequest]) -> list[bytes] | JSONResponse:
    """The service's answers to ``requests`` as JSON texts, or the JSON error that stands
    for them; what is still queued is dropped when the client goes away or the deadline
    passes. The worker writes the JSON: FastAPI's own encoding of a 64-query answer held
    the event loop, and so every other client, for half a second."""
    service = _service(request)
    if not service.ready:
        return _error(503, f"not ready: {service.error or 'still loading the index and models'}")
    try:
        futures = service.submit_many(requests, client_of(request), encoded=True)
    except ValueError as err:
        return _error(400, str(err))
    except QueueFull as err:
        return _error(429, f"busy: {err}; retry in a second", retry_after=1)
    except RuntimeError as err:
        return _error(503, str(err))
    gathered = asyncio.gather(*(asyncio.wrap_future(f) for f in futures))
    ends = asyncio.get_running_loop().time() + service.config.deadline
    while True:
        done, _ = await asyncio.wait({gathered}, timeout=DISCONNECT_CHECK)
        if done:
            try:
                return list(gathered.result())
            except Unavailable as err:  # a damaged index file: say why, do not fail as a bug
                return _error(503, str(err))
            except Overdue as err:
                return _error(503, str(err), retry_after=1)
        gone = await request.is_disconnected()
        if gone or asyncio.get_running_loop().time() > ends:
            # the client has gone, or the deadline passed: what is still queued is dropped, not computed for nobody
            gathered.add_done_callback(lambda f: f.cancelled() or f.exception())  # nobody awaits it now
            for future in futures:
                future.cancel()
            if gone:
                return _error(499, "the client closed the request")
            return _error(503, f"not answered within the service's deadline of {service.config.deadline:g} s; "
                          "dropped", retry_after=1)


def client_of(request: Request) -> str:
    """Whose turn a request takes (ranker.serve.schedule): the ``X-Client-ID`` a proxy sends
    for the client behind it, else the connection's address and port."""
    given = request.headers.get("x-client-id", "")
    if given and len(given) <= 128:
        return "id:" + given
    peer = request.client
    return f"{peer.host}:{peer.port}" if peer else "unknown"


@router.get("/search", summary="Search with one query")
async def search(
    request: Request,
    q: str = Query(description="the query text (at most 1,000 characters)"),
    k: int = Query(10, description="how many hits (1 to 100)"),
    retriever: Literal["bm25", "dense", "hybrid"] | None = Query(None,
                                                                 description="default: hybrid when the index has both"),
    rerank: bool = Query(True, description="rerank with the cross-encoder, when the service has one"),
    outlet: str | None = Query(None, description="only this outlet's articles"),
    date_from: str | None = Query(None, description="only articles from this date on (YYYY-MM-DD)"),
    date_to: str | None = Query(None, description="only articles up to this date (YYYY-MM-DD)"),
):
    found = await _answer(request, [SearchRequest(q, k, retriever, rerank, outlet or None, date_from or None,
                                                  date_to or None)])
    return found if isinstance(found, JSONResponse) else Response(found[0], media_type="application/json")


@router.post("/search", summary="Search with several queries at once")
async def search_many(request: Request, body: BatchSearch):
    found = await _answer(request, [SearchRequest(q, body.k, body.retriever, body.rerank, body.outlet, body.date_from,
                                                  body.date_to) for q in body.queries])
    if isinstance(found, JSONResponse):
        return found
    return Response(b'{"results":[' + b",".join(found) + b"]}", media_type="application/json")


@router.get("/documents/{doc_id:path}", summary="One article by its id")
async def document(request: Request, doc_id: str):
    refused = _unreadable(request)
    if refused is not None:
        return refused
    try:
        found = await asyncio.to_thread(_service(request).generation.document, doc_id)
    except FILE_ERRORS as err:
        return _error(503, _read_failed(request, err))
    return found if found is not None else _error(404, f"no document with id '{doc_id}' in this index")


@router.get("/facets", summary="The outlets and dates of the index's articles")
async def facets(request: Request):
    refused = _unreadable(request)
    if refused is not None:
        return refused
    try:
        return await asyncio.to_thread(_service(request).generation.facets)
    except FILE_ERRORS as err:
        return _error(503, _read_failed(request, err))


def _unreadable(request: Request) -> JSONResponse | None:
    """The 503 for a read of the index's documents now (loading, or a file damaged), or None."""
    service = _service(request)
    if not service.ready:
        return _error(503, "not ready: still loading")
    broken = service.damage(service.generation)
    return None if broken is None else _error(503, broken)


def _read_failed(request: Request, err: Exception) -> str:
    """A read of the index's files failed: the service is unhealthy from now on; why."""
    return _service(request).mark_broken(f"reading the index failed ({type(err).__name__}: {err})")


@router.get("/health", summary="Ready to search (a real search through every retriever answered), or why not")
async def health(request: Request):
    service = _service(request)
    if not service.ready:
        return JSONResponse({"status": "failed" if service.error else "loading", "error": service.error},
                            status_code=503)
    wrong = service.damage(service.generation) or await asyncio.to_thread(service.probe)
    if wrong is not None:
        return JSONResponse({"status": "unhealthy", "error": wrong}, status_code=503)
    config, generation = service.config, service.generation

    def shown(path) -> str | None:  # a folder's name only, unless the operator asked for paths (--show-paths)
        return None if path is None else str(path) if config.show_paths else Path(path).name

    return {"status": "ready", "index": shown(config.index), "index_version": generation.version,
            "documents": generation.documents, "retrievers": generation.names, "reranker": shown(config.reranker),
            "reranker_files": service.model_changed or "as loaded", "loaded_in_s": round(service.loaded_in, 2)}


router.add_api_route("/health", health, methods=["HEAD"], include_in_schema=False)  # uptime checkers ask HEAD


@router.get("/stats", summary="What the service has done (batches, queries, seconds per stage), and its index")
async def stats(request: Request):
    service = _service(request)
    config = service.config
    limits = {"queries_per_request": MAX_QUERIES, "body_bytes": MAX_BODY, "url_bytes": MAX_URL,
              "header_bytes": MAX_HEADERS, "query_chars": config.max_query_chars, "k": config.max_k,
              "queued_searches": config.max_queued, "slice_ms": config.slice_ms, "deadline_s": config.deadline}
    generation = service.generation
    index = None
    if generation is not None:  # how the index stands: segments since its build, and deleted articles
        manifest = generation.index.manifest
        index = {"version": generation.version, "documents": generation.documents,
                 "segments": manifest.get("segments", 1), "deleted": manifest.get("deleted", 0),
                 **service.merges.stats()}
    return {**service.stats, "mean_batch": service.stats["queries"] / max(1, service.stats["batches"]),
            "queued": service.queue_depth, "limits": limits, "index": index}


@router.get("/metrics", summary="Requests, errors, latency, queue and index version (Prometheus text format)",
            response_class=PlainTextResponse)
async def metrics(request: Request):
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    return PlainTextResponse(generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)


@router.api_route("/", methods=["GET", "HEAD"], response_class=HTMLResponse, include_in_schema=False)
async def page(request: Request):
    return HTMLResponse(request.app.state.page)


def create_app(config: ServiceConfig, service: Service | None = None) -> FastAPI:
    """The application; the service starts loading when the app starts (so /health
    answers "loading" meanwhile) and drains its queue when the app stops."""
    service = service or Service(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        if not service.ready and service.error is None:
            service.start()
        yield
        service.close()

    app = FastAPI(title="ranker", summary="Search news articles: BM25, dense and a BERT cross-encoder",
                  version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.service = service
    app.state.metrics = new_registry(service)
    # read once, not per visit
    app.state.page = resources.files("ranker.serve").joinpath("search.html").read_text(encoding="utf-8")
    _local_docs(app)
    app.add_middleware(RequestLimits)
    app.add_middleware(RequestMetrics, registry=app.state.metrics)  # outermost: refusals are counted too
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)
    app.include_router(router)
    return app


def _local_docs(app: FastAPI) -> None:
    """``/docs``, the OpenAPI page, with swagger-ui's files served from the installed
    fastapi-offline package (only its files: swagger-ui 5, which reads the OpenAPI 3.1
    FastAPI writes): FastAPI's default loads them from a CDN, and the page is blank
    on a machine without internet."""
    from fastapi.openapi.docs import get_swagger_ui_html
    from fastapi.staticfiles import StaticFiles

    assets = resources.files("fastapi_offline") / "static"
    app.mount(DOCS_ASSETS, StaticFiles(directory=str(assets)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=app.openapi_url, title="ranker API",
                                   swagger_js_url=f"{DOCS_ASSETS}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{DOCS_ASSETS}/swagger-ui.css",
                                   swagger_favicon_url=f"{DOCS_ASSETS}/favicon.png")
