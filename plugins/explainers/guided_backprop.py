"""Guided backpropagation (Springenberg et al. 2015) with Captum's ``GuidedBackprop``: the target's
gradient with only positive gradients passed back through each ReLU; the map is its magnitude.
"""

from __future__ import annotations

from typing import Any

import torch
from captum.attr import GuidedBackprop
from torch import nn

from specinterp import hookimpl
from specinterp.interfaces import Explainer
from specinterp_plugins.explainers.common import evaluating, read_options


class GuidedBackpropagation(Explainer):
    name = "guided-backprop"
    description = "guided backpropagation of the target score to the window; magnitude (Captum GuidedBackprop)"
    requires = frozenset({"gradients"})

    def explain(self, model: nn.Module, windows: torch.Tensor, target: torch.Tensor,
                **options: Any) -> dict[str, torch.Tensor]:
        read_options(options, {})
        with evaluating(model):
            maps = GuidedBackprop(model).attribute(windows, target=target)
        return {"guided-backprop": maps.detach().abs()[:, 0]}


@hookimpl
def register_explainers(register) -> None:
    register(GuidedBackpropagation())
