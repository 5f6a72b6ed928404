#!/usr/bin/env bash
# Reproduce the shipped weights and the interpretability runs on this machine kind (2 cores):
# the two splits train side by side, one thread each (about 70 minutes in all).
# Usage: benchmarks/train_shipped.sh [GTZAN folder] [output folder]
# Shipped recipe: chosen on the valid part (train-only runs, docs/results.md), then refit on train + valid
# for a fixed number of epochs and the last epoch kept, as the MFCC+SVM baseline refits on train + valid.
set -euo pipefail
data=${1:-${SPECINTERP_GTZAN:-../shared/gtzan}}
out=${2:-runs}
export OMP_NUM_THREADS=1
train() { specinterp train --data "$data" --seed 0 "$@"; }

shipped() {
  train --model camcnn --split "$1" --fit train+valid --epochs 60 --out "$out/camcnn"
  train --model basecnn --split "$1" --fit train+valid --epochs 25 --out "$out/basecnn"
  train --model maskedcnn --split "$1" --fit train+valid --epochs 25 --out "$out/maskedcnn"
  train --model musicnn-genre --split "$1" --fit train+valid --epochs 20 --out "$out/musicnn-genre"  # frozen body, head only
}
interpretability() {  # equal budgets (12 epochs, train part only, random split)
  train --model basecnn --split random --epochs 12 --out "$out/interp-basecnn"
  train --model maskedcnn --split random --epochs 12 --out "$out/interp-maskedcnn-2d"
  train --model maskedcnn --split random --epochs 12 --set filter_loss_weight=0 --out "$out/interp-maskedcnn-noloss"
  train --model maskedcnn --split random --epochs 12 --set templates=freq --out "$out/interp-maskedcnn-freq"
}
shipped random > "$out.random.log" 2>&1 &
{ shipped filtered; interpretability; } > "$out.filtered.log" 2>&1 &
wait
