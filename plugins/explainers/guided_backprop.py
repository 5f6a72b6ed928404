"""Guided backpropagation (Springenberg et al. 2015) with Captum's ``GuidedBackprop``: the target's
gradient with only positive gradients passed back through each ReLU; the map is its magnitude.
"""

from __future__ import annotations

from specinterp import hookimpl
from specinterp.explaining import CaptumExplainer


class GuidedBackpropagation(CaptumExplainer):
    name = "guided-backprop"
    description = "guided backpropagation of the target score to the window; magnitude (Captum GuidedBackprop)"
    requires = frozenset({"gradients"})
    options = {}
    attribution = "GuidedBackprop"
    sign = "abs"


@hookimpl
def register_explainers(register) -> None:
    register(GuidedBackpropagation())
