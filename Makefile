# The two set-up commands of the README: `make demo` (main job) and `make test` (all the tests).
# Both create or reuse .venv and install the project into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The coverage gate of `make test` (thresholds in pyproject.toml, [tool.v11ops.gate]):
# 1 fails below them (the default: CI enforces it), 0 only reports the figures.
COVERAGE_GATE ?= 1
COVERAGE_DATA := $(CURDIR)/build/coverage
# Three pytest workers, one test file each at a time: most tests wait on the processes they
# start, so three share two cores well (measured: 8 min instead of about 20).
PYTEST_ARGS ?= -n 3 --dist loadfile

.PHONY: demo test lint typecheck unit coverage gate clean

$(BIN)/v11ops: pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "error: Python 3.11 or newer is needed as $(PYTHON)"; exit 2; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

demo: $(BIN)/v11ops
	$(BIN)/v11ops demo

lint: $(BIN)/v11ops
	$(BIN)/ruff check src tests bench tools noxfile.py
	$(BIN)/ruff format --check src tests bench tools noxfile.py

typecheck: $(BIN)/v11ops
	$(BIN)/mypy

# The tests without coverage: the quickest full run.
unit: $(BIN)/v11ops
	$(BIN)/pytest -q $(PYTEST_ARGS)

# The tests, run once under coverage with the processes they start ([tool.coverage.run]),
# then the coverage gate: the same script as nox's gate session.
coverage: $(BIN)/v11ops
	mkdir -p $(COVERAGE_DATA)
	rm -f $(COVERAGE_DATA)/test.cov*
	COVERAGE_FILE=$(COVERAGE_DATA)/test.cov $(BIN)/coverage run -m pytest -q $(PYTEST_ARGS) \
		|| { c=$$?; [ $$c -ne 5 ] || echo 'pytest collected no tests: a failure'; exit $$c; }
	$(BIN)/python tools/coverage_gate.py $(if $(filter 1,$(COVERAGE_GATE)),--enforce) \
		'$(COVERAGE_DATA)/test.cov.*'

test: lint typecheck coverage

# The pipeline's stages as CI runs them (noxfile.py): the suites apart, then the gate
# (coverage always enforced there, ruff, mypy).
gate: $(BIN)/v11ops
	$(BIN)/nox --no-venv -s "tests(unit)" "tests(integration)" gate

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage build dist .nox
