# Two commands: `make run` starts a node, `make test` runs every gate. Both set themselves up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HUDDLE_HOST ?= 127.0.0.1
HUDDLE_PORT ?= 8000
export HUDDLE_HOST HUDDLE_PORT

.PHONY: run test lint fmt redis-server clean bench bench-quick

$(VENV)/ok: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $@

run: $(VENV)/ok
	$(BIN)/huddle serve

# The Redis contract suite and multi-node tests need a real redis-server binary; the fixtures
# start their own on free ports, so no system service is used.
redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "redis-server missing: installing it from the system packages"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq redis-server >/dev/null; }
	@command -v redis-server >/dev/null 2>&1 || { echo "redis-server could not be installed"; exit 1; }

lint: $(VENV)/ok
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict src

test: $(VENV)/ok redis-server lint
	$(BIN)/pytest -n 2 --dist loadgroup

# The load-test harness (loadtests/README.md). `bench` measures the full matrix on this machine
# (long) and rewrites docs/benchmarks.md; `bench-quick` runs every scenario and baseline tiny
# (< 1 minute) and fails on any correctness check. Neither is part of `make test`.
bench: $(VENV)/ok redis-server
	$(BIN)/python -m loadtests all

bench-quick: $(VENV)/ok redis-server
	$(BIN)/python -m loadtests quick --no-live

fmt: $(VENV)/ok
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
