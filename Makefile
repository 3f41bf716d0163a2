# One venv in .venv; every target installs what it needs first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install format lint typecheck test test-integration demo

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

format: install
	$(BIN)/ruff format otelperf tests benchmarks examples
	$(BIN)/ruff check --fix otelperf tests benchmarks examples

lint: install
	$(BIN)/ruff format --check otelperf tests benchmarks examples
	$(BIN)/ruff check otelperf tests benchmarks examples

typecheck: install
	$(BIN)/mypy

# The README's test command: lint, types, then every test (unit, e2e with real apps).
test: lint typecheck
	$(BIN)/pytest -q

test-integration: install
	$(BIN)/pytest -q -m integration tests/integration; rc=$$?; [ $$rc -eq 5 ] && echo "no integration tests selected" || exit $$rc

# The README's "run the main job": gunicorn app under opentelemetry-instrument, real load, live
# view (progress lines when stdout is not a terminal: DEMO_ARGS=--no-live), HTML report.
DEMO_ARGS ?=
demo: install
	$(BIN)/otelperf demo $(DEMO_ARGS)
