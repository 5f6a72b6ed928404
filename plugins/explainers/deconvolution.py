"""Deconvolution (Zeiler & Fergus 2014) with Captum's ``Deconvolution``: the peak activation of one of
a layer's filters projected back to the window, as Zeiler & Fergus visualise a feature.

Which filter: by default, per window, the one with the most evidence for the target class, its
activation times the gradient of the target's logit summed over the filter's map,
``e_k = sum_ij A_kij dy_c/dA_kij`` (Captum ``LayerGradientXActivation``; a first-order estimate of how
much of the logit the filter carries). The largest ``e_k`` is chosen even when none is positive.
Chosen ``filters`` (numbered from 1) are projected as they are, whatever the target.

Captum's target picks an output column, so the model is wrapped in :class:`FilterPeaks`, whose output
is the layer's per-filter maximum; the real model's ``nn.ReLU`` modules stay inside it, where Captum
hooks them to pass only positive reconstructions. The map is the magnitude of the projection.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from specinterp import hookimpl
from specinterp.explaining import conv_maps, evaluating, filter_numbers, find_layer, layer_name
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


def filter_evidence(model: nn.Module, layer: nn.Module, label: str, windows: torch.Tensor,
                    target: torch.Tensor) -> torch.Tensor:
    """Each filter's evidence for the target ``(N, filters)``: activation x the target logit's gradient,
    summed over the filter's map."""
    from captum.attr import LayerGradientXActivation

    products = LayerGradientXActivation(model, layer).attribute(windows, target=target)
    return conv_maps(products, label).detach().sum(dim=(2, 3))


class ZeilerFergusDeconvolution(Explainer):
    name = "deconvolution"
    description = ("Zeiler & Fergus deconvolution of the peak of the layer's filter with most evidence for the "
                   "target (activation x target-logit gradient, summed), or of chosen filters (numbered from 1; "
                   "target ignored); magnitude (Captum Deconvolution)")
    requires = frozenset({"gradients"})
    options = {"layer": "conv2", "filters": None}

    def attribute(self, model: nn.Module, windows: torch.Tensor, target: torch.Tensor,
                  **options: Any) -> dict[str, torch.Tensor]:
        layer = find_layer(model, options["layer"])
        label = layer_name(model, options["layer"])
        peaks = FilterPeaks(model, layer)
        from captum.attr import Deconvolution

        with evaluating(model):
            if options["filters"] is None:
                targets = {"deconvolution": filter_evidence(model, layer, label, windows, target).argmax(dim=1)}
            else:
                with torch.no_grad():
                    count = peaks(windows).shape[1]
                numbers = filter_numbers(options["filters"], count, label)
                targets = {f"{label}-filter{n}": torch.full_like(target, n - 1) for n in numbers}
            method = Deconvolution(peaks)
            return {name: method.attribute(windows, target=t).detach().abs()[:, 0] for name, t in targets.items()}


@hookimpl
def register_explainers(register) -> None:
    register(ZeilerFergusDeconvolution())
