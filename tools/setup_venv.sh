#!/usr/bin/env bash
# Create or update the project virtual environment at .venv/ (idempotent).
# torch==2.13.0 (local CPU build) goes in first so nothing pulls CUDA wheels.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
VENV=.venv
STAMP=$VENV/.setup-stamp
want=$(cat tools/requirements.txt tools/setup_venv.sh | sha256sum | cut -d' ' -f1)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && [ -x "$VENV/bin/python" ]; then
    echo "setup: .venv is up to date"
    exit 0
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
export PIP_DISABLE_PIP_VERSION_CHECK=1
"$VENV/bin/python" -m pip install -q torch==2.13.0
"$VENV/bin/python" -m pip install -q -r tools/requirements.txt
"$VENV/bin/python" -c "import torch, bpy, numpy, scipy, cv2; assert numpy.__version__ < '2'; assert torch.__version__.startswith('2.13.0')"
echo "$want" > "$STAMP"
echo "setup: .venv ready"
