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
