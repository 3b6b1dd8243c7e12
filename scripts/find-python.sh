#!/usr/bin/env bash
# Prints the path of a Python 3.10 interpreter (TFX 1.16 needs 3.9-3.10): $PYTHON if set,
# else python3.10 on PATH, under ~/.pyenv, or in /usr/local/bin or /usr/bin.
set -euo pipefail
for candidate in "${PYTHON:-}" python3.10 "$HOME"/.pyenv/versions/3.10*/bin/python3.10 \
    /usr/local/bin/python3.10 /usr/bin/python3.10; do
  if [ -n "$candidate" ] && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null; then
    command -v "$candidate"
    exit 0
  fi
done
echo "error: Python 3.10 not found (TFX 1.16 needs 3.9-3.10). Install it (e.g. 'pyenv install 3.10') or set PYTHON=/path/to/python3.10" >&2
exit 2
