#!/usr/bin/env bash
# Reproduce the shipped weights (and the interpretability variants) on this machine kind.
# Usage: benchmarks/train_shipped.sh [GTZAN folder] [output folder]
set -euo pipefail
data=${1:-${SPECINTERP_GTZAN:-../shared/gtzan}}
out=${2:-runs}
train() { specinterp train --data "$data" --seed 0 "$@"; }

for split in random filtered; do
  train --model camcnn --split "$split" --epochs 80 --out "$out/camcnn"
  train --model basecnn --split "$split" --epochs 20 --out "$out/basecnn"
  train --model maskedcnn --split "$split" --epochs 20 --out "$out/maskedcnn"
done
# interpretability comparison (random split): masks without the loss, and frequency-band templates
train --model maskedcnn --split random --epochs 12 --set filter_loss_weight=0 --out "$out/maskedcnn-noloss"
train --model maskedcnn --split random --epochs 12 --set templates=freq --out "$out/maskedcnn-freq"
