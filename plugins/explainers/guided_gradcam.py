"""Guided Grad-CAM (Selvaraju et al. 2017) with Captum's ``GuidedGradCam``: guided backpropagation
times the ReLU'd Grad-CAM of a layer upsampled bilinearly; the map is the magnitude of the product.
"""

from __future__ import annotations

from typing import Any

import torch
from captum.attr import GuidedGradCam
from torch import nn

from specinterp import hookimpl
from specinterp.interfaces import Explainer
from specinterp_plugins.explainers.common import evaluating, find_layer, read_options


class GuidedGradCAM(Explainer):
    name = "guided-gradcam"
    description = "guided backpropagation times a layer's Grad-CAM; magnitude (Captum GuidedGradCam)"
    requires = frozenset({"gradients"})

    def explain(self, model: nn.Module, windows: torch.Tensor, target: torch.Tensor,
                **options: Any) -> dict[str, torch.Tensor]:
        chosen = read_options(options, {"layer": "features"})
        layer = find_layer(model, chosen["layer"])
        with evaluating(model):
            maps = GuidedGradCam(model, layer).attribute(windows, target=target, interpolate_mode="bilinear")
        return {"guided-gradcam": maps.detach().abs()[:, 0]}


@hookimpl
def register_explainers(register) -> None:
    register(GuidedGradCAM())
