"""A third-party specinterp plugin in one file: the ``loudness`` explainer.

It is model-agnostic (it requires nothing of the model): the map is each window's log-mel itself,
so the picture shows where the energy is. A baseline to compare real explanations against.
Install with ``pip install ./examples/specinterp-loudness``; then ``specinterp plugins`` lists it.

The contract: declare ``options`` with their defaults (the core refuses any other option and fills
in the defaults before calling ``attribute``) and write ``attribute``, which gets every option.
``specinterp.explaining`` holds the helpers the built-in explainers use.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from specinterp import hookimpl
from specinterp.explaining import silence
from specinterp.interfaces import Explainer


class Loudness(Explainer):
    name = "loudness"
    description = "the log-mel energy itself (a model-free baseline)"
    options = {"floor": None}  # dB below which bins count as silent; None: each window's own minimum

    def attribute(self, model: nn.Module, windows: torch.Tensor, target: torch.Tensor,
                  **options: Any) -> dict[str, torch.Tensor]:
        floor = options["floor"]
        if floor is None:
            lowest = silence(windows)  # (N, 1, 1, 1)
        elif isinstance(floor, (int, float)) and not isinstance(floor, bool):
            lowest = torch.tensor(float(floor), dtype=windows.dtype)
        else:
            raise ValueError(f"option floor must be a number of dB, got {floor!r}")
        return {"loudness": torch.maximum(windows, lowest)[:, 0]}


@hookimpl
def register_explainers(register) -> None:
    register(Loudness())
