"""Grad-CAM (Selvaraju et al. 2017) with Captum's ``LayerGradCam``."""

from __future__ import annotations

from typing import Any

import torch

from specinterp import hookimpl
from specinterp.explaining import CaptumExplainer, flag


class GradCAM(CaptumExplainer):
    name = "gradcam"
    description = "Grad-CAM: a layer's maps weighted by their mean target gradient, ReLU'd (Captum LayerGradCam)"
    requires = frozenset({"gradients"})
    options = {"layer": "features", "relu": True}
    attribution = "LayerGradCam"
    layer_method = True
    sign = "raw"  # ReLU'd by Captum unless relu=false

    def attribute_kwargs(self, windows: torch.Tensor, target: torch.Tensor, options: dict[str, Any]) -> dict[str, Any]:
        return {"relu_attributions": flag(options["relu"], "relu")}


@hookimpl
def register_explainers(register) -> None:
    register(GradCAM())
