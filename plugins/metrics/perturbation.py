"""Deletion and insertion (Petsiuk et al. 2018, "RISE: Randomized Input Sampling for Explanation of
Black-box Models", BMVC), on the log-mel window.

Cells are taken in order of relevance, most relevant first (ties in a seeded random order), in
``STEPS`` equal steps. **Deletion** replaces them with the baseline and follows the target's
probability down: a faithful map makes it fall fast (small area, lower is better). **Insertion**
starts from the baseline and puts them back: a faithful map makes it rise fast (large area, higher
is better). The baseline is silence, the window's minimum dB everywhere, the level occlusion and
Score-CAM remove to. Areas under the curves by the trapezoid rule over the removed share [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch

from specinterp import hookimpl
from specinterp.interfaces import Metric

if TYPE_CHECKING:  # the registry imports this module: keep it light
    from specinterp.assessment import Case

STEPS = 32


def relevance_order(relevance: np.ndarray, seed: int) -> np.ndarray:
    """Flat cell indices, most relevant first; equal values in a seeded random order."""
    flat = np.ravel(relevance)
    shuffle = np.random.default_rng(seed).permutation(flat.size)
    return shuffle[np.argsort(-flat[shuffle], kind="stable")]


def perturbation_curve(scores: Callable[[torch.Tensor], np.ndarray], window: torch.Tensor, relevance: np.ndarray,
                       baseline: torch.Tensor, insertion: bool, steps: int = STEPS, seed: int = 0) -> np.ndarray:
    """The target's probability after each step of deletion (or insertion) ``(steps + 1,)``.

    Parameters
    ----------
    scores : callable
        Windows ``(N, 1, n_mels, frames)`` -> the target's probability per window ``(N,)``.
    window : torch.Tensor [shape=(1, 1, n_mels, frames)]
        The explained window.
    relevance : np.ndarray [shape=(n_mels, frames)]
        The map; higher is more relevant.
    baseline : torch.Tensor [shape=(1, 1, n_mels, frames)]
        What a removed cell becomes.
    insertion : bool
        Start from ``baseline`` and restore cells (else start from ``window`` and remove them).
    steps : int
        Equal shares of the cells per step; point ``k`` has ``k / steps`` of them changed.
    seed : int
        Order of equal relevance values.
    """
    order = torch.from_numpy(relevance_order(relevance, seed))
    cells = order.numel()
    start, end = (baseline, window) if insertion else (window, baseline)
    batch = start.reshape(1, -1).repeat(steps + 1, 1)
    for k in range(1, steps + 1):
        changed = order[: round(k * cells / steps)]
        batch[k, changed] = end.reshape(-1)[changed]
    return scores(batch.reshape(steps + 1, *window.shape[1:]))


def area(curve: np.ndarray) -> float:
    """Area under a curve sampled at equal steps over [0, 1] (trapezoid rule)."""
    curve = np.asarray(curve, dtype=float)
    return float(((curve[:-1] + curve[1:]) / 2).mean())


class DeletionInsertion(Metric):
    name = "deletion-insertion"
    description = ("target probability as the most relevant cells are removed to silence (deletion) "
                   "or restored (insertion)")
    source = "Petsiuk et al. 2018, RISE (BMVC): deletion and insertion metrics"
    better = {"deletion": "lower", "insertion": "higher", "deletion_curve": "lower", "insertion_curve": "higher"}

    def measure(self, case: Case) -> dict[str, float | list[float]]:
        silence = case.window.amin().expand_as(case.window)
        deletion, insertion = (perturbation_curve(case.scores, case.window, case.relevance, silence, inserting,
                                                  seed=case.seed) for inserting in (False, True))
        return {"deletion": area(deletion), "insertion": area(insertion),
                "deletion_curve": deletion.tolist(), "insertion_curve": insertion.tolist()}


@hookimpl
def register_metrics(register) -> None:
    register(DeletionInsertion())
