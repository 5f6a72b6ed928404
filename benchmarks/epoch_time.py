"""Seconds per training epoch over 700 clips (2 random crops each, batch 32) from cached log-mels.

    python benchmarks/epoch_time.py [--models camcnn basecnn maskedcnn] [--clips 700] [--smoke]

Runs the training loop's own step (``specinterp.training.train_step``: random crops, SpecAugment, the
loss with the model's auxiliary loss, AdamW and the one-cycle schedule) on class-balanced draws of 30 s
log-mels held in memory, as the cache provides them; no validation. ``--smoke``: 8 clips of camcnn,
recording nothing.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import record
from specinterp.plugins import registry
from specinterp.training import TrainConfig, epoch_indices, make_learner, train_step

FRAMES_30S = 1293  # a 30 s clip's log-mel frames at 22050 Hz, hop 512


def epoch_seconds(name: str, clips: int, config: TrainConfig) -> float:
    """Wall seconds of one epoch of ``config.crops_per_clip * clips`` windows on model ``name``."""
    rng = np.random.default_rng(0)
    specs = [rng.normal(-40, 15, (128, FRAMES_30S)).astype(np.float32) for _ in range(clips)]
    labels = np.arange(clips) % 10
    module = registry().models[name].build({"classes": 10})
    steps = max(1, config.crops_per_clip * clips // config.batch_size)
    learner = make_learner(module, config, steps, torch.device("cpu"))
    learner.model.train()
    order = epoch_indices(labels, steps * config.batch_size, True, rng)
    started = time.perf_counter()
    for step in range(steps):
        chosen = order[step * config.batch_size : (step + 1) * config.batch_size]
        train_step(learner, [specs[i] for i in chosen], labels[chosen], config, rng)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["camcnn", "basecnn", "maskedcnn"])
    parser.add_argument("--clips", type=int, default=700)
    parser.add_argument("--smoke", action="store_true", help="8 clips of camcnn in batches of 8; record nothing")
    args = parser.parse_args()
    models, clips = (["camcnn"], 8) if args.smoke else (args.models, args.clips)
    config = TrainConfig(batch_size=8) if args.smoke else TrainConfig()
    windows = config.crops_per_clip * clips
    per_model = {}
    for name in models:
        seconds = epoch_seconds(name, clips, config)
        per_model[name] = {"seconds_per_epoch": round(seconds, 2), "ms_per_window": round(1000 * seconds / windows, 2)}
        print(f"{name:<10} {seconds:6.1f} s per epoch of {clips} clips ({windows} windows, "
              f"{1000 * seconds / windows:.1f} ms per window)")
    record.append("epoch_time", {"clips": clips, "windows": windows, "batch_size": config.batch_size,
                                 "models": per_model}, args.smoke)


if __name__ == "__main__":
    main()
