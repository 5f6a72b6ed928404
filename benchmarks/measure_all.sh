#!/usr/bin/env bash
# Every issue-13 figure of docs/benchmarks.md, measured again and the page regenerated. Run it on an
# idle machine (about 15 minutes on 2 cores) from the repository root with the venv active.
set -euo pipefail
cd "$(dirname "$0")/.."
python benchmarks/explainer_times.py
python benchmarks/startup.py --repeat 5
python benchmarks/forward.py --variants
python benchmarks/memory.py --hours 1
python benchmarks/report_size.py
python benchmarks/throughput.py
python benchmarks/peers.py
python benchmarks/inversion.py --clips 20 --griffin-lim 3
python benchmarks/make_docs.py
