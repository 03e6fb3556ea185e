# hanota: the two commands are `make demo` (set up and run the main job) and `make test` (set up and
# run the tests). Everything else here is what those two call, plus `make test-pg` and the benchmarks.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
PG_URL ?= postgresql://postgres@127.0.0.1:5432/test

.PHONY: demo test test-pg lint system-deps bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

## The main job: the whole service on this machine with a live firmware campaign (see README).
demo: $(STAMP)
	$(BIN)/hanota demo --exit-when-done

## Debian packages some tests drive (xmlsec1 as an independent XML-signature oracle, chromium for the
## web UI). Installed only when missing and when we may (root); otherwise those tests say why they skip.
system-deps:
	@if command -v xmlsec1 >/dev/null && command -v chromium >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xmlsec1 chromium >/dev/null; \
	else echo "note: xmlsec1/chromium missing and not root: interop and browser tests will skip"; fi

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

## The tests (SQLite, in-process): lint, types, then pytest.
test: $(STAMP) system-deps lint
	$(BIN)/pytest -m "not postgres" -q

## The PostgreSQL suite, against PG_URL (CI sets CI=true: a missing PostgreSQL fails, never skips).
test-pg: $(STAMP)
	HANOTA_TEST_PG_URL=$(PG_URL) $(BIN)/pytest -m postgres -q

bench: $(STAMP)
	$(BIN)/python bench/bench_estate.py

clean:
	rm -rf $(VENV) .hanota .pytest_cache .mypy_cache .ruff_cache
