"""Activation maps of chosen filters of one layer (Captum ``LayerActivation``), as the study showed
"conv1 filter 8": filters are numbered from 1, so filter 1 is the layer's output channel 0. Without
``filters``, the study's 1, 8, 16 and 32 are shown, those the layer has.
"""

from __future__ import annotations

from typing import Any

import torch
from captum.attr import LayerActivation
from torch import nn

from specinterp import hookimpl
from specinterp.interfaces import Explainer
from specinterp_plugins.explainers.common import evaluating, find_layer, read_options, upsample

STUDY_FILTERS = (1, 8, 16, 32)


def filter_numbers(filters: Any, count: int, layer: str) -> list[int]:
    """Filter numbers (from 1; one int or a list) checked against ``layer``'s ``count`` filters."""
    numbers = filters if isinstance(filters, list) else [filters]
    if not numbers:
        raise ValueError("option filters is empty")
    for number in numbers:
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= count:
            raise ValueError(f"filter {number!r} out of range: layer {layer} has filters 1..{count} (numbered from 1)")
    return numbers


class FilterMaps(Explainer):
    name = "filtermaps"
    description = ("activation maps of chosen filters of a layer, numbered from 1 as in the study "
                   "(default 1, 8, 16, 32; target ignored)")

    def explain(self, model: nn.Module, windows: torch.Tensor, target: torch.Tensor,
                **options: Any) -> dict[str, torch.Tensor]:
        chosen = read_options(options, {"layer": "conv1", "filters": None})
        layer = find_layer(model, chosen["layer"])
        with evaluating(model):
            maps = LayerActivation(model, layer).attribute(windows)
        count = maps.shape[1]
        if chosen["filters"] is None:
            numbers = [n for n in STUDY_FILTERS if n <= count]
        else:
            numbers = filter_numbers(chosen["filters"], count, chosen["layer"])
        return {f"{chosen['layer']}-filter{n}": upsample(maps[:, n - 1 : n], windows.shape[-2:]) for n in numbers}


@hookimpl
def register_explainers(register) -> None:
    register(FilterMaps())
