#!/usr/bin/env bash
# The assessments behind docs/quality.md and the shipped verdicts (plugins/verdicts.json), one after another
# (about an hour and a half on the 2-core machine).
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
assess --model maskedcnn --data "$data" --split random --limit 20 --out "$out/maskedcnn-gtzan"
# the musicnn family (musicnn-genre and the taggers, their top tag explained): large models, so only the
# explainers that cost one or two passes, on 5 clips, all for the sanity checks (the others: not assessed)
cheap=deconvolution,filtermaps,gradcam,gradcam++,guided-backprop,guided-gradcam,layercam,saliency
for model in musicnn-genre musicnn-msd vgg-msd musicnn-mtt vgg-mtt; do
  specinterp assess --explainer "$cheap" --seed 0 --model "$model" --data "$data" --split random --limit 5 \
    --sanity-clips 5 --out "$out/$model-gtzan"
done
