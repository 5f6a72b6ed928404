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
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm import tqdm

from specinterp import features, weights
from specinterp.evaluation import clip_scores
from specinterp.frontend import FrontendConfig
from specinterp.interfaces import Clip, Dataset, ModelPlugin, SpecinterpError, Split
from specinterp.outputs import atomic_write
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
        if self.fit not in FITS:
            raise SpecinterpError(f"fit must be one of {', '.join(FITS)}, got '{self.fit}'")
        if self.schedule not in SCHEDULES:
            raise SpecinterpError(f"schedule must be one of {', '.join(SCHEDULES)}, got '{self.schedule}'")


FITS = ("train", "train+valid")
SCHEDULES = ("cosine", "constant")


def recipe(overrides: dict[str, Any], **fields: Any) -> TrainConfig:
    """A TrainConfig from ``fields`` plus ``--recipe`` overrides, refusing unknown names."""
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


def save_resume_state(path: Path, module: nn.Module, optimizer: torch.optim.Optimizer,
                      schedule: torch.optim.lr_scheduler.LRScheduler, state: dict[str, Any]) -> None:
    """Everything needed to resume, as safetensors (tensors) + JSON (the rest), each written atomically;
    no pickle. The tensors carry the epoch too, so a run killed between the two writes is caught."""
    from safetensors.torch import save_file

    opt = optimizer.state_dict()
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    for index, slots in opt["state"].items():
        for key, value in slots.items():
            tensors[f"optimizer.{index}.{key}"] = torch.as_tensor(value).detach().cpu().contiguous()
    document = {**state, "param_groups": opt["param_groups"], "schedule": schedule.state_dict()}
    atomic_write(path, lambda tmp: save_file(tensors, str(tmp), metadata={"epoch": str(state["epoch"])}))
    atomic_write(path.with_suffix(".json"), lambda tmp: tmp.write_text(json.dumps(document, indent=1)))


def load_resume_state(path: Path, module: nn.Module, optimizer: torch.optim.Optimizer,
                      schedule: torch.optim.lr_scheduler.LRScheduler) -> dict[str, Any]:
    """Restore what :func:`save_resume_state` wrote into ``module``, ``optimizer`` and ``schedule``;
    return the rest (epoch, epochs, best, history)."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    tensors = load_file(str(path))
    document = json.loads(path.with_suffix(".json").read_text())
    with safe_open(str(path), "pt") as opened:
        epoch = (opened.metadata() or {}).get("epoch", str(document["epoch"]))
    if epoch != str(document["epoch"]):
        raise SpecinterpError(f"{path}: holds epoch {epoch} but its .json epoch {document['epoch']} (a run stopped "
                              "while saving); start again without --resume")
    module.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    slots: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optimizer."):
            _, index, name = key.split(".", 2)
            slots.setdefault(int(index), {})[name] = value
    optimizer.load_state_dict({"state": slots, "param_groups": document.pop("param_groups")})
    schedule.load_state_dict(document.pop("schedule"))
    return document


# ---------------------------------------------------------------- one step

@dataclass
class Learner:
    """The module being trained, with its optimizer, learning-rate schedule and loss; ``model`` is the
    module, or its DistributedDataParallel wrapper under torchrun (forward and backward go through it)."""

    module: nn.Module
    model: nn.Module
    optimizer: torch.optim.Optimizer
    schedule: torch.optim.lr_scheduler.LRScheduler
    loss_fn: nn.Module
    device: torch.device


def make_learner(module: nn.Module, config: TrainConfig, total_steps: int, device: torch.device,
                 world: int = 1) -> Learner:
    """AdamW, the config's schedule over ``total_steps`` and label-smoothed cross-entropy for ``module``
    (already on ``device``); wrapped for DistributedDataParallel when ``world`` > 1."""
    model = nn.parallel.DistributedDataParallel(module) if world > 1 else module
    optimizer = torch.optim.AdamW(module.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    schedule: torch.optim.lr_scheduler.LRScheduler
    if config.schedule == "cosine":
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=config.lr, total_steps=total_steps,
                                                       pct_start=0.1, anneal_strategy="cos")
    else:
        schedule = torch.optim.lr_scheduler.ConstantLR(optimizer, factor=1.0, total_iters=0)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=config.label_smoothing)
    return Learner(module, model, optimizer, schedule, loss_fn, device)


def batch_loss(learner: Learner, windows: np.ndarray, labels: np.ndarray, config: TrainConfig,
               rng: np.random.Generator) -> torch.Tensor:
    """The loss of one batch of windows ``(N, 1, n_mels, frames)``: mixed up when the config asks,
    plus the model's own ``auxiliary_loss`` (given the dominant class of each mixed pair) if it has one."""
    targets = torch.from_numpy(labels).to(learner.device)
    if config.mixup:
        windows, lam, order = mixup(windows, rng, config.mixup)
        logits = learner.model(torch.from_numpy(windows).to(learner.device))
        loss = lam * learner.loss_fn(logits, targets) + (1 - lam) * learner.loss_fn(logits, targets[order])
        targets = targets if lam >= 0.5 else targets[order]
    else:
        loss = learner.loss_fn(learner.model(torch.from_numpy(windows).to(learner.device)), targets)
    if hasattr(learner.module, "auxiliary_loss"):
        loss = loss + learner.module.auxiliary_loss(targets)
    return loss


def train_step(learner: Learner, specs: list[np.ndarray], labels: np.ndarray, config: TrainConfig,
               rng: np.random.Generator, frames: int = WINDOW_FRAMES) -> float:
    """One optimizer step on a batch of clips: a random ``frames``-frame crop of each log-mel in
    ``specs``, SpecAugment masks, the loss against ``labels`` (:func:`batch_loss`), backward, the
    optimizer's and the schedule's step. ``rng`` draws crops, masks and mixing in that order. Returns
    the batch's loss."""
    windows = spec_augment(random_crops(specs, rng, frames), rng, config.freq_mask, config.time_mask)
    loss = batch_loss(learner, windows, labels, config, rng)
    learner.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    learner.optimizer.step()
    learner.schedule.step()
    return loss.item()


# ---------------------------------------------------------------- one run

@dataclass
class Run:
    """One training job: its data (log-mels by clip id), the learner, this process's rank, and the files
    it writes under ``out``, named after ``stem`` (``<model>-<split>``)."""

    plugin: ModelPlugin
    classes: tuple[str, ...]
    config: TrainConfig
    frontend: FrontendConfig
    ranks: Distributed
    specs: dict[str, np.ndarray]
    train_clips: list[Clip]
    valid_clips: list[Clip]
    model_config: dict[str, Any]
    learner: Learner
    meta: dict[str, Any]
    out: Path
    stem: str

    @property
    def refit(self) -> bool:
        """Valid is training data (``fit="train+valid"``): no selection, the last epoch is the result."""
        return self.config.fit == "train+valid"

    @property
    def draws_per_epoch(self) -> int:
        return self.config.crops_per_clip * len(self.train_clips)

    @property
    def steps_per_epoch(self) -> int:
        return epoch_steps(self.config, len(self.train_clips), self.ranks.world)

    @property
    def best_path(self) -> Path:
        return self.out / f"{self.stem}.safetensors"

    @property
    def last_path(self) -> Path:
        return self.out / f"{self.stem}.last.safetensors"

    @property
    def history_path(self) -> Path:
        return self.out / f"{self.stem}.history.json"


def epoch_steps(config: TrainConfig, clips: int, world: int) -> int:
    """Optimizer steps per epoch on each rank: the epoch's draws shared out in batches (at least one)."""
    return max(1, config.crops_per_clip * clips // (config.batch_size * world))


def setup(plugin: ModelPlugin, dataset: Dataset, split: Split, out: Path, config: TrainConfig,
          model_config: dict[str, Any] | None, progress: bool, device: str) -> Run:
    """Join torchrun's group if any, seed, compute (or read from the cache) the clips' log-mels, build
    the module and its learner, and gather the metadata recorded beside the weights."""
    torch_device = resolve_device(device)
    ranks = init_distributed(torch_device)
    torch.manual_seed(config.seed)  # the module's initial weights
    valid_clips = split.parts["valid"]
    train_clips = split.parts["train"] + (valid_clips if config.fit == "train+valid" else [])
    frontend = FrontendConfig.from_dict(plugin.default_frontend())
    specs = features.logmels(split.parts["train"] + valid_clips, config=frontend, progress=progress and ranks.main)
    model_config = {**plugin.default_config(), **(model_config or {}), "classes": len(dataset.classes)}
    module = plugin.build(model_config).to(torch_device)
    steps = epoch_steps(config, len(train_clips), ranks.world)
    learner = make_learner(module, config, config.epochs * steps, torch_device, ranks.world)
    meta = {
        "dataset": dataset.name, "split": split.name, "split_digest": split.digest(), "seed": config.seed,
        "train": asdict(config), "world_size": ranks.world, "train_ids": [c.id for c in train_clips],
        "valid_ids": [c.id for c in valid_clips], **provenance(),
    }
    out.mkdir(parents=True, exist_ok=True)
    return Run(plugin, tuple(dataset.classes), config, frontend, ranks, specs, train_clips, valid_clips, model_config,
               learner, meta, out, f"{plugin.name}-{split.name}")


def initial_state(run: Run, resume: bool, log: Callable[[str], None]) -> dict[str, Any]:
    """The progress to start from: the last checkpoint's when ``resume`` finds one (refused when it was
    made for another number of epochs), else epoch 0."""
    if not (resume and run.last_path.is_file()):
        return {"epoch": 0, "epochs": run.config.epochs, "best": [-1.0, -1.0], "history": []}
    learner = run.learner
    state = load_resume_state(run.last_path, learner.module, learner.optimizer, learner.schedule)
    if state["epochs"] != run.config.epochs:
        raise SpecinterpError(f"{run.last_path}: made by a run of {state['epochs']} epochs; "
                              f"resume with --epochs {state['epochs']}")
    if run.ranks.main:
        log(f"resuming after epoch {state['epoch']} from {run.last_path}")
    return state


def train_epoch(run: Run, epoch: int, progress: bool) -> float:
    """One epoch on this rank's share of the epoch's draws; the mean batch loss. Draws, crops, masks and
    dropout are seeded from (seed, epoch[, rank]), so an epoch is the same whether or not the run resumed."""
    config, ranks, learner = run.config, run.ranks, run.learner
    learner.model.train()
    torch.manual_seed(config.seed * 1_000_003 + epoch * 1009 + ranks.rank)  # dropout
    augment_rng = np.random.default_rng([config.seed, epoch, ranks.rank])
    labels = np.array([c.label for c in run.train_clips])
    draw_rng = np.random.default_rng([config.seed, epoch])
    draws = EpochDraws(epoch_indices(labels, run.draws_per_epoch, config.balanced, draw_rng))
    mine = list(torch.utils.data.DistributedSampler(draws, ranks.world, ranks.rank, shuffle=False, drop_last=True))
    running = 0.0
    bar = tqdm(range(run.steps_per_epoch), desc=f"epoch {epoch}/{config.epochs}", unit="step",
               disable=not (progress and ranks.main), leave=False)
    for step in bar:
        chosen = [draws[i] for i in mine[step * config.batch_size : (step + 1) * config.batch_size]]
        specs = [run.specs[run.train_clips[i].id] for i in chosen]
        running += train_step(learner, specs, labels[chosen], config, augment_rng, run.frontend.window_frames)
        bar.set_postfix(loss=f"{running / (step + 1):.3f}")
    return running / run.steps_per_epoch


def agree_across_ranks(run: Run, stop: bool) -> bool:
    """Under torchrun, give every rank rank 0's buffers (DDP broadcasts them before each forward; this
    makes the last step's final too) and its decision to stop; alone, ``stop`` unchanged."""
    flag = torch.tensor(int(stop))
    if run.ranks.world > 1:
        for tensor in [*run.learner.module.buffers(), flag]:
            dist.broadcast(tensor, src=0)
    return bool(flag)


def validate(run: Run) -> dict[str, float]:
    """Clip-level accuracy and balanced accuracy on the valid part (non-overlapping windows)."""
    frames = run.frontend.window_frames
    run.learner.module.eval()
    scores = clip_scores(run.learner.module, [run.specs[c.id] for c in run.valid_clips],
                         np.array([c.label for c in run.valid_clips]), len(run.classes), size=frames, hop=frames,
                         last=run.frontend.last_window)
    return {k: scores[k] for k in ("accuracy", "balanced_accuracy")}


def checkpoint(run: Run, state: dict[str, Any], epoch: int, valid: dict[str, float] | None, improved: bool) -> None:
    """Write the kept weights when ``improved``, then the resume state and the history (atomically)."""
    module = run.learner.module
    if improved:
        weights.save(module, run.plugin.name, run.model_config, run.classes, run.best_path,
                     {**run.meta, "epoch": epoch, "valid": valid}, run.plugin.default_frontend())
    save_resume_state(run.last_path, module, run.learner.optimizer, run.learner.schedule, state)
    atomic_write(run.history_path, lambda tmp: tmp.write_text(json.dumps(state["history"], indent=1)))


def epoch_summary(record: dict[str, Any], valid: dict[str, float] | None, improved: bool) -> str:
    """The epoch's log line: loss, validation accuracies (``*`` when the kept weights improved), seconds."""
    scored = "" if valid is None else f"  valid acc {valid['accuracy']:.3f}  balanced {valid['balanced_accuracy']:.3f}"
    marker = "  *" if improved and valid else ""
    return f"epoch {record['epoch']:3d}  loss {record['loss']:.3f}{scored}  {record['seconds']:.1f}s{marker}"


def finish_epoch(run: Run, state: dict[str, Any], epoch: int, loss: float, started: float) -> str:
    """Rank 0's end of an epoch: validate (unless refitting), note the best, checkpoint; the log line."""
    record: dict[str, Any] = {"epoch": epoch, "loss": loss}
    valid = None if run.refit else validate(run)
    if valid is not None:
        record.update(valid_accuracy=valid["accuracy"], valid_balanced_accuracy=valid["balanced_accuracy"])
    improved = run.refit or [valid["balanced_accuracy"], valid["accuracy"]] > state["best"]
    if improved and valid is not None:
        state["best"] = [valid["balanced_accuracy"], valid["accuracy"]]
    record["seconds"] = time.perf_counter() - started
    state["history"].append(record)
    state["epoch"] = epoch
    checkpoint(run, state, epoch, valid, improved)
    return epoch_summary(record, valid, improved)


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
    began = time.perf_counter()
    run = setup(plugin, dataset, split, out, config, model_config, progress, device)
    state = initial_state(run, resume, log)
    for epoch in range(state["epoch"] + 1, config.epochs + 1):
        started = time.perf_counter()
        loss = train_epoch(run, epoch, progress)
        stop = agree_across_ranks(run, time_limit is not None and time.perf_counter() - began > time_limit)
        if run.ranks.main:
            log(finish_epoch(run, state, epoch, loss, started))
        if stop and epoch < config.epochs:
            if run.ranks.main:
                log(f"time limit reached after epoch {epoch}; continue with --resume")
            break
    if run.ranks.world > 1:
        dist.barrier()
    return run.best_path, run.learner.module
