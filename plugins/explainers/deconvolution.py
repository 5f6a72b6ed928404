"""Deconvolution (Zeiler & Fergus 2014) with Captum's ``Deconvolution``: a layer's strongest filter
activation (or chosen filters, numbered from 1) projected back to the window.

Captum's target picks an output column, so the model is wrapped in :class:`FilterPeaks`, whose output
is the layer's per-filter maximum; the real model's ``nn.ReLU`` modules stay inside it, where Captum
hooks them to pass only positive reconstructions. The map is the magnitude of the projection.
"""

from __future__ import annotations

from typing import Any

import torch
from captum.attr import Deconvolution
from torch import nn

from specinterp import hookimpl
from specinterp.explaining import evaluating, filter_numbers, find_layer, layer_name
from specinterp.interfaces import Explainer


class FilterPeaks(nn.Module):
    """``model``'s forward pass reduced to one layer's per-filter maximum ``(N, filters)``."""

    def __init__(self, model: nn.Module, layer: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.layer = layer

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        captured: list[torch.Tensor] = []
        handle = self.layer.register_forward_hook(lambda module, args, output: captured.append(output))
        try:
            self.model(windows)
        finally:
            handle.remove()
        return captured[0].amax(dim=(2, 3))


class ZeilerFergusDeconvolution(Explainer):
    name = "deconvolution"
    description = ("Zeiler & Fergus deconvolution of a layer's strongest filter (or filters, numbered from 1) "
                   "to the input; magnitude (Captum Deconvolution)")
    requires = frozenset({"gradients"})
    options = {"layer": "conv2", "filters": None}

    def attribute(self, model: nn.Module, windows: torch.Tensor, target: torch.Tensor,
                  **options: Any) -> dict[str, torch.Tensor]:
        peaks = FilterPeaks(model, find_layer(model, options["layer"]))
        label = layer_name(model, options["layer"])
        with evaluating(model):
            with torch.no_grad():
                strength = peaks(windows)
            if options["filters"] is None:
                targets = {"deconvolution": strength.argmax(dim=1)}
            else:
                numbers = filter_numbers(options["filters"], strength.shape[1], label)
                targets = {f"{label}-filter{n}": torch.full_like(target, n - 1) for n in numbers}
            method = Deconvolution(peaks)
            return {name: method.attribute(windows, target=t).detach().abs()[:, 0] for name, t in targets.items()}


@hookimpl
def register_explainers(register) -> None:
    register(ZeilerFergusDeconvolution())
