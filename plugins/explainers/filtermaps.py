"""Activation maps of chosen filters of one layer (Captum ``LayerActivation``), as the study showed
"conv1 filter 8": filters are numbered from 1, so filter 1 is the layer's output channel 0. Without
``filters``, the study's 1, 8, 16 and 32 are shown, those the layer has.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from specinterp import hookimpl
from specinterp.explaining import conv_maps, evaluating, filter_numbers, find_layer, layer_name, upsample
from specinterp.interfaces import Explainer

STUDY_FILTERS = (1, 8, 16, 32)


class FilterMaps(Explainer):
    name = "filtermaps"
    description = ("activation maps of chosen filters of a layer, numbered from 1 as in the study "
                   "(default 1, 8, 16, 32; target ignored)")
    options = {"layer": "conv1", "filters": None}

    def attribute(self, model: nn.Module, windows: torch.Tensor, target: torch.Tensor,
                  **options: Any) -> dict[str, torch.Tensor]:
        from captum.attr import LayerActivation

        layer = find_layer(model, options["layer"])
        label = layer_name(model, options["layer"])
        with evaluating(model):
            maps = conv_maps(LayerActivation(model, layer).attribute(windows), label)
        count = maps.shape[1]
        if options["filters"] is None:
            numbers = [n for n in STUDY_FILTERS if n <= count]
        else:
            numbers = filter_numbers(options["filters"], count, label)
        return {f"{label}-filter{n}": upsample(maps[:, n - 1 : n], windows.shape[-2:]) for n in numbers}


@hookimpl
def register_explainers(register) -> None:
    register(FilterMaps())
