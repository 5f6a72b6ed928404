"""Guided Grad-CAM (Selvaraju et al. 2017) with Captum's ``GuidedGradCam``: guided backpropagation
times the ReLU'd Grad-CAM of a layer upsampled bilinearly; the map is the magnitude of the product.
"""

from __future__ import annotations

from typing import Any

import torch

from specinterp import hookimpl
from specinterp.explaining import CaptumExplainer


class GuidedGradCAM(CaptumExplainer):
    name = "guided-gradcam"
    description = "guided backpropagation times a layer's Grad-CAM; magnitude (Captum GuidedGradCam)"
    requires = frozenset({"gradients"})
    options = {"layer": "features"}
    attribution = "GuidedGradCam"
    layer_method = True
    sign = "abs"

    def attribute_kwargs(self, windows: torch.Tensor, target: torch.Tensor, options: dict[str, Any]) -> dict[str, Any]:
        return {"interpolate_mode": "bilinear"}


@hookimpl
def register_explainers(register) -> None:
    register(GuidedGradCAM())
