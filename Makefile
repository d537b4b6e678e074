# The two set-up commands of the README. Both bootstrap .venv themselves (scripts/venv.sh).
.PHONY: demo test lint bench venv

PY := .venv/bin/python
DEMO_DIR ?= demo-workspace

venv:
	@bash scripts/venv.sh

demo: venv
	$(PY) -m auraquant demo $(DEMO_DIR)

test:
	@bash scripts/venv.sh dev,peers,ml
	@bash scripts/system-deps.sh
	.venv/bin/lint-imports --no-cache  # import contracts of .importlinter (layers, no cycles)
	$(PY) -m pytest -q

lint: venv
	$(PY) -m ruff check .
	.venv/bin/lint-imports --no-cache
