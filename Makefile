# Two commands: `make run` starts a node, `make test` runs every gate. Both set themselves up.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HUDDLE_HOST ?= 127.0.0.1
HUDDLE_PORT ?= 8000
export HUDDLE_HOST HUDDLE_PORT

.PHONY: run test lint fmt system-packages redis-server test-js screenshot clean bench bench-quick

$(VENV)/ok: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	touch $@

run: $(VENV)/ok
	$(BIN)/huddle serve

# What the tests start as real processes: redis-server (contract suite, multi-node tests),
# Debian's chromium (browser tests, driven by Playwright with executable_path: Playwright's own
# browser download cannot work here), nginx and haproxy (deploy/'s reverse proxies, run in
# front of two nodes and checked with `nginx -t` / `haproxy -c`; both live in /usr/sbin) and
# Node.js (the JavaScript client's tests). Each is installed from the system's packages when
# its command is missing; the fixtures start their own instances on free ports.
SYSTEM_PACKAGES := redis-server:redis-server chromium:chromium nginx:nginx-light haproxy:haproxy node:nodejs

system-packages:
	@missing=""; for pair in $(SYSTEM_PACKAGES); do \
	  cmd=$${pair%%:*}; pkg=$${pair#*:}; \
	  PATH="$$PATH:/usr/sbin:/sbin" command -v $$cmd >/dev/null 2>&1 || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "installing from the system packages:$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi; \
	for pair in $(SYSTEM_PACKAGES); do \
	  cmd=$${pair%%:*}; \
	  PATH="$$PATH:/usr/sbin:/sbin" command -v $$cmd >/dev/null 2>&1 || { echo "$$cmd could not be installed"; exit 1; }; \
	done

redis-server: system-packages

lint: $(VENV)/ok
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy --strict src

test: $(VENV)/ok system-packages lint test-js
	PATH="$$PATH:/usr/sbin:/sbin" $(BIN)/pytest -n 2 --dist loadgroup

# The JavaScript client's own tests (node --test), against real nodes they start.
test-js: $(VENV)/ok system-packages
	cd clients/js && node --test --experimental-websocket test/

# Regenerate docs/images/demo.png, the README's screenshot, from the browser test of the demo.
screenshot: $(VENV)/ok system-packages
	HUDDLE_SCREENSHOT=docs/images/demo.png PATH="$$PATH:/usr/sbin:/sbin" \
	  $(BIN)/pytest -q tests/browser/test_demo.py -k see_each_other

# The load-test harness (loadtests/README.md). `bench` measures the full matrix on this machine
# (long) and rewrites docs/benchmarks.md; `bench-quick` runs every scenario and baseline tiny
# (< 1 minute) and fails on any correctness check. Neither is part of `make test`.
bench: $(VENV)/ok system-packages
	$(BIN)/python -m loadtests all

bench-quick: $(VENV)/ok system-packages
	$(BIN)/python -m loadtests quick --no-live

fmt: $(VENV)/ok
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
