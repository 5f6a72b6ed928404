"""Interpretability of the top conv filters, not just accuracy (issue: the study's three models).

    python benchmarks/interpretability.py --run basecnn=runs/basecnn/basecnn-random.safetensors \
        --run maskedcnn-noloss=runs/maskedcnn-noloss/maskedcnn-random.safetensors ...

For each run (a label and a weights file; the model comes from the weights' JSON):

(a) genre selectivity: per filter of the top layer (`features`), its maximum activation per window over
    the test and valid clips of the weights' split; the genres of its top 10 % windows, reweighted by
    genre frequency (this copy is unbalanced), give an entropy normalized to [0, 1] (0: one genre).
(b) location instability (Zhang et al. 2018): on synthetic 3 s clips with two tone bursts at known
    (time, frequency) positions, the distance from the filter's peak to each burst, normalized by the
    window diagonal; its standard deviation over the windows where the filter fires most (top 20 %),
    averaged over the two landmarks and over filters. Lower is more stable.
(c) clip-level test accuracy on the same split.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch

from specinterp import evaluation, features, frontend
from specinterp import windows as win
from specinterp.plugins import registry
from specinterp.weights import read_config, resolve
from specinterp_plugins.datasets import synthetic

REPO = Path(__file__).resolve().parents[1]


def top_layer_maps(module: torch.nn.Module, batch: torch.Tensor) -> torch.Tensor:
    """Output of the layer named ``features`` for a batch of windows: ``(N, K, h, w)``."""
    captured = {}
    handle = module.explainable_layers["features"].register_forward_hook(lambda m, i, o: captured.setdefault("maps", o))
    with torch.no_grad():
        module(batch)
    handle.remove()
    return captured["maps"]


def all_maps(module: torch.nn.Module, windows: np.ndarray, batch_size: int = 64) -> torch.Tensor:
    return torch.cat([top_layer_maps(module, torch.from_numpy(windows[i : i + batch_size]))
                      for i in range(0, len(windows), batch_size)])


def selectivity(module: torch.nn.Module, clips, n_classes: int, top: float = 0.1) -> dict:
    """Mean normalized entropy of each filter's top-window genres (balanced by genre frequency)."""
    specs = features.logmels(clips, progress=False)
    windows, labels = [], []
    for clip in clips:
        w = win.split(specs[clip.id])
        windows.append(w.data)
        labels += [clip.label] * len(w.data)
    labels = np.array(labels)
    peaks = all_maps(module, np.concatenate(windows)).amax(dim=(2, 3)).numpy()  # (N, K)
    frequency = np.bincount(labels, minlength=n_classes).astype(float)
    present = frequency > 0
    k = max(1, int(top * len(labels)))
    entropies, top_genres = [], []
    for f in range(peaks.shape[1]):
        if peaks[:, f].max() <= 0:
            continue  # a dead filter says nothing
        chosen = np.argsort(peaks[:, f])[::-1][:k]
        share = np.bincount(labels[chosen], minlength=n_classes)[present] / frequency[present]
        q = share / share.sum()
        entropies.append(float(-(q[q > 0] * np.log(q[q > 0])).sum() / np.log(present.sum())))
        top_genres.append(int(np.flatnonzero(present)[q.argmax()]))
    return {"mean_entropy": float(np.mean(entropies)), "live_filters": len(entropies), "top_genres": top_genres}


def location_instability(module: torch.nn.Module, per_class: int = 16, top: float = 0.2) -> float:
    """Zhang's instability: std over windows of the peak-to-landmark distances, mean over landmarks and filters."""
    clips = synthetic.make_set(per_class, seed=7, bursts=2)
    windows, landmarks = [], []
    bands = frontend.mel_band_hz()
    for clip in clips:
        spec = frontend.log_mel(clip.audio)
        windows.append(win.split(spec).data[:1])
        events = sorted(clip.events)
        landmarks.append([(t * frontend.DEFAULT.sample_rate / frontend.DEFAULT.hop_length,
                           float(np.interp(hz, bands, np.arange(len(bands))))) for t, hz in events])
    maps = all_maps(module, np.concatenate(windows))  # (N, K, h, w)
    n, k, h, w = maps.shape
    peak = maps.flatten(2).argmax(dim=2).numpy()
    # map cell centre -> (frame, mel band) in the 128 x 128 window
    rows, cols = (peak // w + 0.5) * (128 / h), (peak % w + 0.5) * (128 / w)
    landmarks = np.array(landmarks)  # (N, 2, [frame, band])
    diagonal = np.hypot(128, 128)
    strength = maps.amax(dim=(2, 3)).numpy()
    chosen_count = max(2, int(top * n))
    values = []
    for f in range(k):
        if strength[:, f].max() <= 0:
            continue
        chosen = np.argsort(strength[:, f])[::-1][:chosen_count]
        d = np.hypot(cols[chosen, f, None] - landmarks[chosen, :, 0],
                     rows[chosen, f, None] - landmarks[chosen, :, 1]) / diagonal
        values.append(float(d.std(axis=0).mean()))
    return float(np.mean(values))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", required=True, metavar="LABEL=WEIGHTS")
    parser.add_argument("--data", type=Path,
                        default=Path(os.environ.get("SPECINTERP_GTZAN", REPO.parent / "shared" / "gtzan")))
    parser.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "interpretability.json")
    args = parser.parse_args()
    dataset = registry().datasets["gtzan"].open(args.data)
    rows = {}
    for item in args.run:
        label, _, path = item.partition("=")
        document = read_config(Path(path))
        loaded = resolve(document["model"], path)
        split = dataset.split(document["meta"]["split"], document["meta"]["seed"])
        report = evaluation.evaluate(loaded, dataset, split, "test")
        chosen = selectivity(loaded.module, split.parts["test"] + split.parts["valid"], len(dataset.classes))
        rows[label] = {
            "weights": path, "model": loaded.name, "config": loaded.config, "split": split.name,
            "accuracy": report["accuracy"], "balanced_accuracy": report["balanced_accuracy"],
            "selectivity_entropy": chosen["mean_entropy"], "live_filters": chosen["live_filters"],
            "location_instability": location_instability(loaded.module),
        }
        r = rows[label]
        print(f"{label:<22} acc {100 * r['accuracy']:.1f} %  balanced {100 * r['balanced_accuracy']:.1f} %  "
              f"selectivity entropy {r['selectivity_entropy']:.3f} ({r['live_filters']} live filters)  "
              f"location instability {r['location_instability']:.4f}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
