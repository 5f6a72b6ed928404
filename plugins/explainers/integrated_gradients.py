"""Integrated gradients (Sundararajan et al. 2017) with Captum's ``IntegratedGradients`` from silence:
the baseline is the window's minimum dB everywhere. The map is the positive part, the evidence for
the target (attributions sum to the score's rise from silence).
"""

from __future__ import annotations

from typing import Any

import torch
from captum.attr import IntegratedGradients
from torch import nn

from specinterp import hookimpl
from specinterp.interfaces import Explainer
from specinterp_plugins.explainers.common import evaluating, positive_int, read_options, silence


class IntegratedGradientsFromSilence(Explainer):
    name = "integrated-gradients"
    description = ("integrated gradients of the target from silence (the window's minimum dB); "
                   "positive part (Captum IntegratedGradients)")
    requires = frozenset({"gradients"})

    def explain(self, model: nn.Module, windows: torch.Tensor, target: torch.Tensor,
                **options: Any) -> dict[str, torch.Tensor]:
        chosen = read_options(options, {"n_steps": 32, "internal_batch_size": 64})
        n_steps = positive_int(chosen["n_steps"], "n_steps")
        batch = max(positive_int(chosen["internal_batch_size"], "internal_batch_size"), len(windows))
        with evaluating(model):
            maps = IntegratedGradients(model).attribute(windows, baselines=silence(windows).expand_as(windows), target=target,
                                                        n_steps=n_steps, internal_batch_size=batch)
        return {"integrated-gradients": maps.detach().clamp(min=0)[:, 0]}


@hookimpl
def register_explainers(register) -> None:
    register(IntegratedGradientsFromSilence())
