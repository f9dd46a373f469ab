"""Property-based tests: no input makes a reader fail with anything but its documented
one-line InputError (naming the file), and the analyzer never fails on text.

Each property runs a bounded number of examples (FUZZ_EXAMPLES, 200 by default),
derandomised so CI is reproducible; RANKER_FUZZ_EXAMPLES raises the budget for a
longer local hunt.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ranker.core.errors import InputError
from ranker.data.qrels import read_qrels
from ranker.data.readers import read_articles, read_queries
from ranker.eval.runs import read_run

FUZZ_EXAMPLES = int(os.environ.get("RANKER_FUZZ_EXAMPLES", "200"))
fuzz = settings(max_examples=FUZZ_EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])

# Lines that are nearly right are where parsers break: JSON objects with odd values,
# TREC lines with odd fields, and raw bytes (invalid UTF-8, NULs, stray newlines).
VALUES = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20),
                   st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(), max_size=2))
JSON_LINES = st.lists(
    st.one_of(
        st.dictionaries(st.sampled_from(["_id", "title", "text", "metadata", "x"]), VALUES, max_size=4).map(json.dumps),
        st.text(max_size=40),
    ),
    max_size=6,
).map(lambda lines: "\n".join(lines).encode("utf-8", "surrogatepass"))
TOKENS = st.one_of(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=8),
                   st.sampled_from(["q1", "Q0", "0", "1", "-1", "nan", "inf", "1e309", "d1", "x"]))
TREC_LINES = st.lists(st.lists(TOKENS, max_size=7).map(" ".join), max_size=6).map(
    lambda lines: "\n".join(lines).encode("utf-8", "surrogatepass"))
ANY_BYTES = st.binary(max_size=200)


def read_bytes_with(reader, data: bytes, name: str) -> None:
    """Write ``data`` to a file called ``name`` and read it: success or an InputError naming the file."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        try:
            reader(path)
        except InputError as err:
            assert err.path.startswith(str(path)) and "\n" not in str(err), str(err)


READERS = [
    (read_articles, "corpus.jsonl", st.one_of(JSON_LINES, ANY_BYTES)),
    (read_queries, "queries.jsonl", st.one_of(JSON_LINES, ANY_BYTES)),
    (read_run, "run.trec", st.one_of(TREC_LINES, ANY_BYTES)),
    (read_qrels, "qrels.txt", st.one_of(TREC_LINES, ANY_BYTES)),
]


@pytest.mark.parametrize("reader, name, contents", READERS, ids=[name for _, name, _ in READERS])
@fuzz
@given(data=st.data())
def test_reader_only_raises_input_error(reader, name, contents, data):
    read_bytes_with(reader, data.draw(contents), name)


@fuzz
@given(st.lists(st.text(max_size=60), min_size=1, max_size=5))
def test_analyzer_tokenizes_any_text(texts):
    from ranker.retrieve.passages import default_analyzer

    tokens = default_analyzer().tokens(texts)
    assert len(tokens) == len(texts) and all(isinstance(t, str) and t for doc in tokens for t in doc)
