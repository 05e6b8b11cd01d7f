#!/usr/bin/env bash
# The architecture pilots of docs/training.md: `projected` against `sngan-cnn` at 64 and 128 px, each for the same
# wall time (PILOT_MINUTES, default 15) on ISIC 2017 train, validated every epoch against the val split in three
# spaces (FD over 8x8 pixel blocks, the radiomic FRD, FD over pooled EfficientNet-Lite0 features).
# Each arm is its own recipe (examples/isic2017-128.yaml for projected, examples/isic2017-64.yaml for sngan-cnn)
# at the pilot's image size and batch (32 at 64 px, 16 at 128 px). Then:
#   python benchmarks/pilot_curves.py runs/pilot-* --out docs/images/pilots.png
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES="${PILOT_MINUTES:-15}"
DATA="${DATA:-../shared/data/isic2017}"
common=(--data "$DATA" --split train --val-split val --val-features efficientnet-lite0 --max-minutes "$MINUTES"
        --epochs 1000 --sample-every 1 --checkpoint-every 1000 --no-resume)
for size in 64 128; do
  batch=$([ "$size" = 64 ] && echo 32 || echo 16)
  medsynth train --config examples/isic2017-128.yaml --out "runs/pilot-$size-projected" \
    --image-size "$size" --batch-size "$batch" "${common[@]}"
  medsynth train --config examples/isic2017-64.yaml --out "runs/pilot-$size-sngan-cnn" \
    --image-size "$size" --batch-size "$batch" "${common[@]}"
done
