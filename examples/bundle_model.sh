#!/usr/bin/env bash
# Turn a finished training run into a bundled model, the way every shipped file was made: export with parity
# checks, generate N images per class, evaluate them against the held-out val split in the radiomic and the
# EfficientNet-Lite0 feature spaces (with the copy audit against the training split), export again with the
# measured metrics in the card into sdk/models/NAME.onnx, draw the 2x sample grids and print the sha256 that
# goes into sdk/registry.py's BUNDLED entry.
#
#   bash examples/bundle_model.sh RUN NAME "DESCRIPTION"        # DATA=../shared/data/isic2017 N=500
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:?usage: bundle_model.sh RUN NAME DESCRIPTION}
NAME=${2:?usage: bundle_model.sh RUN NAME DESCRIPTION}
DESCRIPTION=${3:?usage: bundle_model.sh RUN NAME DESCRIPTION}
DATA=${DATA:-../shared/data/isic2017}
N=${N:-500}   # synthetic images per class for the evaluation

medsynth export "$RUN" --out "$RUN/$NAME.onnx" --name "$NAME" --modality XC --seed 0
medsynth generate --model "$RUN/$NAME.onnx" --class nevus --n "$N" --class melanoma --n "$N" \
    --class seborrheic_keratosis --n "$N" --seed 0 --out "$RUN/synthetic" --quiet
medsynth evaluate --real "$DATA/labels.csv" --real-split val --train "$DATA/labels.csv" --train-split train \
    --synthetic "$RUN/synthetic" --model "$RUN/$NAME.onnx" --out "$RUN/eval" --seed 0
medsynth evaluate --real "$DATA/labels.csv" --real-split val --train "$DATA/labels.csv" --train-split train \
    --synthetic "$RUN/synthetic" --model "$RUN/$NAME.onnx" --features efficientnet-lite0 \
    --out "$RUN/eval-lite0" --seed 0
python examples/card_metrics.py "$RUN/eval/metrics.json" --out "$RUN/card_metrics.json"
medsynth export "$RUN" --out "sdk/models/$NAME.onnx" --name "$NAME" --modality XC --seed 0 \
    --metrics "$RUN/card_metrics.json" --description "$DESCRIPTION"
python examples/sample_grids.py "sdk/models/$NAME.onnx" --out docs/images
sha256sum "sdk/models/$NAME.onnx"
