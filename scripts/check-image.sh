#!/usr/bin/env bash
# Checks a built pipeline image: TFX's KFP v2 entrypoint and ours import, Keras 2 is the
# Keras TensorFlow gives (TF_USE_LEGACY_KERAS=1), our packages import, `pip check` is clean,
# no CA certificate of this machine's own (/usr/local/share/ca-certificates) is in the
# image; prints its size.   Usage: scripts/check-image.sh IMAGE
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/docker-engine.sh
image=$1

docker run --rm --entrypoint sh "$image" -c '
  set -e
  pip check
  python - <<PY
import importlib, os
assert os.environ.get("TF_USE_LEGACY_KERAS") == "1", "TF_USE_LEGACY_KERAS is not 1"
import tensorflow as tf
import tf_keras
assert tf.keras.Model is tf_keras.Model, f"tf.keras is {tf.keras.Model.__module__}, not tf_keras"
for name in ("tfx.orchestration.kubeflow.v2.container.kubeflow_v2_run_executor",
             "pipeline.kubeflow.entrypoint", "pipeline.kubeflow.tasks", "pipeline.pipeline", "trainer.run",
             "trainer.preprocessing", "components.image_example_gen.executor"):
    importlib.import_module(name)
print(f"image check: entrypoints and packages import; TensorFlow {tf.__version__}, "
      f"Keras {tf_keras.__version__} (tf_keras)")
PY'
for cert in /usr/local/share/ca-certificates/*.crt; do
  [ -f "$cert" ] || continue
  body=$(grep -v -- '-----' "$cert" | tr -d '\n' | head -c 120)
  if docker run --rm --entrypoint sh "$image" -c "tr -d '\n' < /etc/ssl/certs/ca-certificates.crt" | grep -qF "$body"; then
    echo "error: $image holds this machine's CA certificate $cert" >&2
    exit 1
  fi
done
echo "image check: pip check clean; no CA certificate of this machine in the image"
echo "image size: $image $(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.2f GB", $1 / 1e9}')"
