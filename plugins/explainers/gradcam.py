"""Grad-CAM (Selvaraju et al. 2017) with Captum's ``LayerGradCam``."""

from __future__ import annotations

from typing import Any

import torch
from captum.attr import LayerGradCam
from torch import nn

from specinterp import hookimpl
from specinterp.interfaces import Explainer
from specinterp_plugins.explainers.common import evaluating, find_layer, flag, read_options, upsample


class GradCAM(Explainer):
    name = "gradcam"
    description = "Grad-CAM: a layer's maps weighted by their mean target gradient, ReLU'd (Captum LayerGradCam)"
    requires = frozenset({"gradients"})

    def explain(self, model: nn.Module, windows: torch.Tensor, target: torch.Tensor,
                **options: Any) -> dict[str, torch.Tensor]:
        chosen = read_options(options, {"layer": "features", "relu": True})
        layer = find_layer(model, chosen["layer"])
        relu = flag(chosen["relu"], "relu")
        with evaluating(model):
            maps = LayerGradCam(model, layer).attribute(windows, target=target, relu_attributions=relu)
        return {"gradcam": upsample(maps.detach(), windows.shape[-2:])}


@hookimpl
def register_explainers(register) -> None:
    register(GradCAM())
