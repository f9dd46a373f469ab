"""`ranker serve`: every endpoint and every bad request over real HTTP on loopback,
answers equal to `ranker search/query --json`, an index update under load, the
CLI's start, refusal and SIGTERM, and the page in headless Chromium."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor

import pytest

from pipelines.search_page import api_page_operations, find_chromium, serving, use_page


def call(url: str, path: str, body: dict | str | None = None, method: str | None = None) -> tuple[int, dict]:
    data = None if body is None else (body if isinstance(body, str) else json.dumps(body)).encode()
    request = urllib.request.Request(url.rstrip("/") + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"} if data is not None else {})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            raw, status = response.read(), response.status
    except urllib.error.HTTPError as err:
        raw, status = err.read(), err.code
    return status, json.loads(raw)


@contextlib.contextmanager
def serving_index(index, **settings):
    """``index`` served (with :class:`~ranker.serve.service.ServiceConfig` ``settings``) on a free
    loopback port until the block ends; yields its URL once it is ready."""
    from ranker.serve.routes import create_app
    from ranker.serve.service import ServiceConfig

    app = create_app(ServiceConfig(index=index, **settings))
    url, stop = serving(app)
    try:
        assert app.state.service.wait_ready(120), app.state.service.error
        yield url
    finally:
        stop()


@pytest.fixture(scope="module")
def served(demo_world):
    """The demo world's index and reranker, served on a free loopback port."""
    with serving_index(demo_world / "indexes/news", reranker=str(demo_world / "models/demo/model/model")) as url:
        yield url, demo_world


@pytest.mark.timeout(300)
def test_every_endpoint_answers(served):
    url, world = served
    status, health = call(url, "/health")
    assert status == 200 and health["status"] == "ready" and health["documents"] == 6
    assert set(health["retrievers"]) == {"bm25", "dense", "hybrid"}
    status, found = call(url, "/search?q=oil+prices&k=3")
    assert status == 200 and found["reranked"] and found["retriever"] == "hybrid" and len(found["hits"]) == 3
    hit = found["hits"][0]
    assert {"doc_id", "title", "snippet", "marks", "score", "metadata", "why", "rank", "before"} <= set(hit)
    assert hit["metadata"]["outlet"] == "Test" and hit["metadata"]["url"].startswith("http://example.org/")
    assert set(hit["why"]) == {"first_stage", "bm25", "dense", "cross_encoder"}
    assert hit["why"]["first_stage"]["rank"] == hit["before"] and hit["why"]["cross_encoder"]["depth"] == 10
    # the marks fall on words of the query
    marked = [h["snippet"][start:end].lower() for h in found["hits"] for start, end in h["marks"]]
    assert marked and all(word.startswith(("oil", "price")) for word in marked)
    status, plain = call(url, "/search?q=oil+prices&k=3&rerank=false&retriever=bm25")
    assert status == 200 and not plain["reranked"] and set(plain["hits"][0]["why"]) == {"first_stage", "bm25"}
    status, many = call(url, "/search", {"queries": ["oil prices", "dam broke"], "k": 2})
    assert status == 200 and [r["query"] for r in many["results"]] == ["oil prices", "dam broke"]
    status, document = call(url, f"/documents/{hit['doc_id']}")
    assert status == 200 and document["title"] == hit["title"] and document["text"]
    status, facets = call(url, "/facets")
    assert status == 200 and facets["outlets"] == {"Test": 6} and facets["date_from"] == "2017-01-01"
    # filters: one date keeps one article
    status, dated = call(url, "/search?q=oil&date_from=2017-01-03&date_to=2017-01-03&rerank=false")
    assert status == 200 and all(h["metadata"]["date"] == "2017-01-03" for h in dated["hits"])
    status, none = call(url, "/search?q=oil&outlet=Nowhere")
    assert status == 200 and none["hits"] == []
    with urllib.request.urlopen(url, timeout=30) as page:
        html = page.read().decode()
    assert "<form" in html and "http://" not in html.replace("http://example", "")  # no outside fonts or scripts
    status, schema = call(url, "/openapi.json")
    assert status == 200 and {"/search", "/documents/{doc_id}", "/health", "/facets"} <= set(schema["paths"])


@pytest.mark.timeout(300)
@pytest.mark.parametrize("path, body, status, says", [
    ("/search?q=", None, 400, "the query is empty"),
    ("/search?q=%20%20", None, 400, "the query is empty"),
    ("/search?q=" + "a" * 1001, None, 400, "at most 1000"),
    ("/search?q=oil&k=0", None, 400, "k must be between 1 and 100"),
    ("/search?q=oil&k=101", None, 400, "k must be between 1 and 100"),
    ("/search?q=oil&k=ten", None, 422, "k: Input should be a valid integer"),
    ("/search?q=oil&retriever=lucene", None, 422, "retriever: Input should be"),
    ("/search?q=oil&date_from=2017-02-30", None, 400, "date_from must be a date written YYYY-MM-DD"),
    ("/search", None, 422, "give a query"),
    ("/search", "{not json", 422, "not valid JSON"),
    ("/search", {"queries": []}, 422, "queries: List should have at least 1 item"),
    ("/search", {"queries": ["oil"], "kk": 3}, 422, "kk: Extra inputs are not permitted"),
    ("/search", {"queries": ["oil", ""]}, 400, "the query is empty"),
    ("/search", {"queries": ["oil"] * 65}, 422, "queries: List should have at most 64 items"),
    ("/search?q=oil&date_from=2020-W01-1", None, 400, "date_from must be a date written YYYY-MM-DD"),
    ("/search?q=oil&date_from=2017-02-01&date_to=2017-01-01", None, 400, "is after date_to"),
    ("/search", {"queries": ["oil"], "k": True}, 422, "k: Input should be a valid integer"),
    ("/search", {"queries": ["oil"], "rerank": "yes"}, 422, "rerank: Input should be a valid boolean"),
    ("/search", '"oil"', 422, "not a JSON object"),
    ("/documents/no-such-id", None, 404, "no document with id 'no-such-id'"),
    ("/nowhere", None, 404, "no such endpoint: /nowhere"),
])
def test_a_bad_request_gets_a_4xx_that_says_what_to_fix(served, path, body, status, says):
    got, answer = call(served[0], path, body)
    assert got == status and says in answer["error"], answer
    assert set(answer) == {"error"}


@pytest.mark.timeout(300)
def test_an_unexpected_error_is_a_500_in_one_line(served, monkeypatch, caplog):
    from ranker.serve import steps

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(steps, "find", broken)
    with caplog.at_level("ERROR"):
        status, answer = call(served[0], "/search?q=oil")
    assert status == 500 and answer == {"error": "internal error (RuntimeError); the server's log has the details"}
    assert "disk on fire" in caplog.text


@pytest.mark.timeout(300)
def test_answers_equal_the_command_lines(served, capsys):
    from ranker.cli import main

    url, world = served
    index, model = world / "indexes/news", world / "models/demo/model/model"
    for query in ("oil prices", "the dam broke", "OPEC output meeting"):
        assert main(["search", str(index), query, "-k", "4", "--json"]) == 0
        expected = json.loads(capsys.readouterr().out)["hits"]
        _, got = call(url, f"/search?q={urllib.parse.quote(query)}&k=4&rerank=false")
        assert [{k: v for k, v in h.items() if k != "why"} for h in got["hits"]] == expected
        assert main(["query", str(index), query, "-k", "4", "--json", "--reranker", str(model)]) == 0
        expected = json.loads(capsys.readouterr().out)["hits"]
        _, got = call(url, f"/search?q={urllib.parse.quote(query)}&k=4")
        assert [h["doc_id"] for h in got["hits"]] == [h["doc_id"] for h in expected]
        assert [h["before"] for h in got["hits"]] == [h["before"] for h in expected]
        for mine, theirs in zip(got["hits"], expected, strict=True):
            assert mine["score"] == pytest.approx(theirs["score"], abs=1e-4)


@pytest.mark.timeout(300)
def test_concurrent_queries_are_batched_and_each_gets_its_own_answer(served):
    url, _ = served
    queries = ["oil prices", "dam broke", "OPEC output", "central bank", "election results", "football match"] * 4

    def ask(query: str) -> tuple[str, int, dict]:
        status, answer = call(url, f"/search?q={urllib.parse.quote(query)}&k=3")
        return query, status, answer

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(ask, queries))
    assert all(status == 200 and answer["query"] == query for query, status, answer in answers)
    alone = {q: call(url, f"/search?q={urllib.parse.quote(q)}&k=3")[1] for q in set(queries)}
    for query, _, answer in answers:  # batched or alone, the same hits
        assert [h["doc_id"] for h in answer["hits"]] == [h["doc_id"] for h in alone[query]["hits"]]


@pytest.mark.timeout(600)
def test_an_index_update_under_load_loses_no_request_and_mixes_no_versions(demo_copy, tiny_model):
    from ranker.data.records import Article
    from ranker.index.update import update_index

    index = demo_copy / "indexes/news"
    with serving_index(index, watch_every=0.1) as url:
        old = call(url, "/health")[1]["index_version"]
        answers, done = [], threading.Event()

        def client() -> None:
            while not done.is_set():
                answers.append(call(url, "/search?q=zebra+quokka&k=3&retriever=bm25"))

        clients = [threading.Thread(target=client, daemon=True) for _ in range(4)]
        for thread in clients:
            thread.start()
        update_index(index, [Article("new", "Zebra quokka", "A zebra met a quokka at the zoo.", {"outlet": "Test"})],
                     show_progress=False)
        deadline = time.monotonic() + 60
        while call(url, "/health")[1]["index_version"] == old and time.monotonic() < deadline:
            time.sleep(0.1)
        for _ in range(20):  # some answers from the new version too
            answers.append(call(url, "/search?q=zebra+quokka&k=3&retriever=bm25"))
        done.set()
        for thread in clients:
            thread.join(60)
    assert answers and all(status == 200 for status, _ in answers), [a for s, a in answers if s != 200][:3]
    versions = {answer["index_version"] for _, answer in answers}
    assert old in versions and len(versions) == 2
    for _, answer in answers:  # wholly old (no such article) or wholly new (it comes first)
        ids = [h["doc_id"] for h in answer["hits"]]
        assert ("new" in ids) == (answer["index_version"] != old), answer
        if answer["index_version"] != old:
            assert ids[0] == "new"


@pytest.mark.timeout(120)
def test_head_requests_answer_like_get(served):
    for path in ("/", "/health"):
        request = urllib.request.Request(served[0].rstrip("/") + path, method="HEAD")
        with urllib.request.urlopen(request, timeout=30) as response:
            assert response.status == 200 and response.read() == b""


def _raw(url: str, head: bytes, body: bytes = b"") -> bytes:
    """Send a request as bytes (headers a client library would not send) and read the answer."""
    import socket

    host, port = urllib.parse.urlsplit(url).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head + body)
        answer = b""
        while True:  # the whole answer: its headers, then as many bytes as they announce (or until it closes)
            piece = sock.recv(65536)
            answer += piece
            top, _, rest = answer.partition(b"\r\n\r\n")
            length = re.search(rb"(?i)content-length: *(\d+)", top)
            if not piece or (length and len(rest) >= int(length.group(1))):
                return answer


@pytest.mark.timeout(120)
@pytest.mark.parametrize("headers, status, says", [
    (b"Content-Length: 5000000", b"413", b"at most 1,048,576"),
    (b"Transfer-Encoding: chunked", b"411", b"Content-Length"),
])
def test_a_huge_or_unsized_body_is_refused_before_it_is_read(served, headers, status, says):
    answer = _raw(served[0], b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" + headers
                  + b"\r\n\r\n")
    assert answer.split(b" ")[1] == status and says in answer


@pytest.mark.timeout(120)
@pytest.mark.parametrize("head, status, says", [
    (b"GET /search?q=" + b"oil+" * 250_000 + b" HTTP/1.1\r\nHost: x\r\n", b"414", b"at most 16,384"),  # 1 MB URL
    (b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n", b"431", b"at most 32,768"),
])
def test_an_over_long_url_or_header_gets_the_services_json_error(served, head, status, says):
    answer = _raw(served[0], head + b"\r\n")
    top, _, body = answer.partition(b"\r\n\r\n")
    assert answer.split(b" ")[1] == status and b"application/json" in top.lower()
    assert says in json.loads(body)["error"].encode()


def test_metrics_parse_as_prometheus_text_and_every_response_has_a_request_id(served, caplog):
    import logging

    from prometheus_client.parser import text_string_to_metric_families

    base = served[0].rstrip("/")
    with caplog.at_level(logging.INFO, logger="ranker.serve"):
        request = urllib.request.Request(base + "/search?q=oil+prices&k=2", headers={"X-Request-ID": "trace-42"})
        with urllib.request.urlopen(request, timeout=60) as response:
            assert response.headers["X-Request-ID"] == "trace-42"
        with urllib.request.urlopen(base + "/health", timeout=30) as response:  # none given: one is made
            assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])
        evil = "evil\u2028id".encode().decode("latin-1")  # bytes a header may carry, not a plain id
        bad = urllib.request.Request(base + "/health", headers={"X-Request-ID": evil})
        with urllib.request.urlopen(bad, timeout=30) as response:  # not a plain id: replaced, never echoed
            assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])
        status, _ = call(base, "/search?q=")  # an error is counted with its status
        assert status == 400
        text = urllib.request.urlopen(base + "/metrics", timeout=30).read().decode()
    assert any("request trace-42: GET /search -> 200" in r.getMessage() for r in caplog.records)
    families = {f.name: f for f in text_string_to_metric_families(text)}
    requests = {(s.labels["endpoint"], s.labels["status"]): s.value for s in families["ranker_requests"].samples
                if s.name == "ranker_requests_total"}
    assert requests[("/search", "200")] >= 1 and requests[("/search", "400")] >= 1
    assert {"ranker_request_seconds", "ranker_batches", "ranker_queries", "ranker_stage_seconds",
            "ranker_queue_depth", "ranker_ready", "ranker_index_version"} <= set(families)
    assert families["ranker_ready"].samples[0].value == 1.0
    assert {s.labels["stage"] for s in families["ranker_stage_seconds"].samples} >= {"first_stage", "rerank", "hits"}


def test_the_api_page_needs_no_network(served):
    page = urllib.request.urlopen(served[0] + "docs", timeout=30).read().decode()
    assert "/docs-assets/swagger-ui-bundle.js" in page and "cdn" not in page.lower()
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        with urllib.request.urlopen(served[0] + "docs-assets/" + asset, timeout=30) as response:
            assert response.status == 200 and len(response.read()) > 10_000


@pytest.mark.timeout(120)
def test_a_client_that_leaves_leaves_no_work_behind(served, monkeypatch):
    """Queries still queued when their client disconnects are dropped, not computed."""
    import socket

    from ranker.serve import steps

    searched = steps.find

    def slow(*args, **kwargs):  # the tiny model is too quick to leave anything queued
        time.sleep(0.2)
        return searched(*args, **kwargs)

    monkeypatch.setattr(steps, "find", slow)
    url, _ = served
    host, port = urllib.parse.urlsplit(url).netloc.split(":")
    stats = call(url, "/stats")[1]
    body = json.dumps({"queries": [f"oil prices {n}" for n in range(64)], "k": 3}).encode()
    for _ in range(4):  # four clients that send a full batch each and hang up at once
        with socket.create_connection((host, int(port))) as sock:
            sock.sendall(b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
    time.sleep(2.0)
    assert call(url, "/search?q=oil&k=1")[0] == 200
    done = call(url, "/stats")[1]["queries"] - stats["queries"]
    assert done < 2 * 64, f"{done} of {4 * 64} queries computed for clients that had gone"


def _serve(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ranker", "serve", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


@pytest.mark.timeout(300)
def test_the_command_starts_serves_and_drains_on_sigterm(demo_world):
    process = _serve(str(demo_world / "indexes/news"), "--port", "0",
                     "--reranker", str(demo_world / "models/demo/model/model"), "--batch-wait-ms", "1000")
    lines = []
    for line in process.stderr:
        lines.append(line)
        if "ready in" in line:
            break
    ready = re.search(r"ready in [\d.]+ s: (http://127\.0\.0\.1:\d+/)", "".join(lines))
    assert ready, "".join(lines)
    url = ready.group(1)
    slow = ThreadPoolExecutor(1).submit(call, url, "/search", {"queries": ["oil prices"] * 16, "k": 5})
    # it arrives well within 0.3 s, then waits 1 s for company (--batch-wait-ms): in flight when the signal comes
    time.sleep(0.3)
    process.send_signal(signal.SIGTERM)
    status, answer = slow.result(60)  # in flight when the signal came: answered
    assert status == 200 and len(answer["results"]) == 16
    # uvicorn answers what is in flight, then exits as the signal asks (status -SIGTERM), not with an error
    assert process.wait(60) in (0, -signal.SIGTERM)
    assert "Traceback" not in process.stderr.read()


@pytest.mark.timeout(120)
@pytest.mark.parametrize("args, says", [
    (["nowhere"], "not an index folder"),
    (["INDEX", "--reranker", "no-model"], "not a model folder"),
    (["INDEX", "--reranker", "MODELS"], "did you mean"),
    (["INDEX", "--port", "99999"], "--port"),
    (["INDEX", "--host", "nohost.invalid"], "--host: cannot listen on nohost.invalid"),
])
def test_the_command_refuses_bad_input_in_one_line(demo_world, args, says):
    named = {"INDEX": demo_world / "indexes/news", "MODELS": demo_world / "models/demo/model"}
    args = [str(named.get(a, a)) for a in args]
    process = _serve(*args)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2 and says in err and "Traceback" not in err, err


@pytest.mark.timeout(120)
def test_a_second_ctrl_c_stops_at_once_without_a_traceback(demo_world):
    process = _serve(str(demo_world / "indexes/news"), "--port", "0")
    for line in process.stderr:
        if "ready in" in line:
            break
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert "Traceback" not in err and "FATAL" not in err and process.returncode in (0, 130, -signal.SIGINT), err


@pytest.mark.timeout(120)
def test_a_taken_port_is_one_line(demo_world):
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        process = _serve(str(demo_world / "indexes/news"), "--port", str(taken.getsockname()[1]))
        out, err = process.communicate(timeout=60)
    assert process.returncode == 2 and "cannot listen on 127.0.0.1" in err and "--port" in err
    assert "Traceback" not in err


@pytest.mark.timeout(300)
def test_the_page_in_headless_chromium(served, tmp_path):
    browser = find_chromium()
    if browser is None:
        if os.environ.get("RANKER_BROWSER_TEST") == "required":
            pytest.fail("Chromium is required here (RANKER_BROWSER_TEST=required) but not installed: "
                        "apt-get install chromium")
        pytest.skip("no Chromium on this machine (CI installs it)")
    shot = tmp_path / "search.png"
    seen = use_page(served[0], "oil prices", shot, browser, width=420, height=900)  # a phone-width window
    assert seen["results"] >= 1 and seen["marks"] >= 1 and seen["outlets"] == 1
    assert "results in" in seen["status"] and "cross-encoder" in seen["why"] and "bm25" in seen["why"]
    import matplotlib.image

    pixels = matplotlib.image.imread(shot)
    assert pixels.shape[1] == 420 and pixels[..., :3].std() > 0.05
    # the API page draws every operation with the network cut off: its scripts come from the server
    assert api_page_operations(served[0], browser) >= 6


@pytest.mark.timeout(300)
def test_a_broken_index_folder_leaves_the_loaded_version_serving(demo_copy, caplog):
    index = demo_copy / "indexes/news"
    with serving_index(index, watch_every=0.05) as url:
        version = call(url, "/health")[1]["index_version"]
        with caplog.at_level("WARNING", logger="ranker.serve"):
            (index / "manifest.json").write_text("{ not json")  # someone broke it
            time.sleep(1.0)
            answers = [call(url, "/search?q=oil+prices&k=2") for _ in range(5)]
        assert all(status == 200 and answer["index_version"] == version for status, answer in answers)
        assert call(url, "/documents/1")[0] == 200
        warnings = [r for r in caplog.records if "could not be loaded" in r.getMessage()]
        assert len(warnings) == 1, [r.getMessage() for r in warnings]  # said once, not at every check


@pytest.mark.timeout(60)
@pytest.mark.parametrize("out", ["notes.txt", ".", "INDEX"])
def test_the_page_picture_never_replaces_what_is_not_a_picture(demo_copy, out):
    from pipelines.search_page import main

    (demo_copy / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit) as stopped:
        main(["--index", "indexes/news", "--out", "indexes/news" if out == "INDEX" else out])
    assert stopped.value.code == 2 and (demo_copy / "notes.txt").read_text() == "mine"
