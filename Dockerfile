# The pipeline image. On Kubeflow every component runs in it (KubeflowV2DagRunner sets the
# command, TFX's KFP v2 entrypoint); Beam workers run it too, on Dataflow as the
# sdk_container_image and on Flink or Spark as the worker pool (`--worker_pool`), which is why
# its entrypoint is Beam's worker boot. Build and push (README, "Run on Kubeflow"):
#   docker build -t <registry>/image-pipeline:0.1.0 . && docker push <registry>/image-pipeline:0.1.0

# Beam's worker boot must match the pinned apache-beam and the Python version.
FROM apache/beam_python3.10_sdk:2.59.0 AS beam_sdk

FROM python:3.10-slim

# tf_keras (Keras 2) for TFT and TFMA, set before anything imports TensorFlow (DESIGN.md).
ENV TF_USE_LEGACY_KERAS=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /pipeline

# The pinned dependency set first, in its own layer: it changes far less often than our code.
COPY constraints.txt ./
RUN pip install -r constraints.txt

# Our packages (pipeline, components, trainer: the code TFX loads by dotted path), installed
# against the same pins, and the curated schema at /pipeline/schema/schema.pbtxt.
COPY setup.py ./
COPY pipeline/ pipeline/
COPY components/ components/
COPY trainer/ trainer/
COPY schema/ schema/
COPY configs/ configs/
RUN pip install --no-deps . && pip check

COPY --from=beam_sdk /opt/apache/beam /opt/apache/beam
ENTRYPOINT ["/opt/apache/beam/boot"]
