"""How a command ends: its result, or one line on standard error and an exit status.

The CLI and the pipelines run their work through :func:`run_reporting_errors`, so
no traceback reaches a user: bad input and operating-system errors are one line
naming the path (exit status 2), a closed standard output ends quietly as Unix
tools do (141, as if killed by SIGPIPE), an interrupt is 130, and anything
unexpected is one line (exit status 1) with the traceback behind ``--debug``.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from ranker.core.display import visible
from ranker.core.errors import FetchError, InputError
from ranker.core.files import final_name


def error_line(message: str, prog: str = "ranker") -> None:
    """One line on standard error, control characters and line breaks made visible.

    Example:
        >>> import contextlib, io
        >>> with contextlib.redirect_stderr(io.StringIO()) as err:
        ...     error_line("runs/x.trec: line 3: bad\\nrank")
        >>> err.getvalue()
        'ranker: error: runs/x.trec: line 3: bad rank\\n'
    """
    print(f"{prog}: error: {visible(message)}", file=sys.stderr)


def run_reporting_errors(work: Callable[[], int], debug: bool = False, prog: str = "ranker") -> int:
    """``work()``'s exit status, with every failure turned into one line (see the module).

    Example:
        >>> run_reporting_errors(lambda: 0)
        0
    """
    import os

    # a closed stream (`ranker index ... >&-`): what would go there is discarded, not a crash
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w")
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")
    try:
        code = work()
        sys.stdout.flush()
        return code
    except (InputError, FetchError) as err:
        error_line(str(err), prog)
        return 2
    except KeyboardInterrupt:
        error_line("interrupted; nothing was half-written", prog)
        return 130
    except BrokenPipeError:
        # the reader went away (`ranker search ... | head -1`): stop quietly, and keep
        # Python's own flush at exit from raising again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as err:
        if err.filename is not None:
            error_line(f"{final_name(err.filename)}: {err.strerror or err}", prog)
        else:  # no path: standard output (`> /dev/full`) or a socket
            error_line(f"{err.strerror or err} (writing the output)", prog)
        return 2
    except Exception as err:  # the last line of defence: one line, the traceback on request
        if debug:
            raise
        error_line(f"unexpected {type(err).__name__}: {err} (rerun with '{prog} --debug ...' for the traceback)", prog)
        return 1
