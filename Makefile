# `make demo` sets everything up in .venv and trains on the built-in digits data;
# `make test` runs the test suite (setting up .venv first when needed).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test clean

$(BIN)/autorecipe: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

demo: $(BIN)/autorecipe
	$(BIN)/autorecipe fit digits --out runs/demo

test: $(BIN)/autorecipe
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) runs .pytest_cache
