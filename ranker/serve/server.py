"""The server ``ranker serve`` runs: the port bound first, the service loaded behind it.

The socket is bound before anything loads, so a taken port is one line and not a
traceback from uvicorn; ``/health`` answers while the index and models load; the
first Ctrl-C (or SIGTERM) answers what is in flight, a second one stops at once.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from ranker.core.display import visible
from ranker.core.errors import InputError
from ranker.serve.service import ServiceConfig

#: how much of a request's line and headers the HTTP layer reads before giving up in
#: plain text: far above the app's own limits, so those answer first and in JSON
PROTOCOL_ROOM = 2 * 1024 * 1024


def _say(text: str) -> None:
    print(visible(text), file=sys.stderr)


def check_reranker_folder(model: str | Path) -> None:
    """Refuse a reranker path that is not a model folder, pointing at the one inside
    what ``ranker train reranker`` wrote when that is what was given.

    Example:
        >>> check_reranker_folder("models/demo/model/model")
        >>> check_reranker_folder("models/demo/model")  # doctest: +NORMALIZE_WHITESPACE
        Traceback (most recent call last):
        ranker.core.errors.InputError: models/demo/model: not a model folder (no config.json):
            did you mean models/demo/model/model?
    """
    if (Path(model) / "config.json").is_file():
        return
    inner = Path(model) / "model"
    hint = f"did you mean {inner}?" if (inner / "config.json").is_file() else \
        "give the model folder inside what 'ranker train reranker' wrote (OUT/model)"
    raise InputError(model, None, f"not a model folder (no config.json): {hint}")


def bind(host: str, port: int):
    """A listening socket on ``host:port`` (0: a free port), or one line saying what to change.

    Example:
        >>> sock = bind("127.0.0.1", 0); sock.getsockname()[1] > 0
        True
        >>> sock.close()
    """
    import errno
    import socket

    try:
        return socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET,
                                    reuse_port=False)
    except OSError as err:
        why = (err.strerror or str(err)).split(" (while attempting")[0]  # create_server appends the address
        if err.errno in (errno.EADDRINUSE, errno.EACCES):
            raise InputError("command line", "--port", f"cannot listen on {host}:{port} ({why}): "
                             "choose another --port (0 picks a free one; ports below 1024 need root)") from None
        raise InputError("command line", "--host", f"cannot listen on {host} ({why}): give an address of this "
                         "machine (127.0.0.1 for itself alone, 0.0.0.0 for every interface)") from None


def serve(config: ServiceConfig, host: str = "127.0.0.1", port: int = 8000,
          say: Callable[[str], None] = _say) -> str | None:
    """Serve ``config``'s index over HTTP until interrupted.

    Returns:
        None after a clean shutdown, or why the service failed to load (the
        message names the file at fault and the fix).

    Raises:
        InputError: not an index folder, a reranker that is not a model folder,
            or an address that cannot be listened on; before anything loads.

    Example (serves until Ctrl-C: shown, not run; :mod:`ranker.serve.routes` tries the app in-process)::

        serve(ServiceConfig(index="indexes/news", reranker="models/demo/model/model"), port=0)

    A reranker path that is not a model folder is refused before anything loads or listens:

        >>> config = ServiceConfig(index="indexes/news", reranker="models/demo/model")  # the folder above the model
        >>> serve(config, port=0)  # doctest: +NORMALIZE_WHITESPACE
        Traceback (most recent call last):
        ranker.core.errors.InputError: models/demo/model: not a model folder (no config.json):
            did you mean models/demo/model/model?
    """
    from ranker.index.folder import check_index_folder

    check_index_folder(config.index)
    if config.reranker is not None:
        check_reranker_folder(config.reranker)
    sock = bind(host, port)
    import logging

    from ranker.serve.routes import create_app

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s",
                        stream=sys.stderr)
    logging.getLogger("ranker.serve").setLevel(logging.INFO)  # index versions swapped in
    app = create_app(config)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{sock.getsockname()[1]}/"
    say(f"ranker serve: loading {config.index}" + (f" and {config.reranker}" if config.reranker else "")
        + f" … ({url} answers /health meanwhile)")
    server = _graceful(uvicorn_config(app, timeout_graceful_shutdown=30))
    failed = _announce_when_ready(app.state.service, server, url, config, say)
    server.run(sockets=[sock])
    return failed[0] if failed else None


def uvicorn_config(app, **settings):
    """uvicorn's settings for our app: quiet, no access log, and h11 given room for an
    over-long request line or headers (it would answer those in plain text itself), so
    that the app's own limits refuse them in its JSON (``routes.RequestLimits``).

    Example:
        >>> from ranker.serve.routes import create_app
        >>> config = uvicorn_config(create_app(ServiceConfig(index="indexes/news")))
        >>> config.http, config.h11_max_incomplete_event_size == PROTOCOL_ROOM
        ('h11', True)
    """
    import uvicorn

    return uvicorn.Config(app, **{"log_level": "warning", "access_log": False, "http": "h11",
                                  "h11_max_incomplete_event_size": PROTOCOL_ROOM, **settings})


def _announce_when_ready(service, server, url: str, config: ServiceConfig, say: Callable[[str], None]) -> list[str]:
    """Say 'ready' once the service has loaded, or stop the server if it failed to;
    the list returned gets the failure's message."""
    import threading

    failed: list[str] = []

    def announce() -> None:
        if service.wait_ready():
            documents = service.generation.documents
            reranked = f", reranked by {config.reranker}" if config.reranker else ""
            say(f"ranker serve: ready in {service.loaded_in:.1f} s: {url} ({documents:,} documents{reranked}; "
                "the API is described at /docs)")
        elif service.error is not None:
            failed.append(service.error)
            server.should_exit = True

    threading.Thread(target=announce, daemon=True).start()
    return failed


def _graceful(config):
    """A uvicorn server whose second Ctrl-C stops at once, without uvicorn cancelling
    requests into tracebacks."""
    import os

    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame) -> None:
            if self.should_exit:
                os.write(2, b"ranker serve: stopped at once; requests in flight were not answered\n")
                os._exit(128 + sig)
            super().handle_exit(sig, frame)

    return Server(config)
