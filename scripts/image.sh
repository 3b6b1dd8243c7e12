#!/usr/bin/env bash
# `make image`: builds the pipeline image from the Dockerfile and checks it.
#
#   IMAGE        the tag to build (image-pipeline:dev)
#   BASE_IMAGE   the Python 3.10 base (python:3.10-slim); when it cannot be pulled (no
#                Docker Hub), the base is made from Debian packages by scripts/base-image.sh
#   TARGET       beam-worker (with Beam's worker boot) or pipeline (without); by default
#                beam-worker, or pipeline when Beam's SDK image cannot be pulled
#   PIP_CA_BUNDLE  the CA bundle pip needs at build time (default: this machine's, where it
#                exists); a build secret, never in the image
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/docker-engine.sh

image=${IMAGE:-image-pipeline:dev}
beam_sdk_image=apache/beam_python3.10_sdk:2.59.0
local_base=image-pipeline-base:bookworm-py3.10

have_or_pull() {
  docker image inspect "$1" > /dev/null 2>&1 || docker pull -q "$1" > /dev/null 2>&1
}

base=${BASE_IMAGE:-python:3.10-slim}
if ! have_or_pull "$base"; then
  if [ -n "${BASE_IMAGE:-}" ] && [ "$BASE_IMAGE" != "$local_base" ]; then
    echo "error: base image $BASE_IMAGE: not found locally and cannot be pulled" >&2
    exit 1
  fi
  if docker image inspect "$local_base" > /dev/null 2>&1; then
    echo "image: $base cannot be pulled here; using $local_base (scripts/base-image.sh made it)"
  else
    echo "image: $base cannot be pulled here; making $local_base from Debian packages"
    scripts/base-image.sh "$local_base"
  fi
  base=$local_base
fi

target=${TARGET:-}
if [ -z "$target" ]; then
  if have_or_pull "$beam_sdk_image"; then
    target=beam-worker
  else
    target=pipeline
    echo "image: $beam_sdk_image cannot be pulled here: building target 'pipeline', without" \
      "Beam's worker boot (Kubeflow tasks do not use it; Dataflow, Flink and Spark workers do)"
  fi
fi

secret=()
ca=${PIP_CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
[ -f "$ca" ] && secret=(--secret "id=pip_ca,src=$ca")

echo "image: building $image (target $target, base $base)"
started=$(date +%s)
log=$(mktemp /tmp/image-pipeline-build.XXXXXX.log)
if ! docker build --progress=plain --network=host "${secret[@]}" --target "$target" \
    --build-arg "BASE_IMAGE=$base" --build-arg "BEAM_SDK_IMAGE=$beam_sdk_image" \
    -t "$image" . > "$log" 2>&1; then
  tail -n 30 "$log" >&2
  echo "error: docker build failed; full log: $log" >&2
  exit 1
fi
echo "image: built $image in $(($(date +%s) - started)) s (log: $log)"
scripts/check-image.sh "$image"
