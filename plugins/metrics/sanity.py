"""Sanity checks (Adebayo et al. 2018, "Sanity Checks for Saliency Maps", NeurIPS).

- **randomization**: the map of the trained network against the maps of copies whose weight layers
  are re-initialized cumulatively from the output down (:func:`specinterp.assessment.randomization_cascade`).
  A map that stays the same when the weights it claims to explain are random explains nothing
  about them. Values: Spearman rank correlation after the output layer alone (``top``), its mean
  over the whole cascade (``mean``), and per depth (``curve``); lower is better.
- **class-sensitivity**: the map for the predicted class against the map for the runner-up
  (Adebayo et al.'s data/label test asks the same of labels): a map that does not change with the
  class asked cannot say why the network chose it. Value ``similarity``, lower is better.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from specinterp import hookimpl
from specinterp.interfaces import Metric

if TYPE_CHECKING:  # the registry imports this module: keep it light (no torchaudio, no scipy)
    from specinterp.assessment import Case


def cascade_similarities(case: Case) -> list[float]:
    """Rank correlation of the trained map with each randomized copy's map, output layer first."""
    from specinterp.assessment import rank_similarity

    return [rank_similarity(case.relevance, case.explain(module=module)) for _, module in case.cascade()]


class ModelRandomization(Metric):
    name = "randomization"
    description = "rank correlation of the map with the maps of cumulatively randomized networks (output first)"
    source = "Adebayo et al. 2018, Sanity Checks for Saliency Maps (NeurIPS): cascading model parameter randomization"
    better = {"top": "lower", "mean": "lower", "curve": "lower"}

    def measure(self, case: Case) -> dict[str, float | list[float]]:
        curve = cascade_similarities(case)
        return {"top": curve[0], "mean": sum(curve) / len(curve), "curve": curve}


class ClassSensitivity(Metric):
    name = "class-sensitivity"
    description = "rank correlation of the maps for the predicted and the runner-up class"
    source = "Adebayo et al. 2018 (NeurIPS), the same question for labels; maps compared by Spearman's rho"
    better = {"similarity": "lower"}

    def measure(self, case: Case) -> dict[str, float | list[float]]:
        from specinterp.assessment import rank_similarity

        return {"similarity": rank_similarity(case.relevance, case.explain(target=case.runner_up))}


@hookimpl
def register_metrics(register) -> None:
    register(ModelRandomization())
    register(ClassSensitivity())
