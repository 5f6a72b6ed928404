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
synthetic() {  # camcnn-synthetic: a narrow camcnn on the synthetic dataset (written to $out/synthetic-data on first
  # open), about 3 minutes; ship $out/camcnn-synthetic/camcnn-random.* as plugins/models/weights/camcnn-synthetic.*
  specinterp train --model camcnn --dataset synthetic --data "$out/synthetic-data" --seed 0 --epochs 15 --fit train+valid \
    --set 'channels=[8,16,32,64,64]' --out "$out/camcnn-synthetic"
}
shipped random > "$out.random.log" 2>&1 &
{ shipped filtered; interpretability; synthetic; } > "$out.filtered.log" 2>&1 &
wait
