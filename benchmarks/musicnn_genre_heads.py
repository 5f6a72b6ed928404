"""Choose musicnn-genre's head and recipe on the valid parts, cheaply: the body is frozen, so its features
can be computed once per window and the head trained on them in seconds.

    OMP_NUM_THREADS=1 python benchmarks/musicnn_genre_heads.py [--data ../shared/gtzan]
        [--features runs/musicnn-genre-features.npz]

A proxy for ``specinterp train --model musicnn-genre --fit train`` that keeps what a head sees and how it
is trained (the trainer's class-balanced draws of 2 windows per clip per epoch, batch 32, AdamW,
weight decay 1e-3, one-cycle cosine, label smoothing 0.1) and drops what would make caching impossible:
windows are drawn from a fixed grid (187 frames every 93) instead of at any frame, and without
SpecAugment. Valid scores are clip level (mean window log-probability over every other window of that
grid: about the trainer's non-overlapping validation windows), the mean of three seeds (0, 1, 2) at the
last epoch. Only train and valid clips are read: test clips never.
Writes benchmarks/results/musicnn_genre_heads.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from specinterp import features
from specinterp import windows as win
from specinterp.evaluation import scores
from specinterp.frontend import FrontendConfig
from specinterp.plugins import registry
from specinterp.training import epoch_indices

REPO = Path(__file__).resolve().parents[1]
GRID = {"lr": [1e-3, 3e-3, 1e-2, 3e-2], "epochs": [10, 20, 40], "hidden": [0, 128], "dropout": [0.5, 0.2]}
SEEDS = (0, 1, 2)


def window_features(clips, path: Path) -> dict[str, torch.Tensor]:
    """The frozen body's penultimate features ``(windows, 200)`` per clip id, cached in ``path``."""
    if path.is_file():
        cached = np.load(path)
        found = {k.replace("__", "/"): torch.from_numpy(cached[k]) for k in cached.files}
        if all(c.id in found for c in clips):
            return found
    plugin = registry().get("models", "musicnn-genre")
    frontend = FrontendConfig.from_dict(plugin.default_frontend())
    specs = features.logmels(clips, config=frontend)
    module = plugin.build({}).eval()
    out = {}
    with torch.no_grad():
        for clip in clips:
            data = win.split(specs[clip.id], size=frontend.window_frames, hop=frontend.window_hop).data
            out[clip.id] = module.penultimate(torch.from_numpy(data)).numpy()
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **{k.replace("/", "__"): v for k, v in out.items()})
    return {k: torch.from_numpy(v) for k, v in out.items()}


def fit_head(feats, split, lr: float, epochs: int, hidden: int, dropout: float, seed: int,
             weight_decay: float = 1e-3, crops: int = 2, batch: int = 32,
             smoothing: float = 0.1) -> list[tuple[float, float]]:
    """Train a head as the trainer would; (valid accuracy, balanced) after each epoch."""
    torch.manual_seed(seed)
    train, valid = split.parts["train"], split.parts["valid"]
    labels = np.array([c.label for c in train])
    layers: list[nn.Module] = [nn.Dropout(dropout)]
    if hidden:
        layers += [nn.Linear(200, hidden), nn.ReLU(), nn.Dropout(dropout)]
    head = nn.Sequential(*layers, nn.Linear(hidden or 200, 10))
    steps = max(1, crops * len(train) // batch)
    optimizer = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * steps, pct_start=0.1,
                                                   anneal_strategy="cos")
    loss_fn = nn.CrossEntropyLoss(label_smoothing=smoothing)
    valid_labels = np.array([c.label for c in valid])
    curve = []
    for epoch in range(1, epochs + 1):
        head.train()
        rng = np.random.default_rng([seed, epoch])
        draws = epoch_indices(labels, crops * len(train), True, rng)
        for step in range(steps):
            chosen = draws[step * batch:(step + 1) * batch]
            x = torch.stack([feats[train[i].id][rng.integers(len(feats[train[i].id]))] for i in chosen])
            loss = loss_fn(head(x), torch.from_numpy(labels[chosen]))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
        head.eval()
        with torch.no_grad():
            predicted = np.array([int(torch.log_softmax(head(feats[c.id][::2]), 1).mean(0).argmax()) for c in valid])
        result = scores(valid_labels, predicted, 10)
        curve.append((result["accuracy"], result["balanced_accuracy"]))
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path,
                        default=Path(os.environ.get("SPECINTERP_GTZAN", REPO.parent / "shared" / "gtzan")))
    parser.add_argument("--features", type=Path, default=REPO / "runs" / "musicnn-genre-features.npz")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" / "musicnn_genre_heads.json")
    args = parser.parse_args()
    torch.set_num_threads(1)
    dataset = registry().datasets["gtzan"].open(args.data)
    splits = {name: dataset.split(name, 0) for name in ("random", "filtered")}
    needed = {c.id: c for s in splits.values() for part in ("train", "valid") for c in s.parts[part]}
    began = time.perf_counter()
    feats = window_features(sorted(needed.values(), key=lambda c: c.id), args.features)
    rows = []
    for (name, split), values in itertools.product(splits.items(), itertools.product(*GRID.values())):
        settings = dict(zip(GRID, values, strict=True))
        curves = np.array([fit_head(feats, split, seed=seed, **settings) for seed in SEEDS])  # (seeds, epochs, 2)
        last = curves[:, -1].mean(axis=0)
        rows.append({"split": name, "split_digest": split.digest(), **settings, "valid_accuracy": float(last[0]),
                     "valid_balanced_accuracy": float(last[1]), "curve": curves.mean(axis=0).round(4).tolist()})
        print(f"{name:<8} " + " ".join(f"{k} {v:<6}" for k, v in settings.items()) +
              f" valid {100 * last[0]:.1f} / {100 * last[1]:.1f} %", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"seeds": SEEDS, "grid": GRID, "seconds": time.perf_counter() - began,
                                    "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
