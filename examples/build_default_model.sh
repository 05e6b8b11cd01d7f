#!/usr/bin/env bash
# Rebuild the bundled default model `isic2017-64` from the ISIC 2017 training split, the way the shipped file was
# made: train (75 minutes on a 2-core CPU), fine-tune with the spectral loss (35 minutes more: the first stage
# leaves a periodic dot lattice that its strided discriminator cannot see), then examples/bundle_model.sh
# (export with parity checks, evaluate against the held-out val split, export with the metrics into the package).
#
#   bash examples/build_default_model.sh            # DATA=../shared/data/isic2017 RUN=runs/isic2017-64
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/isic2017}
RUN=${RUN:-runs/isic2017-64}

medsynth train --config examples/isic2017-64.yaml --data "$DATA" --out "$RUN-base"
medsynth train --config examples/isic2017-64.yaml --data "$DATA" --init-from "$RUN-base" \
    --spectral-weight 0.5 --max-minutes 110 --out "$RUN"
DATA="$DATA" bash examples/bundle_model.sh "$RUN" isic2017-64 \
    "SNGAN (strided CNN discriminator) 64x64 RGB on ISIC 2017 dermoscopy (nevus, melanoma, seborrheic keratosis): 3,420 iterations, then 1,630 more with spectral_weight 0.5 started from that checkpoint (examples/build_default_model.sh)"
