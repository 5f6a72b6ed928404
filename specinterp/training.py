"""Train a model plugin on a dataset split: random window crops from cached log-mels, class-balanced
sampling, SpecAugment-style masking, label smoothing, one-cycle cosine schedule; the checkpoint with
the best validation (balanced, clip-level) accuracy is kept as safetensors + JSON."""

from __future__ import annotations

import json
import platform
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from specinterp import features, weights
from specinterp.evaluation import clip_scores
from specinterp.interfaces import Dataset, ModelPlugin, Split
from specinterp.windows import WINDOW_FRAMES


@dataclass
class TrainConfig:
    epochs: int = 40
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-3
    crops_per_clip: int = 2
    label_smoothing: float = 0.1
    freq_mask: int = 16  # widest SpecAugment frequency mask (mel bands); 0 disables
    time_mask: int = 16  # widest SpecAugment time mask (frames); 0 disables
    balanced: bool = True
    seed: int = 0


def set_seed(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)


def random_crops(specs: list[np.ndarray], rng: np.random.Generator, size: int = WINDOW_FRAMES) -> np.ndarray:
    """One random ``size``-frame window from each spectrogram (padded with its minimum if short)."""
    out = np.empty((len(specs), 1, specs[0].shape[0], size), dtype=np.float32)
    for i, spec in enumerate(specs):
        total = spec.shape[1]
        if total < size:
            out[i, 0] = spec.min()
            out[i, 0, :, :total] = spec
        else:
            start = rng.integers(0, total - size + 1)
            out[i, 0] = spec[:, start : start + size]
    return out


def spec_augment(batch: np.ndarray, rng: np.random.Generator, freq_mask: int, time_mask: int) -> np.ndarray:
    """One frequency band and one time span per window set to that window's mean."""
    for window in batch[:, 0]:
        fill = window.mean()
        if freq_mask:
            width = rng.integers(0, freq_mask + 1)
            start = rng.integers(0, window.shape[0] - width + 1)
            window[start : start + width] = fill
        if time_mask:
            width = rng.integers(0, time_mask + 1)
            start = rng.integers(0, window.shape[1] - width + 1)
            window[:, start : start + width] = fill
    return batch


def epoch_indices(labels: np.ndarray, count: int, balanced: bool, rng: np.random.Generator) -> np.ndarray:
    """Clip indices for one epoch: uniform over classes (then clips) when ``balanced``."""
    if not balanced:
        return rng.permutation(np.repeat(np.arange(len(labels)), max(1, count // len(labels))))
    freq = np.bincount(labels)[labels].astype(np.float64)
    return rng.choice(len(labels), size=count, replace=True, p=(1 / freq) / (1 / freq).sum())


def provenance() -> dict[str, Any]:
    """Library versions, machine and git commit, recorded next to the weights."""
    import torchaudio

    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                                cwd=Path(__file__).parent, timeout=5).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        commit = None
    return {
        "python": platform.python_version(), "torch": torch.__version__, "torchaudio": torchaudio.__version__,
        "numpy": np.__version__, "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
        "git_commit": commit,
    }


def train(plugin: ModelPlugin, dataset: Dataset, split: Split, out: Path, config: TrainConfig,
          model_config: dict[str, Any] | None = None, progress: bool = True,
          log: Callable[[str], None] = print) -> Path:
    """Train and return the path of the best checkpoint (``out/<model>-<split>.safetensors``)."""
    set_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    train_clips, valid_clips = split.parts["train"], split.parts["valid"]
    specs = features.logmels(train_clips + valid_clips, progress=progress)
    train_specs = [specs[c.id] for c in train_clips]
    labels = np.array([c.label for c in train_clips])

    model_config = {**plugin.default_config(), **(model_config or {}), "classes": len(dataset.classes)}
    module = plugin.build(model_config)
    steps_per_epoch = max(1, config.crops_per_clip * len(train_clips) // config.batch_size)
    optimizer = torch.optim.AdamW(module.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=config.epochs * steps_per_epoch,
                                                   pct_start=0.1, anneal_strategy="cos")
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    meta = {
        "dataset": dataset.name, "split": split.name, "split_digest": split.digest(), "seed": config.seed,
        "train": asdict(config), "train_ids": [c.id for c in train_clips], "valid_ids": [c.id for c in valid_clips],
        **provenance(),
    }
    out.mkdir(parents=True, exist_ok=True)
    best_path = out / f"{plugin.name}-{split.name}.safetensors"
    best = (-1.0, -1.0)
    history = []
    for epoch in range(1, config.epochs + 1):
        module.train()
        started = time.perf_counter()
        order = epoch_indices(labels, steps_per_epoch * config.batch_size, config.balanced, rng)
        running = 0.0
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch}/{config.epochs}", unit="step", disable=not progress, leave=False)
        for step in bar:
            chosen = order[step * config.batch_size : (step + 1) * config.batch_size]
            batch = spec_augment(random_crops([train_specs[i] for i in chosen], rng), rng, config.freq_mask, config.time_mask)
            loss = loss_fn(module(torch.from_numpy(batch)), torch.from_numpy(labels[chosen]))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            running += loss.item()
            bar.set_postfix(loss=f"{running / (step + 1):.3f}")
        module.eval()
        scores = clip_scores(module, [specs[c.id] for c in valid_clips], np.array([c.label for c in valid_clips]),
                             len(dataset.classes))
        record = {"epoch": epoch, "loss": running / steps_per_epoch, "valid_accuracy": scores["accuracy"],
                  "valid_balanced_accuracy": scores["balanced_accuracy"], "seconds": time.perf_counter() - started}
        history.append(record)
        improved = (scores["balanced_accuracy"], scores["accuracy"]) > best
        if improved:
            best = (scores["balanced_accuracy"], scores["accuracy"])
            weights.save(module, plugin.name, model_config, dataset.classes, best_path,
                         {**meta, "epoch": epoch, "valid": {k: scores[k] for k in ("accuracy", "balanced_accuracy")}})
        log(f"epoch {epoch:3d}  loss {record['loss']:.3f}  valid acc {scores['accuracy']:.3f}  "
            f"balanced {scores['balanced_accuracy']:.3f}  {record['seconds']:.1f}s{'  *' if improved else ''}")
        (out / f"{plugin.name}-{split.name}.history.json").write_text(json.dumps(history, indent=1))
    return best_path

