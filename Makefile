# The two commands of the README's quick start. Both set up .venv themselves.
export TF_USE_LEGACY_KERAS := 1

.PHONY: demo test lint setup

setup:
	@scripts/bootstrap.sh

demo: setup
	.venv/bin/image-pipeline demo-data --out data/digits
	.venv/bin/image-pipeline run --config configs/demo.yaml

test: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/python -m pytest

lint: setup
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .
