"""Train a model plugin on a dataset split: random window crops from cached log-mels, class-balanced
sampling, SpecAugment-style masking, mixup, label smoothing, one-cycle cosine schedule. Fitting on the
train part keeps the checkpoint with the best validation (balanced, clip-level) accuracy; refitting on
train + valid (a recipe chosen on valid) keeps the last epoch. Weights are safetensors + JSON."""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from specinterp import features, weights
from specinterp.evaluation import clip_scores
from specinterp.frontend import FrontendConfig
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
    mixup: float = 0.0  # Beta(alpha, alpha) mixing of window pairs and their targets; 0 disables
    schedule: str = "cosine"  # one-cycle cosine, or "constant"
    fit: str = "train"  # "train": keep the best validation epoch; "train+valid": refit, keep the last epoch
    seed: int = 0

    def __post_init__(self) -> None:
        from specinterp.interfaces import SpecinterpError

        if self.fit not in FITS:
            raise SpecinterpError(f"fit must be one of {', '.join(FITS)}, got '{self.fit}'")
        if self.schedule not in SCHEDULES:
            raise SpecinterpError(f"schedule must be one of {', '.join(SCHEDULES)}, got '{self.schedule}'")


FITS = ("train", "train+valid")
SCHEDULES = ("cosine", "constant")


def recipe(overrides: dict[str, Any], **fields: Any) -> TrainConfig:
    """A TrainConfig from ``fields`` plus ``--recipe`` overrides, refusing unknown names."""
    from specinterp.interfaces import SpecinterpError

    known = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise SpecinterpError(f"unknown recipe field(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    return TrainConfig(**{**fields, **overrides})


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


def mixup(batch: np.ndarray, rng: np.random.Generator, alpha: float) -> tuple[np.ndarray, float, np.ndarray]:
    """Mix each window with a shuffled partner: ``lam * x + (1 - lam) * x[order]``; returns (mixed, lam, order)."""
    lam = float(rng.beta(alpha, alpha))
    order = rng.permutation(len(batch))
    return lam * batch + (1 - lam) * batch[order], lam, order


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


@dataclass(frozen=True)
class Distributed:
    """This process's place in a torchrun job (rank 0 of 1 when not distributed)."""

    rank: int = 0
    world: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def resolve_device(name: str = "auto") -> torch.device:
    """``auto``: this rank's CUDA device when CUDA is present, else the CPU."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return torch.device(name)


def init_distributed(device: torch.device) -> Distributed:
    """Join the torchrun process group when WORLD_SIZE > 1 (gloo on CPU, nccl on CUDA)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if dist.is_initialized():
        return Distributed(dist.get_rank(), dist.get_world_size())
    return Distributed()


class EpochDraws(torch.utils.data.Dataset):
    """One epoch's clip draws (identical on every rank); a DistributedSampler shares them out."""

    def __init__(self, indices: np.ndarray) -> None:
        self.indices = indices

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int) -> int:
        return int(self.indices[i])


def save_resume_state(path: Path, module: nn.Module, optimizer: torch.optim.Optimizer, schedule, state: dict[str, Any]) -> None:
    """Everything needed to resume, as safetensors (tensors) + JSON (the rest); no pickle."""
    from safetensors.torch import save_file

    opt = optimizer.state_dict()
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    for index, slots in opt["state"].items():
        for key, value in slots.items():
            tensors[f"optimizer.{index}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    document = {**state, "param_groups": opt["param_groups"], "schedule": schedule.state_dict()}
    tmp = path.with_suffix(".part")
    save_file(tensors, str(tmp))
    os.replace(tmp, path)
    path.with_suffix(".json").write_text(json.dumps(document, indent=1))


def load_resume_state(path: Path, module: nn.Module, optimizer: torch.optim.Optimizer, schedule) -> dict[str, Any]:
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    document = json.loads(path.with_suffix(".json").read_text())
    module.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    slots: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            slots.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": slots, "param_groups": document.pop("param_groups")})
    schedule.load_state_dict(document.pop("schedule"))
    return document


def train(plugin: ModelPlugin, dataset: Dataset, split: Split, out: Path, config: TrainConfig,
          model_config: dict[str, Any] | None = None, progress: bool = True, device: str = "auto",
          resume: bool = False, time_limit: float | None = None,
          log: Callable[[str], None] = print) -> tuple[Path, nn.Module]:
    """Train; return the kept weights' path (``out/<model>-<split>.safetensors``: the best validation
    epoch, or with ``fit="train+valid"`` the last) and the final module.

    Under torchrun each rank trains on its share of every epoch's draws (DistributedSampler) inside
    DistributedDataParallel; rank 0 alone validates, logs and writes files. Each epoch's draws and
    augmentations are seeded from (seed, epoch[, rank]), so a resumed run continues exactly. With
    ``time_limit`` (seconds) training stops after the epoch that crosses it, resumable with ``resume``.
    """
    from specinterp.interfaces import SpecinterpError

    began = time.perf_counter()
    torch_device = resolve_device(device)
    ranks = init_distributed(torch_device)
    torch.manual_seed(config.seed)
    valid_clips = split.parts["valid"]
    refit = config.fit == "train+valid"
    train_clips = split.parts["train"] + (valid_clips if refit else [])
    frontend = FrontendConfig.from_dict(plugin.default_frontend())
    specs = features.logmels(split.parts["train"] + valid_clips, config=frontend, progress=progress and ranks.main)
    train_specs = [specs[c.id] for c in train_clips]
    labels = np.array([c.label for c in train_clips])

    model_config = {**plugin.default_config(), **(model_config or {}), "classes": len(dataset.classes)}
    module = plugin.build(model_config).to(torch_device)
    model = nn.parallel.DistributedDataParallel(module) if ranks.world > 1 else module
    draws_per_epoch = config.crops_per_clip * len(train_clips)
    steps_per_epoch = max(1, draws_per_epoch // (config.batch_size * ranks.world))
    optimizer = torch.optim.AdamW(module.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    if config.schedule == "cosine":
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=config.epochs * steps_per_epoch,
                                                       pct_start=0.1, anneal_strategy="cos")
    else:
        schedule = torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    meta = {
        "dataset": dataset.name, "split": split.name, "split_digest": split.digest(), "seed": config.seed,
        "train": asdict(config), "world_size": ranks.world, "train_ids": [c.id for c in train_clips],
        "valid_ids": [c.id for c in valid_clips], **provenance(),
    }
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{plugin.name}-{split.name}"
    best_path, last_path = out / f"{stem}.safetensors", out / f"{stem}.last.safetensors"
    state: dict[str, Any] = {"epoch": 0, "epochs": config.epochs, "best": [-1.0, -1.0], "history": []}
    if resume and last_path.is_file():
        state = load_resume_state(last_path, module, optimizer, schedule)
        if state["epochs"] != config.epochs:
            raise SpecinterpError(f"{last_path}: made by a run of {state['epochs']} epochs; resume with --epochs {state['epochs']}")
        if ranks.main:
            log(f"resuming after epoch {state['epoch']} from {last_path}")
    for epoch in range(state["epoch"] + 1, config.epochs + 1):
        model.train()
        started = time.perf_counter()
        torch.manual_seed(config.seed * 1_000_003 + epoch * 1009 + ranks.rank)  # dropout
        augment_rng = np.random.default_rng([config.seed, epoch, ranks.rank])
        draws = EpochDraws(epoch_indices(labels, draws_per_epoch, config.balanced, np.random.default_rng([config.seed, epoch])))
        mine = list(torch.utils.data.DistributedSampler(draws, ranks.world, ranks.rank, shuffle=False, drop_last=True))
        running = 0.0
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch}/{config.epochs}", unit="step",
                   disable=not (progress and ranks.main), leave=False)
        for step in bar:
            chosen = [draws[i] for i in mine[step * config.batch_size : (step + 1) * config.batch_size]]
            batch = spec_augment(random_crops([train_specs[i] for i in chosen], augment_rng, frontend.window_frames), augment_rng,
                                 config.freq_mask, config.time_mask)
            targets = torch.from_numpy(labels[chosen]).to(torch_device)
            if config.mixup:
                batch, lam, order = mixup(batch, augment_rng, config.mixup)
                logits = model(torch.from_numpy(batch).to(torch_device))
                loss = lam * loss_fn(logits, targets) + (1 - lam) * loss_fn(logits, targets[order])
                targets = targets if lam >= 0.5 else targets[order]  # the dominant genre, for auxiliary losses
            else:
                loss = loss_fn(model(torch.from_numpy(batch).to(torch_device)), targets)
            if hasattr(module, "auxiliary_loss"):
                loss = loss + module.auxiliary_loss(targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            running += loss.item()
            bar.set_postfix(loss=f"{running / (step + 1):.3f}")
        stop = torch.tensor(int(time_limit is not None and time.perf_counter() - began > time_limit))
        if ranks.world > 1:  # DDP broadcasts rank 0's buffers before each forward; make the last step's final too
            for tensor in [*module.buffers(), stop]:
                dist.broadcast(tensor, src=0)
        if ranks.main:
            record = {"epoch": epoch, "loss": running / steps_per_epoch}
            if refit:  # valid is training data now: no selection, the last epoch is the result
                improved, valid = True, None
            else:
                module.eval()
                scores = clip_scores(module, [specs[c.id] for c in valid_clips], np.array([c.label for c in valid_clips]),
                                     len(dataset.classes), size=frontend.window_frames, hop=frontend.window_frames,
                                     last=frontend.last_window)  # validation: non-overlapping windows
                valid = {k: scores[k] for k in ("accuracy", "balanced_accuracy")}
                record.update(valid_accuracy=valid["accuracy"], valid_balanced_accuracy=valid["balanced_accuracy"])
                improved = [valid["balanced_accuracy"], valid["accuracy"]] > state["best"]
                if improved:
                    state["best"] = [valid["balanced_accuracy"], valid["accuracy"]]
            record["seconds"] = time.perf_counter() - started
            state["history"].append(record)
            if improved:
                weights.save(module, plugin.name, model_config, dataset.classes, best_path, {**meta, "epoch": epoch, "valid": valid},
                             plugin.default_frontend())
            state["epoch"] = epoch
            save_resume_state(last_path, module, optimizer, schedule, state)
            (out / f"{stem}.history.json").write_text(json.dumps(state["history"], indent=1))
            scored = "" if valid is None else f"  valid acc {valid['accuracy']:.3f}  balanced {valid['balanced_accuracy']:.3f}"
            log(f"epoch {epoch:3d}  loss {record['loss']:.3f}{scored}  {record['seconds']:.1f}s{'  *' if improved and valid else ''}")
        if stop and epoch < config.epochs:
            if ranks.main:
                log(f"time limit reached after epoch {epoch}; continue with --resume")
            break
    if ranks.world > 1:
        dist.barrier()
    return best_path, module
