# `make demo` and `make test` set themselves up from nothing: a .venv with the
# project installed against constraints.txt (every version pinned).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: demo test lint bench bench-segments setup clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m pipelines.demo

test: $(STAMP)
	$(BIN)/python -m pytest

# Style, import order and the bug checks configured in pyproject.toml ([tool.ruff]).
lint: $(STAMP)
	$(BIN)/ruff check ranker pipelines benchmarks tests experiments conftest.py

# Speed against the tools users would pick instead (benchmarks/RESULTS.md);
# `make bench ARGS=--quick` for the small sizes. Needs `make demo`'s data and index.
bench: $(STAMP)
	test -f indexes/news/manifest.json || $(BIN)/python -m pipelines.demo
	$(BIN)/python -m benchmarks.run $(ARGS)

# Segmented indexes at 100,000 and 1,000,000 articles through ranker add, serve and merge
# (about 30 minutes): benchmarks/segments.json and its section of benchmarks/RESULTS.md.
bench-segments: $(STAMP)
	test -f indexes/news/manifest.json || $(BIN)/python -m pipelines.demo
	$(BIN)/python -m benchmarks.segments_bench $(ARGS)

clean:
	rm -rf $(VENV) data/news runs .pytest_cache
