"""A third-party specinterp plugin in one file: the ``loudness`` explainer.

It is model-agnostic (it requires nothing of the model): the map is each window's log-mel itself,
so the picture shows where the energy is. A baseline to compare real explanations against.
Install with ``pip install ./examples/specinterp-loudness``; then ``specinterp plugins`` lists it.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from specinterp import hookimpl
from specinterp.interfaces import Explainer


class Loudness(Explainer):
    name = "loudness"
    description = "the log-mel energy itself (a model-free baseline)"

    def explain(self, model: nn.Module, windows: torch.Tensor, target: torch.Tensor, **options: Any) -> dict[str, torch.Tensor]:
        return {"loudness": windows[:, 0].clone()}


@hookimpl
def register_explainers(register) -> None:
    register(Loudness())
