# Two commands for a newcomer: `make demo` (the main job) and `make test`.
# Each creates its own virtual environment; only Python 3.11+ and make/pip are needed.
PYTHON ?= python3
VENV := .venv
ORACLE_VENV := .venv-oracle
WHEEL_VENV := .venv-wheel
DIST := dist
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck unit wheel-check oracle bench mutate fuzz clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

# The oracle environment for differential tests: the stack pyqldb pins (amazon.ion 0.9.3,
# ionhash 1.2.1). It cannot share an environment with amazon.ion >= 0.15.
$(ORACLE_VENV)/.installed: tests/oracle/requirements.txt
	$(PYTHON) -m venv $(ORACLE_VENV)
	$(ORACLE_VENV)/bin/pip install --quiet -r tests/oracle/requirements.txt
	touch $@

oracle: $(ORACLE_VENV)/.installed

demo: $(VENV)/.installed
	$(BIN)/python -m auditor.demo

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(VENV)/.installed
	$(BIN)/mypy

unit: $(VENV)/.installed oracle
	QLDB_AUDIT_ORACLE_PYTHON=$(ORACLE_VENV)/bin/python $(BIN)/pytest --cov --cov-report=term \
		--ignore=tests/packaging

# What a dealer installs: build the wheel and the sdist, install the wheel alone (no extras)
# into a fresh environment, and run the offline verifier from it (tests/packaging/).
wheel-check: $(VENV)/.installed
	rm -rf $(DIST) $(WHEEL_VENV) build
	$(BIN)/python -m build --outdir $(DIST) . > /dev/null
	$(PYTHON) -m venv $(WHEEL_VENV)
	$(WHEEL_VENV)/bin/pip install --quiet $(DIST)/qldb_auditor-*.whl
	QLDB_AUDIT_WHEEL_VENV=$(WHEEL_VENV) QLDB_AUDIT_DIST=$(DIST) \
		$(BIN)/pytest -p no:cacheprovider tests/packaging

test: lint typecheck unit wheel-check

bench: $(VENV)/.installed oracle
	$(BIN)/python bench/bench_ion_hash.py --oracle-python $(ORACLE_VENV)/bin/python

# Mutation testing (not part of `make test`): every target of tools/mutate.toml, or one file:
#   make mutate MUTATE="proofs/qldb.py -- tests/unit/test_qldb.py"
MUTATE ?=
mutate: $(VENV)/.installed
	$(BIN)/python tools/mutate.py $(MUTATE)

# The long fuzz run before a release (not part of `make test`, which runs the short,
# derandomized one in tests/fuzz/): FUZZ_EXAMPLES inputs per target, new random inputs each run
# (FUZZ_ARGS=--hypothesis-seed=N fixes them), the summary printed and written to
# fuzz-report.json. About an hour on the 2-core machine (2,500 per target: 7 min).
FUZZ_EXAMPLES ?= 20000
FUZZ_ARGS ?=
fuzz: $(VENV)/.installed
	QLDB_AUDIT_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) QLDB_AUDIT_FUZZ_REPORT=fuzz-report.json \
		$(BIN)/pytest -p no:cacheprovider tests/fuzz -k "not corpus" $(FUZZ_ARGS)

clean:
	rm -rf $(VENV) $(ORACLE_VENV) $(WHEEL_VENV) $(DIST) build .pytest_cache .mypy_cache .ruff_cache .coverage .hypothesis fuzz-report.json
