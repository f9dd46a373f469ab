"""Health that tells the truth: a damaged index file turns /health and every search into a
JSON 503 saying why, without a crash, until the file is restored; a changed model is
reported while searches go on. Each test runs `ranker serve` in its own process, as an
operator would, so that a crash would show as a dead process rather than kill the tests."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def _until(url: str, status: int, seconds: float) -> tuple[int, dict]:
    """GET ``url`` until it answers ``status`` or ``seconds`` pass; the last answer."""
    ends = time.monotonic() + seconds
    while True:
        found = _get(url)
        if found[0] == status or time.monotonic() > ends:
            return found
        time.sleep(0.1)


@pytest.fixture
def service(demo_copy):
    """``ranker serve`` over a writable copy of the demo's index and reranker: its URL and process."""
    process = subprocess.Popen([sys.executable, "-m", "ranker", "serve", "indexes/news", "--port", "0",
                                "--reranker", "models/demo/model/model"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    seen = []
    for line in process.stderr:
        seen.append(line)
        found = re.search(r"ready in [\d.]+ s: (http://127\.0\.0\.1:\d+/)", line)
        if found:
            break
    assert found, "".join(seen)
    import threading

    threading.Thread(target=lambda: [None for _ in process.stderr], daemon=True).start()  # never a full pipe
    yield found.group(1), process
    process.terminate()
    process.wait(60)


def _damage(path: Path, how: str) -> None:
    if how == "truncated":
        with open(path, "r+b") as handle:
            handle.truncate(max(0, path.stat().st_size // 3))
    else:  # replaced: other bytes renamed over it, as a careless copy would
        spare = path.with_name(path.name + ".new")
        spare.write_bytes(b"\0" * 64)
        os.replace(spare, path)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("name", ["docs.sqlite", "bm25/data.csc.index.npy", "dense/faiss.index"])
@pytest.mark.parametrize("how", ["truncated", "replaced"])
def test_a_damaged_index_file_is_a_503_saying_why_until_it_is_restored(service, name, how):
    url, process = service
    assert _get(url + "health")[0] == 200
    path = Path("indexes/news") / name
    original = path.read_bytes()
    _damage(path, how)
    status, answer = _until(url + "health", 503, 2.0)
    assert status == 503 and answer["status"] == "unhealthy" and name in answer["error"], answer
    status, answer = _get(url + "search?q=oil+prices")
    assert status == 503 and name in answer["error"]
    assert _get(url + "documents/1")[0] == 503 and _get(url + "facets")[0] == 503
    assert process.poll() is None  # no crash
    spare = path.with_name(path.name + ".restored")
    spare.write_bytes(original)  # restored, as from a backup
    os.replace(spare, path)
    status, answer = _until(url + "health", 200, 60)
    assert status == 200, answer
    status, answer = _get(url + "search?q=oil+prices&k=2")
    assert status == 200 and answer["hits"]


@pytest.mark.timeout(300)
def test_a_changed_model_is_reported_while_searches_go_on_and_paths_stay_hidden(service):
    url, process = service
    status, answer = _get(url + "health")
    assert (status, answer["index"], answer["reranker"], answer["reranker_files"]) == (200, "news", "model",
                                                                                         "as loaded")
    config = Path("models/demo/model/model/config.json")
    config.write_text(config.read_text() + "\n")
    ends = time.monotonic() + 5  # the watch looks every half second
    while (answer := _get(url + "health")[1])["reranker_files"] == "as loaded" and time.monotonic() < ends:
        time.sleep(0.1)
    assert answer["status"] == "ready" and "config.json changed on disk" in answer["reranker_files"], answer
    status, answer = _get(url + "search?q=oil+prices&k=2")
    assert status == 200 and answer["hits"][0]["why"].get("cross_encoder") is not None


def test_health_shows_paths_only_when_asked(demo_world):
    from fastapi.testclient import TestClient

    from ranker.serve.routes import create_app
    from ranker.serve.service import ServiceConfig

    index = demo_world / "indexes/news"
    for show, expected in ((False, "news"), (True, str(index))):
        app = create_app(ServiceConfig(index=index, show_paths=show))
        with TestClient(app) as client:
            assert app.state.service.wait_ready(120)
            assert client.get("/health").json()["index"] == expected


# -- fair and bounded: one client cannot stall the others (ranker.serve.schedule) ---------------


def test_a_small_request_waits_behind_at_most_one_slice_of_a_large_one():
    from ranker.serve.schedule import FairQueue

    queue = FairQueue(max_queued=100)
    queue.put_many([f"heavy-{n}" for n in range(64)], client="a", costs=[127.0] * 64)
    first = queue.take(slice_cost=60.0, wait=0.0)
    queue.put("light", client="b", cost=12.0)  # arrives while the first slice runs
    assert first == ["heavy-0"] and queue.take(slice_cost=60.0, wait=0.0) == ["light"]  # its turn comes next
    assert queue.take(slice_cost=60.0, wait=0.0) == ["heavy-1"]


def test_a_large_search_is_shown_at_its_next_turn_and_a_small_one_goes_between(demo_world):
    """Finding and showing are turns of their own (ranker.serve.steps): a light search
    that arrives while a heavy one is found is answered before the heavy one is shown."""
    from ranker.serve.generation import Generation
    from ranker.serve.request import SearchRequest
    from ranker.serve.service import Service, ServiceConfig

    service = Service(ServiceConfig(index=demo_world / "indexes/news"))  # driven by hand: no worker thread
    service.generation = Generation.load(service.config.index, "auto", "auto")
    service._ready.set()
    heavy = service.submit_many([SearchRequest("oil prices", k=100), SearchRequest("election", k=100)], "bulk")
    first = service._queue.take(service.config.slice_ms, wait=0.0)
    assert len(first) == 2  # finding both fits in a slice
    light = service.submit(SearchRequest("Brexit", k=5), "person")  # arrives while they are found
    service._run(first)
    assert not any(f.done() for f in heavy) and service.queue_depth == 3  # their showing waits for a turn
    second = service._queue.take(service.config.slice_ms, wait=0.0)
    assert second == [job for job in second if job.request.query == "Brexit"]  # the light one's turn first
    service._run(second)
    assert light.done() and not any(f.done() for f in heavy)
    while service.queue_depth:
        service._run(service._queue.take(service.config.slice_ms, wait=0.0))
    answers = [f.result(0) for f in heavy]
    assert [len(a["hits"]) for a in answers] == [service.generation.documents] * 2  # all six demo articles
    assert light.result(0)["hits"] and answers[0]["hits"][0]["title"] == "Oil prices fell sharply"


def test_clients_that_ask_again_at_once_take_equal_turns_and_none_starves():
    from collections import Counter

    from ranker.serve.schedule import FairQueue

    queue = FairQueue(max_queued=100)
    for n in range(16):
        queue.put(n, client=f"c{n}", cost=110.0)
    served, waited, asked = Counter(), {}, {n: 0 for n in range(16)}
    for turn in range(400):
        for n in queue.take(slice_cost=250.0, wait=0.0):  # each answered client asks again at once
            served[n] += 1
            waited[n] = max(waited.get(n, 0), turn - asked[n])
            asked[n] = turn
            queue.put(n, client=f"c{n}", cost=110.0)
    assert max(served.values()) - min(served.values()) <= 1 and max(waited.values()) <= 8  # 16 clients, 2 a batch


def test_a_full_queue_is_a_429_and_a_passed_deadline_a_503_both_with_retry_after(demo_world):
    from fastapi.testclient import TestClient

    from ranker.serve.routes import create_app
    from ranker.serve.service import ServiceConfig

    index = demo_world / "indexes/news"
    app = create_app(ServiceConfig(index=index, max_queued=2))
    with TestClient(app) as client:
        assert app.state.service.wait_ready(120)
        answer = client.post("/search", json={"queries": ["oil"] * 3})  # all or none: three do not fit in two
        assert answer.status_code == 429 and answer.headers["retry-after"] == "1"
        assert "the most this service queues (2)" in answer.json()["error"]
        assert client.post("/search", json={"queries": ["oil"] * 2}).status_code == 200
        assert client.get("/stats").json()["limits"]["queued_searches"] == 2
    app = create_app(ServiceConfig(index=index, deadline=1e-9))
    with TestClient(app) as client:
        assert app.state.service.wait_ready(120)
        answer = client.get("/search", params={"q": "oil"})
        assert answer.status_code == 503 and answer.headers["retry-after"] == "1"
        assert "deadline" in answer.json()["error"]


def test_a_proxy_names_its_clients_with_x_client_id():
    from types import SimpleNamespace

    from ranker.serve.routes import client_of

    def asked(headers, peer=("10.0.0.1", 5555)):
        return SimpleNamespace(headers=headers, client=SimpleNamespace(host=peer[0], port=peer[1]))

    assert client_of(asked({"x-client-id": "alice"})) == "id:alice"
    assert client_of(asked({})) == "10.0.0.1:5555"  # else each connection is a client
