# The two commands of the README's quick start. Both set up .venv themselves.
export TF_USE_LEGACY_KERAS := 1

# The pipeline image `make image` builds and `make kubeflow-check` runs (README, "Run on Kubeflow").
IMAGE ?= image-pipeline:dev
export IMAGE

.PHONY: demo test lint setup image kubeflow-check bench

setup:
	@scripts/bootstrap.sh

demo: setup
	.venv/bin/image-pipeline demo-data --out data/digits
	.venv/bin/image-pipeline run --config configs/demo.yaml

# The pipeline against the plain-Keras script it replaces, on the digits and on four times
# the digits, one after the other (bench/README.md); writes bench/RESULTS.md and results.json.
bench: setup
	.venv/bin/python bench/run.py

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

# Builds the pipeline image with Docker (starting dockerd as root when none runs) and checks it.
image:
	@scripts/image.sh

# Compiles the pipeline for open-source KFP v2 and runs it as a nightly schedule would, every
# task of the spec its own `docker run` of the image: a first run to a blessed, pushed model,
# a cached one, one after images were added (its Trainer killed and resumed) and one after
# the image was rebuilt (tests/kubeflow/check.py).
kubeflow-check: setup image
	.venv/bin/python -m tests.kubeflow.check --image $(IMAGE) --rebuilt-image

lint: setup
	.venv/bin/ruff check --fix .
	.venv/bin/ruff format .
