#!/usr/bin/env bash
# Creates .venv with Python 3.10 if it is missing and installs the project with the pinned
# dependency set (constraints.txt). Re-running is cheap: it reinstalls only when setup.py or
# constraints.txt changed since the last install.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python=$(scripts/find-python.sh)
  echo "Creating .venv with $python"
  "$python" -m venv .venv
fi

# tflite-support's native code (TFLite metadata, the Task Library) loads libusb-1.0, a Debian
# package pip cannot install.
if ! ldconfig -p | grep -q 'libusb-1\.0\.so\.0'; then
  if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    echo "Installing libusb-1.0-0 (Debian), which tflite-support needs"
    apt-get update -qq > /dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libusb-1.0-0 > /dev/null
  else
    echo "error: libusb-1.0 is missing and tflite-support needs it: apt-get install libusb-1.0-0" >&2
    exit 1
  fi
fi

stamp=.venv/.installed
wanted=$(cat setup.py constraints.txt "$0" | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
  echo "Installing dependencies into .venv (pinned by constraints.txt; first time takes a few minutes)"
  log=.venv/install.log
  if ! { .venv/bin/python -m pip install --upgrade pip setuptools wheel &&
         .venv/bin/python -m pip install -c constraints.txt -e ".[dev,kubeflow]"; } > "$log" 2>&1; then
    tail -n 30 "$log" >&2
    echo "error: installing into .venv failed; the full pip log is $log" >&2
    exit 1
  fi
  echo "$wanted" > "$stamp"
fi
