"""Seconds per training epoch over 700 clips (2 random crops each, batch 32) from cached log-mels.

    python benchmarks/epoch_time.py [--models camcnn basecnn maskedcnn] [--clips 700]

Uses the training loop's own pieces (class-balanced draws, random crops, SpecAugment, the model's
auxiliary loss) on 30 s log-mels held in memory, as the cache provides them; no validation.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch
from torch import nn

from specinterp.plugins import registry
from specinterp.training import TrainConfig, epoch_indices, random_crops, spec_augment


def epoch_seconds(name: str, clips: int, config: TrainConfig) -> float:
    rng = np.random.default_rng(0)
    specs = [rng.normal(-40, 15, (128, 1293)).astype(np.float32) for _ in range(clips)]
    labels = np.arange(clips) % 10
    module = registry().models[name].build({"classes": 10})
    module.train()
    optimizer = torch.optim.AdamW(module.parameters(), lr=config.lr)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    steps = config.crops_per_clip * clips // config.batch_size
    order = epoch_indices(labels, steps * config.batch_size, True, rng)
    started = time.perf_counter()
    for step in range(steps):
        chosen = order[step * config.batch_size : (step + 1) * config.batch_size]
        batch = spec_augment(random_crops([specs[i] for i in chosen], rng), rng, config.freq_mask, config.time_mask)
        targets = torch.from_numpy(labels[chosen])
        loss = loss_fn(module(torch.from_numpy(batch)), targets)
        if hasattr(module, "auxiliary_loss"):
            loss = loss + module.auxiliary_loss(targets)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["camcnn", "basecnn", "maskedcnn"])
    parser.add_argument("--clips", type=int, default=700)
    args = parser.parse_args()
    config = TrainConfig()
    print(f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name in args.models:
        seconds = epoch_seconds(name, args.clips, config)
        windows = config.crops_per_clip * args.clips
        print(f"{name:<10} {seconds:6.1f} s per epoch of {args.clips} clips ({windows} windows, "
              f"{1000 * seconds / windows:.1f} ms per window)")


if __name__ == "__main__":
    main()
