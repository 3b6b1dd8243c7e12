# The pipeline image. On Kubeflow every component runs in it (KubeflowV2DagRunner sets the
# command: our KFP v2 entrypoint, pipeline/kubeflow/entrypoint.py); Beam workers run it too, on
# Dataflow as the sdk_container_image and on Flink or Spark as the worker pool
# (`--worker_pool`), which is why the default target's entrypoint is Beam's worker boot.
# Build it with `make image` (README, "Run on Kubeflow"); by hand:
#   DOCKER_BUILDKIT=1 docker build -t <registry>/image-pipeline:0.1.0 .
#
# BASE_IMAGE: any Debian-like image with Python 3.10 and pip in /usr/local; where Docker Hub
# cannot be reached, scripts/base-image.sh makes one from Debian packages.
# Targets: `beam-worker` (the default: the pipeline image plus Beam's worker boot, from
# BEAM_SDK_IMAGE) and `pipeline` (the same without it: enough for Kubeflow tasks).
ARG BASE_IMAGE=python:3.10-slim
ARG BEAM_SDK_IMAGE=apache/beam_python3.10_sdk:2.59.0

# Wheels for the pinned dependency set, built where a compiler is (a few pins, such as
# pyfarmhash, publish no wheel for Python 3.10); the image installs them without one. A CA
# bundle the network needs reaches pip and apt as a build secret
# (`--secret id=pip_ca,src=...`), mounted for these steps alone and never written to a layer.
FROM ${BASE_IMAGE} AS wheels
RUN apt-get update -qq && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc g++ libc6-dev
WORKDIR /build
COPY setup.py constraints.txt ./
RUN --mount=type=secret,id=pip_ca \
    if [ -s /run/secrets/pip_ca ]; then export PIP_CERT=/run/secrets/pip_ca; fi && \
    pip install --no-cache-dir -q wheel && \
    pip wheel --no-cache-dir -q -c constraints.txt --wheel-dir /wheels ".[kubeflow]"

FROM ${BASE_IMAGE} AS pipeline

# tf_keras (Keras 2) for TFT and TFMA, set before anything imports TensorFlow (README,
# "Development").
ENV TF_USE_LEGACY_KERAS=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# libusb-1.0: tflite-support's native code (the TFLite metadata writers) loads it.
RUN apt-get update -qq && \
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends libusb-1.0-0 && \
    rm -rf /var/lib/apt/lists/*

WORKDIR /pipeline

# Our dependencies, pinned, in their own layer: it depends on setup.py and constraints.txt
# only (setup.py finds no packages yet), so a change to our code reuses it.
COPY setup.py constraints.txt ./
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels -c constraints.txt ".[kubeflow]" && \
    pip uninstall -y image-pipeline

# Our packages (pipeline, components, trainer: the code TFX loads by dotted path), the
# demo's curated schema (/pipeline/schema/digits.pbtxt) and the configs with the schemas
# `image-pipeline init` writes beside them (/pipeline/configs/<name>.schema.pbtxt).
COPY pipeline/ pipeline/
COPY components/ components/
COPY trainer/ trainer/
COPY schema/ schema/
COPY configs/ configs/
RUN pip install --no-deps . && pip check

FROM ${BEAM_SDK_IMAGE} AS beam_sdk

# Beam's worker boot must match the pinned apache-beam and the Python version.
FROM pipeline AS beam-worker
COPY --from=beam_sdk /opt/apache/beam /opt/apache/beam
ENTRYPOINT ["/opt/apache/beam/boot"]
