"""Limits before memory: an over-long line is refused after reading the limit, not the line."""

from __future__ import annotations

import json
import subprocess
import sys

from ranker.core.files import MAX_LINE_BYTES


def _write_corpus(path, huge_bytes: int) -> None:
    with open(path, "w", encoding="utf-8") as out:
        out.write(json.dumps({"_id": "a1", "title": "Oil", "text": "oil prices fell"}) + "\n")
        out.write('{"_id": "big", "text": "')
        block = "word " * 200_000  # 1 MB
        for _ in range(huge_bytes // len(block)):
            out.write(block)
        out.write('"}\n')
        out.write(json.dumps({"_id": "a2", "title": "Dam", "text": "the dam broke"}) + "\n")


#: ``ranker index`` in this child, which then reports its own peak memory: the high-water
#: mark of its own memory map (VmHWM). Not ru_maxrss: Linux carries that over from the
#: forked copy of this test process, which may be large by then.
CHILD = """
import re, resource, sys
from ranker.cli import main
try:
    code = main(sys.argv[1:])
finally:
    try:
        with open("/proc/self/status") as status:
            peak = int(re.search(r"VmHWM:\\s*(\\d+)", status.read()).group(1))
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"PEAK-KIB {peak}", file=sys.stderr)
sys.exit(code)
"""


def _index(corpus, out, *flags) -> tuple[int, str, float]:
    """``ranker index`` in a child process: its exit status, its error output and its peak memory (MiB)."""
    done = subprocess.run([sys.executable, "-c", CHILD, "index", str(corpus), "--out", str(out),
                           "--retrievers", "bm25", "--quiet", *flags], capture_output=True, text=True, timeout=300)
    lines = done.stderr.splitlines()
    peak = [int(line.split()[1]) for line in lines if line.startswith("PEAK-KIB ")]
    assert peak, done.stderr
    return done.returncode, "".join(line + "\n" for line in lines if not line.startswith("PEAK-KIB ")), peak[0] / 1024


def test_a_300_mb_line_is_refused_in_bounded_memory(tmp_path):
    corpus = tmp_path / "huge.jsonl"
    _write_corpus(corpus, 300 * 1024 * 1024)
    code, err, peak_mib = _index(corpus, tmp_path / "idx")
    assert code == 2 and err.count("\n") == 1, err
    assert f"huge.jsonl: line 2: over {MAX_LINE_BYTES:,} bytes long" in err and "--skip-invalid" in err
    assert peak_mib < 400, f"peak {peak_mib:.0f} MiB reading a 300 MB line"
    assert not (tmp_path / "idx").exists()  # nothing half-written
    code, err, peak_mib = _index(corpus, tmp_path / "idx", "--skip-invalid")
    assert code == 0, err
    assert json.loads((tmp_path / "idx" / "manifest.json").read_text())["doc_count"] == 2
    assert peak_mib < 400
