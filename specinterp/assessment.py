"""``specinterp assess``: how far each explainer's maps can be trusted on a model, measured.

For every clip of a split's part, one window, the clip's centre, is explained by each explainer.
The window's audio is cut so that the whole pipeline (audio -> front end -> windows) gives exactly
that window, so a metric can also listen to the explanation (:mod:`specinterp_plugins.metrics`).
Each :class:`specinterp.interfaces.Metric` scores the map of one :class:`Case`; values per clip are
cached as JSON lines, so an interrupted run resumes where it stopped.

Helpers the metrics share are public here: :func:`rank_similarity`, :func:`randomization_cascade`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr
from torch import nn

from specinterp import audio
from specinterp import frontend as frontend_module
from specinterp.explaining import class_probabilities
from specinterp.interfaces import Clip, Dataset, Explainer, Metric, SpecinterpError, plugin_errors
from specinterp.weights import LoadedModel

CACHE_VERSION = 3
REFERENCE = "random-map"  # the reference row: a seeded random map, what chance scores


# ---------------------------------------------------------------- one window per clip

def centre_excerpt(samples: np.ndarray, config: frontend_module.FrontendConfig) -> tuple[np.ndarray, int]:
    """The clip's centre window as audio, and its first frame in the clip's log-mel.

    Parameters
    ----------
    samples : np.ndarray [shape=(n,)]
        The clip at the front end's rate.
    config : FrontendConfig
        The model's front end.

    Returns
    -------
    excerpt : np.ndarray [shape=((window_frames - 1) * hop_length,)]
        Samples whose log-mel (centred frames) is exactly one window; zero-padded at the end when
        the clip is shorter.
    first_frame : int
        The clip frame the excerpt's frame 0 sits on (its samples start at ``first_frame * hop``).
    """
    length = (config.window_frames - 1) * config.hop_length
    frames = config.frames(len(samples))
    first = max(0, (frames - config.window_frames) // 2)
    piece = np.asarray(samples[first * config.hop_length : first * config.hop_length + length], dtype=np.float32)
    if len(piece) < length:
        piece = np.pad(piece, (0, length - len(piece)))
    return piece, first


def spread(total: int, count: int | None) -> list[int]:
    """``count`` indices of ``range(total)`` spread evenly from the first to the last (all when
    ``count`` is ``None`` or not smaller)."""
    if count is None or count >= total:
        return list(range(total))
    return sorted({int(round(i)) for i in np.linspace(0, total - 1, count)})


# ---------------------------------------------------------------- maps

def relevance(explainer: Explainer, module: nn.Module, window: torch.Tensor, target: int,
              options: dict[str, Any]) -> np.ndarray:
    """One explainer's relevance for one window ``(n_mels, frames)`` in [0, 1].

    Several maps (filtermaps' filters, lime-music's parts) are summed; the result is scaled by its
    minimum and maximum as song maps are (a constant map becomes zeros).
    """
    maps = explainer.explain(module, window, torch.tensor([target]), **options)
    total = sum(value.detach().double().cpu() for value in maps.values())[0].numpy()
    if not np.isfinite(total).all():
        raise SpecinterpError(f"explainer '{explainer.name}' gave NaN or infinite values")
    low, high = total.min(), total.max()
    return np.zeros_like(total) if high - low <= 0 else (total - low) / (high - low)


def rank_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps, cell by cell, as Adebayo et al. (2018) compare maps.

    A constant map has no ranking: two constant maps count as identical (1.0), one constant map
    against a varying one as unrelated (0.0).
    """
    flat_a, flat_b = np.ravel(a), np.ravel(b)
    constant_a, constant_b = np.ptp(flat_a) == 0, np.ptp(flat_b) == 0
    if constant_a or constant_b:
        return 1.0 if constant_a and constant_b else 0.0
    return float(spearmanr(flat_a, flat_b).statistic)


class RandomReference(Explainer):
    """A map of seeded uniform noise: what an explanation that knows nothing scores."""

    name = REFERENCE
    description = "uniform random relevance (reference: chance level of every metric)"

    def __init__(self, seed: int = 0) -> None:
        self.generator = torch.Generator().manual_seed(seed)

    def attribute(self, model: nn.Module, windows: torch.Tensor, target: torch.Tensor,
                  **options: Any) -> dict[str, torch.Tensor]:
        return {self.name: torch.rand(windows.shape[0], *windows.shape[2:], generator=self.generator)}


# ---------------------------------------------------------------- randomized models

def layers_top_down(module: nn.Module, window: torch.Tensor) -> list[tuple[str, nn.Module]]:
    """The module's weight layers (own parameters with 2 or more dimensions: conv, dense), output first.

    The order is the order the forward pass calls them in, reversed, whatever order they were
    registered in.
    """
    names = {m: n for n, m in module.named_modules()}
    weighted = [m for m in module.modules() if any(p.dim() >= 2 for p in m.parameters(recurse=False))]
    called: list[nn.Module] = []
    hooks = [m.register_forward_hook(lambda m, args, out: called.append(m)) for m in weighted]
    try:
        with torch.no_grad():
            module(window)
    finally:
        for hook in hooks:
            hook.remove()
    order = list(dict.fromkeys(called))  # first call of each
    return [(names[m], m) for m in reversed(order)]


def cascade_depths(layers: int, points: int | None) -> list[int]:
    """Which depths of a cascade over ``layers`` weight layers to explain: ``points`` evenly spaced
    from the output layer alone (depth 1) to all of them (``None``: every depth)."""
    if points is None or points >= layers:
        return list(range(1, layers + 1))
    return sorted({int(round(d)) for d in np.linspace(1, layers, max(points, 2))})


def cascade_points(module: nn.Module, window: torch.Tensor, points: int | None) -> list[str]:
    """The deepest layer re-drawn at each explained depth of :func:`randomization_cascade`, output first."""
    path = [name for name, _ in layers_top_down(module, window)]
    return [path[depth - 1] for depth in cascade_depths(len(path), points)]


def randomization_cascade(module: nn.Module, window: torch.Tensor, seed: int,
                          points: int | None = None) -> list[tuple[str, nn.Module]]:
    """Copies of ``module`` with weight layers re-initialized cumulatively from the output down.

    The copy at depth ``d`` has the top ``d`` layers of :func:`layers_top_down` re-drawn by their
    own ``reset_parameters`` (PyTorch's default initialization; normalization layers keep their
    statistics), seeded, as in Adebayo et al. 2018, "Sanity Checks for Saliency Maps" (NeurIPS),
    cascading randomization. Depths are :func:`cascade_depths`; each copy is in eval mode and named
    after the deepest layer drawn.
    """
    current = copy.deepcopy(module).eval()
    path = [name for name, _ in layers_top_down(current, window)]
    keep = set(cascade_depths(len(path), points))
    copies = []
    with torch.random.fork_rng(devices=[]):
        for depth, name in enumerate(path, start=1):
            torch.manual_seed(seed * 1000 + depth)  # seed: the clip's (clip_seed)
            layer = current.get_submodule(name)
            if not hasattr(layer, "reset_parameters"):
                raise SpecinterpError(f"layer {name} ({type(layer).__name__}) cannot be re-initialized")
            layer.reset_parameters()
            if depth in keep:
                copies.append((name, copy.deepcopy(current)))
    return copies


# ---------------------------------------------------------------- one case

@dataclass
class Case:
    """One explainer's map of one window of one clip, with what a metric may ask about it.

    ``window`` is ``(1, 1, n_mels, frames)``; ``waveform`` the excerpt's samples that make it;
    ``relevance`` the map in [0, 1]; ``truth`` and ``distractors`` the dataset's masks on the window
    (``None`` when it has none); ``probability`` the model's probability of ``target``.
    """

    clip: str
    model: LoadedModel
    explainer: Explainer
    options: dict[str, Any]
    window: torch.Tensor
    waveform: np.ndarray
    target: int
    runner_up: int
    probability: float
    relevance: np.ndarray
    cascade: Callable[[], list[tuple[str, nn.Module]]]
    seed: int = 0
    truth: np.ndarray | None = None
    distractors: np.ndarray | None = None

    def explain(self, module: nn.Module | None = None, target: int | None = None) -> np.ndarray:
        """The same explainer's relevance with another module (a randomized copy) or class."""
        return relevance(self.explainer, module if module is not None else self.model.module, self.window,
                         self.target if target is None else target, self.options)

    def scores(self, windows: torch.Tensor) -> np.ndarray:
        """The model's probability of ``target`` for each of ``windows`` ``(N, 1, n_mels, frames)``."""
        with torch.no_grad():
            return class_probabilities(self.model.module, windows)[:, self.target].double().numpy()


# ---------------------------------------------------------------- the run

@dataclass
class Job:
    """What ``assess`` runs: one model, explainers (with their options), clips, metrics."""

    model: LoadedModel
    explainers: list[tuple[Explainer, dict[str, Any]]]
    clips: list[Clip]
    dataset: Dataset
    metrics: list[Metric]
    seed: int = 0
    cache: Path | None = None
    depths: int | None = 3  # points of the randomization cascade (None: every weight layer)
    clip_limits: dict[str, int] = field(default_factory=dict)  # metric -> on that many clips, spread evenly
    weights_digest: str = field(init=False, default="")
    limited_to: dict[str, set[str]] = field(init=False, default_factory=dict)  # metric -> the clip ids it runs on

    def __post_init__(self) -> None:
        weights = self.model.path.read_bytes() if self.model.path else repr(self.model.module).encode()
        self.weights_digest = hashlib.sha256(weights).hexdigest()
        self.limited_to = {name: {self.clips[i].id for i in spread(len(self.clips), limit)}
                           for name, limit in self.clip_limits.items()}

    def key(self, explainer: Explainer, options: dict[str, Any], clip: Clip) -> str:
        """Identifies one cached result: model weights, explainer and options, clip, metrics, seed."""
        metrics = sorted(m.name for m in self.metrics if self.measures(m, clip))
        text = json.dumps([CACHE_VERSION, self.model.name, self.weights_digest, explainer.name, options, clip.id,
                           metrics, self.seed, self.depths], default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:20]

    def measures(self, metric: Metric, clip: Clip) -> bool:
        """Whether ``metric`` runs on ``clip``: a limited metric runs on that many clips spread evenly
        over the list (:func:`spread`), so a part sorted by class does not hand it one class."""
        chosen = self.limited_to.get(metric.name)
        return chosen is None or clip.id in chosen


def read_cache(path: Path | None) -> dict[str, dict[str, Any]]:
    """Cached results by key; lines cut short by an interruption are ignored."""
    if path is None or not path.exists():
        return {}
    found = {}
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
            found[row["key"]] = row
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    return found


def clip_seed(seed: int, clip: Clip) -> int:
    """A seed of its own for each clip: random maps and re-drawn layers differ between clips, so their
    mean is over random draws, not one draw's luck."""
    return zlib.crc32(f"{seed}:{clip.id}".encode()) % 1_000_003


def cases(job: Job, clip: Clip, explainers: list[tuple[Explainer, dict[str, Any]]]
          ) -> Iterator[tuple[Explainer, dict[str, Any], Callable[[], Case]]]:
    """For each of ``explainers``, a maker of its :class:`Case` on ``clip``'s centre window (shared audio)."""
    config = job.model.frontend
    excerpt, first = centre_excerpt(audio.load(clip.path, config.sample_rate), config)
    window = torch.from_numpy(frontend_module.log_mel(excerpt, config)[None, None].copy())
    with torch.no_grad():
        probabilities = class_probabilities(job.model.module.eval(), window)[0].double().numpy()
    order = np.argsort(-probabilities, kind="stable")
    truth = distractors = None
    masks = job.dataset.truth(clip, config, first + config.window_frames)
    if masks is not None:
        truth, distractors = (np.asarray(m[:, first : first + config.window_frames], dtype=bool) for m in masks)
    cascade_cache: list[list[tuple[str, nn.Module]]] = []

    def cascade() -> list[tuple[str, nn.Module]]:
        if not cascade_cache:
            cascade_cache.append(randomization_cascade(job.model.module, window, clip_seed(job.seed, clip), job.depths))
        return cascade_cache[0]

    for explainer, options in explainers:
        if isinstance(explainer, RandomReference):  # its own noise per clip, whatever ran before
            explainer = RandomReference(clip_seed(job.seed, clip))

        def make(explainer: Explainer = explainer, options: dict[str, Any] = options) -> Case:
            target = int(order[0])
            return Case(clip.id, job.model, explainer, options, window, excerpt, target, int(order[1]),
                        float(probabilities[target]),
                        relevance(explainer, job.model.module, window, target, options), cascade, job.seed,
                        truth, distractors)

        yield explainer, options, make


def measure(job: Job, case: Case, clip: Clip) -> dict[str, Any]:
    """Every applicable metric's values for one case, keyed ``metric.value``."""
    values: dict[str, Any] = {}
    for metric in job.metrics:
        if (metric.needs_truth and case.truth is None) or not job.measures(metric, clip):
            continue
        for name, value in metric.measure(case).items():
            values[f"{metric.name}.{name}"] = value if isinstance(value, list) else float(value)
    return values


def run(job: Job, progress: Callable[[int], None] = lambda n: None) -> list[dict[str, Any]]:
    """Every (explainer, clip) result, from the cache where present; new ones appended to it.

    A clip that cannot be decoded fails alone (its rows carry ``error``); ``progress(1)`` is called
    per (explainer, clip) done.
    """
    cached = read_cache(job.cache)
    rows = []
    sink = job.cache.open("a") if job.cache else None
    try:
        for clip in job.clips:
            keys = [job.key(e, o, clip) for e, o in job.explainers]
            pending = [(e, o) for (e, o), key in zip(job.explainers, keys, strict=True) if key not in cached]
            rows += [cached[key] for key in keys if key in cached]
            progress(len(job.explainers) - len(pending))
            if not pending:
                continue
            try:
                makers = list(cases(job, clip, pending))
            except SpecinterpError as exc:
                rows += [{"explainer": e.name, "clip": clip.id, "error": str(exc)} for e, _ in pending]
                progress(len(pending))
                continue
            pending_keys = [key for key in keys if key not in cached]
            for (explainer, _options, make), key in zip(makers, pending_keys, strict=True):
                row = {"key": key, "explainer": explainer.name, "clip": clip.id}
                started = time.perf_counter()
                try:
                    case = make()
                    row.update(target=case.model.classes[case.target], probability=case.probability,
                               values=measure(job, case, clip), seconds=round(time.perf_counter() - started, 3))
                except (SpecinterpError, ValueError, RuntimeError) as exc:  # this explainer on this clip only
                    rows.append({"explainer": explainer.name, "clip": clip.id, "error": f"{clip.path}: {exc}"})
                    progress(1)
                    continue
                rows.append(row)
                if sink:
                    sink.write(json.dumps(row) + "\n")
                    sink.flush()
                progress(1)
    finally:
        if sink:
            sink.close()
    return rows


def explainer_jobs(names: Sequence[str], model: LoadedModel, registry: Any, options: dict[str, Any],
                   reference: bool) -> tuple[list[tuple[Explainer, dict[str, Any]]], dict[str, str]]:
    """The explainers to run with their resolved options, and those that cannot run on the model."""
    from specinterp.api import options_for
    from specinterp.interfaces import IncompatibleExplainer

    methods = [registry.get("explainers", name) for name in names]
    chosen, skipped = [], {}
    for method in methods:
        try:
            method.check(model.module, model.name)
        except IncompatibleExplainer as exc:
            skipped[method.name] = str(exc)
            continue
        with plugin_errors(f"explainer '{method.name}'"):
            chosen.append((method, method.resolve_options(options_for(method, methods, options))))
    if reference:
        chosen.append((RandomReference(), {}))  # seeded per clip by :func:`cases`
    return chosen, skipped
