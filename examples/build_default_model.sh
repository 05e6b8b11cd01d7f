#!/usr/bin/env bash
# Rebuild the bundled default model `isic2017-64` from the ISIC 2017 training split, the way the shipped file was
# made: train (75 minutes on a 2-core CPU), fine-tune with the spectral loss (35 minutes more: the first stage
# leaves a periodic dot lattice that its strided discriminator cannot see), export with parity checks, generate,
# evaluate against the held-out val split and audit for copies of training images, then export again with the
# measured metrics in the card and copy the file into the package.
#
#   bash examples/build_default_model.sh            # DATA=../shared/data/isic2017 RUN=runs/isic2017-64
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=${DATA:-../shared/data/isic2017}
RUN=${RUN:-runs/isic2017-64}
N=${N:-500}   # synthetic images per class for the evaluation

medsynth train --config examples/isic2017-64.yaml --data "$DATA" --out "$RUN-base"
medsynth train --config examples/isic2017-64.yaml --data "$DATA" --init-from "$RUN-base" \
    --spectral-weight 0.5 --max-minutes 110 --out "$RUN"
medsynth export "$RUN" --out "$RUN/isic2017-64.onnx" --name isic2017-64 --modality XC --seed 0
medsynth generate --model "$RUN/isic2017-64.onnx" --class nevus --class melanoma --class seborrheic_keratosis \
    --n "$N" --seed 0 --out "$RUN/synthetic" --quiet
medsynth evaluate --real "$DATA/labels.csv" --real-split val --train "$DATA/labels.csv" --train-split train \
    --synthetic "$RUN/synthetic" --out "$RUN/eval" --seed 0
python examples/card_metrics.py "$RUN/eval/metrics.json" --out "$RUN/card_metrics.json"
medsynth export "$RUN" --out sdk/models/isic2017-64.onnx --name isic2017-64 --modality XC --seed 0 \
    --metrics "$RUN/card_metrics.json" \
    --description "SNGAN (strided CNN discriminator) 64x64 RGB on ISIC 2017 dermoscopy (nevus, melanoma, seborrheic keratosis): 3,420 iterations, then 1,630 more with spectral_weight 0.5 started from that checkpoint (examples/build_default_model.sh)"
python examples/sample_grids.py sdk/models/isic2017-64.onnx --out docs/images
sha256sum sdk/models/isic2017-64.onnx   # goes into sdk/registry.py's BUNDLED entry
