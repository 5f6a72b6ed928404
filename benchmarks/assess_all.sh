#!/usr/bin/env bash
# The assessments behind docs/quality.md and the shipped verdicts (plugins/verdicts.json), one after another
# (about an hour on the 2-core machine when nothing else runs).
# Usage: benchmarks/assess_all.sh [GTZAN folder] [output folder]
# Then: python scripts/record_verdicts.py OUT/*/assessment.json
set -euo pipefail
data=${1:-${SPECINTERP_GTZAN:-../shared/gtzan}}
out=${2:-runs/assess}
assess() { specinterp assess --explainer all --seed 0 "$@"; }

# camcnn on 50 test clips of the random split (spread over the genres; the shipped weights never saw them)
assess --model camcnn --data "$data" --split random --limit 50 --out "$out/camcnn-gtzan"
# the ground truth: camcnn-synthetic on 50 test clips of the synthetic set (generated under OUT on first use)
assess --model camcnn --data synthetic --limit 50 --out "$out/camcnn-synthetic"
# the other genre models on fewer test clips (what fitted in the session's time)
assess --model basecnn --data "$data" --split random --limit 30 --out "$out/basecnn-gtzan"
for model in maskedcnn musicnn-genre; do
  assess --model "$model" --data "$data" --split random --limit 20 --out "$out/$model-gtzan"
done
# musicnn's taggers (their top tag explained) on 6 GTZAN test clips, all for the sanity checks
for model in musicnn-msd vgg-msd musicnn-mtt vgg-mtt; do
  assess --model "$model" --data "$data" --split random --limit 6 --sanity-clips 6 --out "$out/$model-gtzan"
done
