"""lime-music: which part (harmonic or percussive) of which frequency band, and when, drove the
prediction. LIME (Ribeiro et al. 2016, Captum's ``Lime``) over musical components, as audioLIME
(Haunschmid et al. 2020) does with separated sources.

Each window's mel power spectrogram ``10 ** (dB / 10)`` is split by librosa's harmonic / percussive
separation (HPSS) into two parts that add back up to it. A component is one part in one frequency band
(Hz edges, mel rows assigned by their centre frequency on the model's front end) in one time segment of the
window: with the defaults 2 x 6 x 4 = 48 components. A LIME sample keeps some components; where a component is removed,
the power of its bins is the other part's alone, and the window returns to dB floored at its own
minimum (all removed: a silent window at that minimum). A weighted ridge fit of the target's probability (softmax;
sigmoid for a multi-label model) on the kept components gives each component a weight; the maps paint the
positive weights on the bins of their part.

The cost is ``samples`` forward passes per window (plus one HPSS per window), batched ``EVAL_BATCH`` per
forward: 100 at the default, twice that at ``samples=200``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from specinterp import hookimpl
from specinterp.explaining import class_probabilities, evaluating, mel_frequencies, positive_int, seed_value
from specinterp.interfaces import Explainer, Explanation

if TYPE_CHECKING:
    from captum._utils.models.linear_model import LinearModel

PARTS = ("harmonic", "percussive")
DEFAULT_BANDS = (0.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 11025.0)
DEFAULTS = {"samples": 100, "bands": list(DEFAULT_BANDS), "segments": 4, "seed": 0}
EVAL_BATCH = 50  # perturbed windows per forward pass
KERNEL_WIDTH = 0.25  # LIME's image default, on the cosine distance to the all-kept component vector
RIDGE_ALPHA = 1.0  # LIME's default ridge penalty
TOP_CELLS = 3


# ---------------------------------------------------------------- components

def band_edges(value: Any) -> tuple[float, ...]:
    """Option ``bands`` as at least two increasing, non-negative Hz edges, or a ``ValueError``."""
    if not isinstance(value, (list, tuple)) or len(value) < 2 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise ValueError(f"option bands must be a list of at least two Hz edges, got {value!r}")
    edges = tuple(float(v) for v in value)
    if edges[0] < 0 or any(b <= a for a, b in pairwise(edges)):
        raise ValueError(f"option bands must increase from 0 Hz or more, got {value!r}")
    return edges


def band_of_rows(edges: tuple[float, ...], centres: np.ndarray) -> np.ndarray:
    """Band index of each mel row by its centre Hz ``(n_mels,)`` (rows outside the edges join the nearest band)."""
    bands = np.clip(np.searchsorted(edges, centres, side="right") - 1, 0, len(edges) - 2)
    empty = sorted(set(range(len(edges) - 1)) - set(bands.tolist()))
    if empty:
        raise ValueError(f"band {hz_label(edges[empty[0]], edges[empty[0] + 1])} holds no mel band; widen it")
    return bands


def component_mask(edges: tuple[float, ...], segments: int, centres: np.ndarray, frames: int) -> torch.Tensor:
    """Component id of each bin of each part ``(2, n_mels, frames)``: part, then band, then segment.

    ``centres`` are the mel rows' centre frequencies (Hz, ``(n_mels,)``) and ``frames`` the window's length.
    """
    if segments > frames:
        raise ValueError(f"option segments must be at most {frames} (the window's frames), got {segments}")
    cells = (len(edges) - 1) * segments
    cell = band_of_rows(edges, centres)[:, None] * segments + np.arange(frames)[None, :] * segments // frames
    return torch.from_numpy(np.stack([cell + part * cells for part in range(len(PARTS))]))


def split_parts(window_db: torch.Tensor) -> torch.Tensor:
    """Harmonic and percussive mel power of a window ``(n_mels, frames)`` dB -> ``(2, n_mels, frames)``."""
    import librosa  # heavy: only when this explainer runs

    power = 10.0 ** (window_db.detach().cpu().double().numpy() / 10.0)
    return torch.from_numpy(np.stack(librosa.decompose.hpss(power))).to(window_db.dtype)


def remix(kept: torch.Tensor, parts: torch.Tensor, floor: float) -> torch.Tensor:
    """Windows ``(n, 1, n_mels, frames)`` dB from which bins of each part are kept ``(n, 2, n_mels, frames)``."""
    power = (kept * parts).sum(dim=1, keepdim=True)
    return (10.0 * torch.log10(power.clamp_min(1e-10))).clamp_min(floor)


# ---------------------------------------------------------------- LIME

def seeded_coalitions(seed: int) -> Callable[..., Iterator[torch.Tensor]]:
    """A Captum ``perturb_func``: each component kept with probability 1/2, drawn from ``seed``."""

    def draw(original_inp: torch.Tensor, **kwargs: Any) -> Iterator[torch.Tensor]:
        generator = torch.Generator().manual_seed(seed)
        half = torch.full((1, int(kwargs["num_interp_features"])), 0.5)
        while True:
            yield torch.bernoulli(half, generator=generator).long()

    return draw


def weighted_ridge(model: LinearModel, dataloader: DataLoader, construct_kwargs: dict[str, Any],
                   **_: Any) -> dict[str, float]:
    """Captum ``train_fn``: closed-form weighted ridge with an unpenalised intercept."""
    x, y, w = (torch.cat(parts).double() for parts in zip(*dataloader, strict=True))
    design = torch.cat([x, torch.ones(len(x), 1, dtype=x.dtype)], dim=1)
    penalty = construct_kwargs["alpha"] * torch.eye(design.shape[1], dtype=x.dtype)
    penalty[-1, -1] = 0.0
    coef = torch.linalg.solve(design.T @ (w[:, None] * design) + penalty, design.T @ (w * y.flatten()))
    model._construct_model_params(weight_values=coef[None, :-1].float(), bias_value=coef[-1:].float())
    return {}


def window_weights(model: nn.Module, window_db: torch.Tensor, target: int, mask: torch.Tensor,
                   samples: int, seed: int) -> torch.Tensor:
    """LIME weight of each component painted on its bins ``(2, n_mels, frames)`` for one window.

    LIME's input is the component vector itself (all kept: ones); the forward pass spreads a sampled
    vector onto the bins through ``mask``, so Captum never handles bin-sized tensors. LIME runs on the
    CPU; only the model sees the window's device.
    """
    from captum._utils.models.linear_model import LinearModel
    from captum.attr import Lime
    from captum.attr._core.lime import get_exp_kernel_similarity_function

    parts = split_parts(window_db)
    floor = float(window_db.min())
    lime = Lime(
        lambda kept: class_probabilities(model, remix(kept[:, mask], parts, floor).to(window_db.device)).cpu(),
        interpretable_model=LinearModel(weighted_ridge, alpha=RIDGE_ALPHA),
        similarity_func=get_exp_kernel_similarity_function("cosine", KERNEL_WIDTH),
        perturb_func=seeded_coalitions(seed),
    )
    components = int(mask.max()) + 1
    weights = lime.attribute(torch.ones(1, components), baselines=0.0, target=target, n_samples=samples,
                             perturbations_per_eval=EVAL_BATCH)
    return weights[0][mask].to(window_db.device)


# ---------------------------------------------------------------- words

def hz_label(low: float, high: float) -> str:
    """``250-500 Hz``, ``500 Hz-1 kHz``, ``2-4 kHz``."""

    def split(hz: float) -> tuple[str, str]:
        return (f"{hz / 1000:.3g}", "kHz") if hz >= 1000 else (f"{hz:.3g}", "Hz")

    (a, unit_a), (b, unit_b) = split(low), split(high)
    return f"{a}-{b} {unit_b}" if unit_a == unit_b else f"{a} {unit_a}-{b} {unit_b}"


def clock(seconds: int) -> str:
    return f"{seconds // 60}:{seconds % 60:02d}"


def cell_means(song_map: np.ndarray, rows: np.ndarray, bands: int, span: int) -> np.ndarray:
    """Mean of a song map over each band x time span of ``span`` frames ``(bands, spans)``."""
    by_band = np.stack([song_map[rows == b].mean(axis=0) for b in range(bands)])
    starts = np.arange(0, by_band.shape[1], span)
    return np.add.reduceat(by_band, starts, axis=1) / np.diff(np.append(starts, by_band.shape[1]))


def top_cells(maps: dict[str, np.ndarray], edges: tuple[float, ...], span: int,
              centres: np.ndarray) -> list[tuple[int, int, int]]:
    """The highest positive (part, band, span) cells, best first; ``centres``: the rows' Hz."""
    rows = band_of_rows(edges, centres)
    scores = np.stack([cell_means(maps[part], rows, len(edges) - 1, span) for part in PARTS])
    order = np.argsort(-scores, axis=None, kind="stable")[:TOP_CELLS]
    return [tuple(int(i) for i in np.unravel_index(k, scores.shape)) for k in order if scores.flat[k] > 0]


class LimeMusic(Explainer):
    shared_scale = True  # harmonic and percussive weights are comparable: one scale for both maps
    name = "lime-music"
    description = ("LIME over harmonic / percussive parts x frequency bands x time segments, answered in words; "
                   "costs samples (100) forward passes per window: samples=200 twice that")
    options = DEFAULTS

    def attribute(self, model: nn.Module, windows: torch.Tensor, target: torch.Tensor,
                  **options: Any) -> dict[str, torch.Tensor]:
        samples = positive_int(options["samples"], "samples")
        segments = positive_int(options["segments"], "segments")
        seed = seed_value(options["seed"])
        edges = band_edges(options["bands"])
        n_mels, frames = windows.shape[-2:]
        mask = component_mask(edges, segments, mel_frequencies(model, n_mels), frames)
        with evaluating(model), torch.no_grad():
            weights = torch.stack([window_weights(model, window[0], int(t), mask, samples, seed)
                                   for window, t in zip(windows, target, strict=True)])
        positive = weights.clamp_min(0.0)
        return {part: positive[:, i] for i, part in enumerate(PARTS)}

    def describe(self, explanation: Explanation) -> str:
        """The top cells of the song maps on the grid the explanation used (bands x segments)."""
        if not all(part in explanation.maps for part in PARTS):
            return ""
        chosen = {**self.options, **explanation.options}
        bands = tuple(float(hz) for hz in chosen["bands"])
        rows = explanation.maps[PARTS[0]].shape[0]
        config = explanation.frontend
        span = config.window_frames // int(chosen["segments"])
        cells = top_cells(explanation.maps, bands, span, mel_frequencies(explanation, rows))
        genre = explanation.target_name
        if not cells:
            return f"No harmonic or percussive part of any band raised the score of '{genre}'."
        frames = explanation.maps[PARTS[0]].shape[1]
        per_frame = config.hop_length / config.sample_rate
        phrases = [  # a band's upper edge is at most the model's top frequency (8 kHz for musicnn)
            f"the {PARTS[part]} part of {hz_label(bands[band], min(bands[band + 1], config.top_hz))} in "
            f"{clock(math.floor(cell * span * per_frame))}-"
            f"{clock(math.ceil(min((cell + 1) * span, frames) * per_frame))}"
            for part, band, cell in cells
        ]
        text = f"{phrases[0]} drove '{genre}' most" + "".join(f"; then {p}" for p in phrases[1:]) + "."
        return text[0].upper() + text[1:]


@hookimpl
def register_explainers(register) -> None:
    register(LimeMusic())
