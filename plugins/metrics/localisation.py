"""Localisation against the truth, on datasets that know where the class-deciding events are
(the synthetic set: :meth:`specinterp.interfaces.Dataset.truth`).

Computed with Quantus (Hedström et al. 2023, JMLR) where its definitions fit:

- ``mass``: relevance mass accuracy, the share of the map's total relevance inside the true mask
  (Arras et al. 2022, "CLEVR-XAI", Information Fusion; ``quantus.RelevanceMassAccuracy``);
- ``rank``: relevance rank accuracy, the share of the ``K`` most relevant cells inside the mask of
  ``K`` cells (Arras et al. 2022; ``quantus.RelevanceRankAccuracy``);
- ``pointing``: the pointing game, 1 when the most relevant cell is inside the mask (Zhang et al.
  2018, "Top-down Neural Attention by Excitation Backprop", IJCV; ``quantus.PointingGame``; of
  several equal maxima, a hit when any is inside);
- ``distractor_mass``: ours, the share of relevance on the distractor events, which do not decide
  the class (lower is better).
All higher is better except ``distractor_mass``. A constant map (Quantus refuses one: it has no
ranking) scores what a uniform map is expected to: mass and rank the mask's share of the window, and
no hit. Quantus is imported when this metric first runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from specinterp import hookimpl
from specinterp.interfaces import Metric, SpecinterpError

if TYPE_CHECKING:  # the registry imports this module: keep it light
    from specinterp.assessment import Case


def quantus_scores(relevance: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Mass accuracy, rank accuracy and pointing game of one map against one true mask (Quantus)."""
    if np.ptp(relevance) == 0:  # no ranking (Quantus refuses it): scored as a uniform map's expectation
        share = float(truth.mean())
        return {"mass": share, "rank": share, "pointing": 0.0}
    try:
        import quantus
    except ImportError:
        raise SpecinterpError("localisation metrics need Quantus: pip install 'specinterp[assess]'") from None
    a_batch = relevance[None, None].astype(np.float64)
    s_batch = truth[None, None].astype(np.float64)
    x_batch, y_batch = np.zeros_like(a_batch), np.zeros(1, dtype=int)
    scores = {}
    for key, metric in (("mass", quantus.RelevanceMassAccuracy), ("rank", quantus.RelevanceRankAccuracy),
                        ("pointing", quantus.PointingGame)):
        scores[key] = float(metric(disable_warnings=True)(model=None, x_batch=x_batch, y_batch=y_batch,
                                                          a_batch=a_batch, s_batch=s_batch)[0])
    return scores


def distractor_mass(relevance: np.ndarray, distractors: np.ndarray) -> float:
    """Share of the map's relevance on cells of the distractor events (0 for an empty map)."""
    total = float(relevance.sum())
    return float(relevance[distractors].sum()) / total if total > 0 else 0.0


class Localisation(Metric):
    name = "localisation"
    description = "relevance inside the true event (mass, rank, pointing game) and on distractors"
    source = ("Arras et al. 2022 (relevance mass / rank accuracy), Zhang et al. 2018 (pointing game), via "
              "Quantus (Hedstroem et al. 2023)")
    needs_truth = True
    better = {"mass": "higher", "rank": "higher", "pointing": "higher", "distractor_mass": "lower"}

    def measure(self, case: Case) -> dict[str, float | list[float]]:
        if not case.truth.any():
            raise SpecinterpError(f"clip {case.clip}: its event lies outside the assessed window")
        scores = quantus_scores(case.relevance, case.truth)
        scores["distractor_mass"] = distractor_mass(case.relevance, case.distractors)
        return scores


@hookimpl
def register_metrics(register) -> None:
    register(Localisation())
