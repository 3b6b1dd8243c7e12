# The two commands of the README's quick start. Both set up .venv themselves.
export TF_USE_LEGACY_KERAS := 1

.PHONY: demo test lint setup

setup:
	@scripts/bootstrap.sh

demo: setup
	.venv/bin/image-pipeline demo-data --out data/digits
	.venv/bin/image-pipeline run --config configs/demo.yaml

# One pytest process per folder of tests/: a folder's session fixtures (trained models, DAG
# runs, their TensorFlow graphs) are freed before the next folder starts, where one process
# for everything held 19 GB at its end. Every folder runs even when one fails.
test: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	@if ls tests/test_*.py >/dev/null 2>&1; then \
		echo "tests/: put test files in a folder; make test runs one pytest per folder"; exit 1; fi
	@status=0; for suite in tests/[!_]*/; do \
		echo "== pytest $$suite"; .venv/bin/python -m pytest "$$suite" || status=1; \
	done; exit $$status

lint: setup
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .
