# zhicheng: `make up` runs the platform, `make test` runs the whole suite.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
export PYTHON := $(BIN)/python

.PHONY: up start down lint test test-unit test-integration test-e2e demo bench install clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	@touch $(STAMP)

install: $(STAMP)

up: $(STAMP)                ## run the four services in the foreground (Ctrl-C stops them)
	@scripts/ensure-broker.sh
	$(BIN)/zhicheng migrate
	ZHICHENG_CLOCK_CONTROL=$${ZHICHENG_CLOCK_CONTROL:-1} $(BIN)/zhicheng up

start: $(STAMP)             ## the same, in the background
	@scripts/ensure-broker.sh
	$(BIN)/zhicheng migrate
	ZHICHENG_CLOCK_CONTROL=$${ZHICHENG_CLOCK_CONTROL:-1} $(BIN)/zhicheng up --detach

down: $(STAMP)              ## stop services started with `make start`
	$(BIN)/zhicheng down

test: $(STAMP)              ## the whole suite (ZHICHENG_TEST_POSTGRES=1: on PostgreSQL)
	@ZHICHENG_NEED_RABBIT_MGMT=1 scripts/ensure-broker.sh
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .

test-unit: $(STAMP)
	$(BIN)/python -m pytest -m unit -q

test-integration: $(STAMP)
	@ZHICHENG_NEED_RABBIT_MGMT=1 scripts/ensure-broker.sh
	$(BIN)/python -m pytest -m integration -q

test-e2e: $(STAMP)
	@ZHICHENG_NEED_RABBIT_MGMT=1 scripts/ensure-broker.sh
	$(BIN)/python -m pytest -m e2e -q

demo: $(STAMP)              ## a 2023 season against the services `make up`/`make start` runs
	$(BIN)/zhicheng demo

bench: $(STAMP)             ## benchmarks, each as ratios to a baseline of the same run
	@ZHICHENG_NEED_RABBIT_MGMT=1 scripts/ensure-broker.sh
	$(BIN)/python -m bench.broker_raw
	$(BIN)/python -m bench.platform_load
	$(BIN)/python -m bench.platform_load --postgres
	$(BIN)/python -m bench.experts_draw
	$(BIN)/python -m bench.audit_queries

clean:
	rm -rf var .pytest_cache
