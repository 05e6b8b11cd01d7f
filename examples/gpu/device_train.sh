#!/usr/bin/env bash
# Second call on the same warm GPU machine (carry: [".device/data"]): train examples/gpu/isic2017-256.yaml on
# CUDA for MINUTES minutes (default 7), resuming the run folder a call before left there, export it (parity
# checked on the CPU), and bring back the ONNX file, the last sample grid and the curves in $OUT.
#
#   run(command="MINUTES=7 bash examples/gpu/device_train.sh", carry=[".device/data"], timeout_s=600)
#
# TRAIN_ARGS adds flags to the training command; a CPU dry run of the whole script here:
#   PYTHON=.venv/bin/python OUT=runs/dry RUN=runs/dry/run SITE=/tmp/site-test \
#   TRAIN_ARGS="--device cpu --image-size 32 --batch-size 4 --max-iterations 2" bash examples/gpu/device_train.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-runs/device-out}
RUN=${RUN:-runs/gpu256}
MINUTES=${MINUTES:-7}
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONPATH=${SITE:-/tmp/site}
"$PYTHON" -c "import medsynth.training" 2>/dev/null || {
    echo "medsynth is not installed on this machine: run examples/gpu/device_setup.sh first (same warm machine)" >&2
    exit 2
}
# shellcheck disable=SC2086  # TRAIN_ARGS is a list of flags
"$PYTHON" -m medsynth train --config examples/gpu/isic2017-256.yaml --data .device/data/isic2017 --out "$RUN" \
    --max-minutes "$MINUTES" ${TRAIN_ARGS:-} 2>&1 | tee "$OUT/train.log"
"$PYTHON" -m medsynth export "$RUN" --out "$RUN/isic2017-256.onnx" 2>&1 | tee "$OUT/export.log"
# a call brings back files of at most 16 MiB: the 256 px generator's float32 weights are 14.9 MiB
if [ "$(stat -c %s "$RUN/isic2017-256.onnx")" -le $((16 * 1048576)) ]; then
    cp "$RUN/isic2017-256.onnx" "$OUT/"
else
    "$PYTHON" -m medsynth export "$RUN" --fp16 --out "$OUT/isic2017-256-fp16.onnx" 2>&1 | tee -a "$OUT/export.log"
fi
for grid in "$RUN/curves.png" "$(ls "$RUN"/samples/*.png 2>/dev/null | tail -1)"; do
    if [ -f "$grid" ]; then cp "$grid" "$OUT/"; fi
done
