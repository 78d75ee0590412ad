# The two set-up commands of the README: `make demo` (main job) and `make test` (all the tests).
# Both create or reuse .venv and install the project into it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test lint typecheck unit gate clean

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
	$(BIN)/ruff check src tests bench noxfile.py
	$(BIN)/ruff format --check src tests bench noxfile.py

typecheck: $(BIN)/v11ops
	$(BIN)/mypy

unit: $(BIN)/v11ops
	$(BIN)/pytest -q

test: lint typecheck unit

# The pipeline's quality gate (noxfile.py), with coverage: not part of `make test` until the
# project reaches the thresholds in pyproject.toml ([tool.v11ops.gate]).
gate: $(BIN)/v11ops
	$(BIN)/nox --no-venv -s "tests(unit)" "tests(integration)" gate

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage build dist .nox
