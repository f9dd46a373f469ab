"""Use the search page as a person would, in headless Chromium, and photograph it.

:func:`use_page` types a query into the page at ``url``, waits for results,
checks that they carry highlighted words, opens the first result's "why here?"
and saves a screenshot. The browser test runs it on a tiny index; run here, it
serves the demo's index and reranker and writes ``docs/search.png`` (the
README's picture):

    python -m pipelines.search_page            # after `make demo`

Playwright drives the system's Chromium (``/usr/bin/chromium``; no browser is
downloaded).
"""

from __future__ import annotations

import argparse
import shutil
import socket
import threading
import time
from pathlib import Path
from typing import Any

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def find_chromium() -> str | None:
    """The system's Chromium, or None."""
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


def use_page(url: str, query: str, shot: Path, browser: str, width: int = 1100, height: int = 1400) -> dict[str, Any]:
    """Type ``query`` at ``url``, open the first hit's "why", screenshot to ``shot``.

    Returns what the page showed: the number of results and of highlighted words,
    the status line, and the text of the first "why" table.

    Example (a served page and the system's Chromium, which tests/test_serve.py drives when it is
    installed: shown, not run)::

        use_page("http://127.0.0.1:8000/", "oil prices", Path("/tmp/s.png"), find_chromium())
        # {'results': 10, 'marks': 23, 'status': ..., 'why': ..., 'outlets': ...}
    """
    from playwright.sync_api import sync_playwright

    from ranker.core.files import atomic_write_bytes

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=browser, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = chromium.new_page(viewport={"width": width, "height": height})
            page.goto(url)
            page.locator("#q").click()
            page.keyboard.type(query, delay=20)
            page.keyboard.press("Enter")
            page.wait_for_selector("li.hit", timeout=60_000)
            page.locator("li.hit details.why summary").first.click()
            why = page.locator("li.hit details.why table").first
            why.wait_for(state="visible")
            seen = {"results": page.locator("li.hit").count(), "marks": page.locator("li.hit mark").count(),
                    "status": page.locator("#status").inner_text(), "why": why.inner_text(),
                    "outlets": page.locator("#outlet option").count() - 1}
            shot.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_bytes(shot, page.screenshot(full_page=False))  # never a half-written picture
            return seen
        finally:
            chromium.close()


def api_page_operations(url: str, browser: str) -> int:
    """Open ``url``/docs with every request off this machine refused; the number of
    API operations swagger-ui drew (0 if it needed the network to draw them).

    Example (needs a served app and Chromium: shown, not run)::

        api_page_operations("http://127.0.0.1:8000/", find_chromium())  # 7
    """
    from urllib.parse import urlsplit

    from playwright.sync_api import sync_playwright

    here = urlsplit(url).netloc
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=browser, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = chromium.new_page()
            # as on a machine without internet: anything not from this server fails
            page.route("**/*", lambda route: route.continue_() if urlsplit(route.request.url).netloc == here
                       else route.abort())
            page.goto(url.rstrip("/") + "/docs")
            try:
                page.wait_for_selector(".opblock", timeout=30_000)
            except Exception:  # noqa: BLE001 - playwright's timeout: the page drew nothing
                return 0
            return page.locator(".opblock").count()
        finally:
            chromium.close()


def serving(app) -> tuple[str, callable]:
    """Run ``app`` on a free loopback port in a thread; its URL and a function that stops it."""
    import uvicorn

    from ranker.serve.server import uvicorn_config

    sock = socket.create_server(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn_config(app))  # as `ranker serve` runs it
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)

    def stop() -> None:
        server.should_exit = True
        thread.join(30)

    return f"http://127.0.0.1:{sock.getsockname()[1]}/", stop


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index", type=Path, default=Path("indexes/news"))
    parser.add_argument("--reranker", type=Path, default=Path("models/demo/model/model"))
    parser.add_argument("--query", default="oil prices after the OPEC deal")
    parser.add_argument("--out", type=Path, default=Path("docs/search.png"))
    args = parser.parse_args(argv)
    from ranker.core.errors import InputError
    from ranker.core.outputs import PNG, check_output

    try:  # only a picture may be replaced, and never an input
        args.out = check_output(args.out, PNG, [("--index", args.index), ("--reranker", args.reranker)])
    except InputError as err:
        parser.exit(2, f"{parser.prog}: error: {err}\n")
    browser = find_chromium()
    if browser is None:
        parser.error("no Chromium on this machine: apt-get install chromium")
    from ranker.serve.routes import create_app
    from ranker.serve.service import ServiceConfig

    app = create_app(ServiceConfig(index=args.index, reranker=str(args.reranker) if args.reranker.is_dir() else None))
    url, stop = serving(app)
    try:
        if not app.state.service.wait_ready(300):
            parser.error(f"the service did not start: {app.state.service.error}")
        seen = use_page(url, args.query, args.out, browser)
    finally:
        stop()
    print(f"{seen['results']} results, {seen['marks']} highlighted words; {seen['status']} -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
