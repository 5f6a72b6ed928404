#!/usr/bin/env bash
# The assessments behind docs/quality.md and the shipped verdicts (plugins/verdicts.json), one after another.
# Usage: benchmarks/assess_all.sh [GTZAN folder] [output folder]
# Then: python scripts/record_verdicts.py OUT/*-gtzan/assessment.json
set -euo pipefail
data=${1:-${SPECINTERP_GTZAN:-../shared/gtzan}}
out=${2:-runs/assess}
assess() { specinterp assess --explainer all --seed 0 "$@"; }

# the genre models on 50 test clips of the random split (the shipped weights never saw them)
for model in camcnn basecnn maskedcnn musicnn-genre; do
  assess --model "$model" --data "$data" --split random --limit 50 --out "$out/$model-gtzan"
done
# the ground truth: camcnn-synthetic on 50 test clips of the synthetic set (generated under OUT on first use)
assess --model camcnn --data synthetic --limit 50 --out "$out/camcnn-synthetic"
# musicnn's taggers (their top tag explained) on 20 GTZAN test clips: larger models, slower
for model in musicnn-msd musicnn-mtt vgg-msd vgg-mtt; do
  assess --model "$model" --data "$data" --split random --limit 20 --out "$out/$model-gtzan"
done
