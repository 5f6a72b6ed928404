"""What each training trick buys: train one model with the shipped recipe and with each trick changed.

    python benchmarks/ablation.py [--model camcnn] [--split filtered] [--epochs 20] [--only NAME ...]

Every run fits the train part only and is scored on the valid part (clip level, non-overlapping windows),
never on test: the recipe is chosen here, the shipped weights are then refit on train + valid. A single
epoch's validation figure is noisy (104 valid clips on `filtered`), so each run reports the mean over
its last five epochs beside its best epoch. Results merge into benchmarks/results/ablation.json, so
two processes (``--only``) can share the work on two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
from datetime import date
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np

from specinterp import training
from specinterp.plugins import registry

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results" / "ablation.json"
VARIANTS: dict[str, dict] = {
    "shipped recipe": {},
    "one crop per clip (not two)": {"crops_per_clip": 1},
    "no SpecAugment masking": {"freq_mask": 0, "time_mask": 0},
    "no class-balanced sampling": {"balanced": False},
    "no label smoothing": {"label_smoothing": 0.0},
    "constant learning rate (no cosine)": {"schedule": "constant"},
    "with mixup (alpha 0.4)": {"mixup": 0.4},
}


def run(model: str, split, dataset, epochs: int, changes: dict) -> dict:
    """Train with ``changes`` to the recipe; summarize the validation curve."""
    config = training.TrainConfig(epochs=epochs, seed=0, **changes)
    with TemporaryDirectory() as out:
        training.train(registry().get("models", model), dataset, split, Path(out), config, progress=False,
                       log=lambda _: None)
        history = json.loads((Path(out) / f"{model}-{split.name}.history.json").read_text())
    last = history[-5:]
    best = max(history, key=lambda h: (h["valid_balanced_accuracy"], h["valid_accuracy"]))
    return {
        "changes": changes,
        "last5_accuracy": float(np.mean([h["valid_accuracy"] for h in last])),
        "last5_balanced_accuracy": float(np.mean([h["valid_balanced_accuracy"] for h in last])),
        "best_epoch": best["epoch"], "best_accuracy": best["valid_accuracy"],
        "best_balanced_accuracy": best["valid_balanced_accuracy"],
        "seconds": sum(h["seconds"] for h in history),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path,
                        default=Path(os.environ.get("SPECINTERP_GTZAN", REPO.parent / "shared" / "gtzan")))
    parser.add_argument("--model", default="camcnn")
    parser.add_argument("--split", default="filtered")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--only", nargs="+", choices=list(VARIANTS), help="Run these variants only.")
    args = parser.parse_args()

    dataset = registry().datasets["gtzan"].open(args.data)
    split = dataset.split(args.split, 0)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=REPO).stdout.strip()
    for name in args.only or VARIANTS:
        result = run(args.model, split, dataset, args.epochs, VARIANTS[name])
        print(f"{name:40s} last-5 valid {100 * result['last5_accuracy']:5.1f} % "
              f"(balanced {100 * result['last5_balanced_accuracy']:5.1f} %)  "
              f"best {100 * result['best_accuracy']:5.1f} % "
              f"/ {100 * result['best_balanced_accuracy']:5.1f} % at epoch {result['best_epoch']}", flush=True)
        document = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {"runs": {}}
        document["runs"][f"{args.model}/{args.split}/{args.epochs}/{name}"] = {
            **result, "date": date.today().isoformat(), "commit": commit,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                       f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '-')}",
        }
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(document, indent=1))


if __name__ == "__main__":
    main()
