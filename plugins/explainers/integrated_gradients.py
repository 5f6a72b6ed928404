"""Integrated gradients (Sundararajan et al. 2017) with Captum's ``IntegratedGradients`` from silence:
the baseline is the window's minimum dB everywhere. The map is the positive part, the evidence for
the target (attributions sum to the score's rise from silence).
"""

from __future__ import annotations

from typing import Any

import torch

from specinterp import hookimpl
from specinterp.explaining import CaptumExplainer, positive_int, silence


class IntegratedGradientsFromSilence(CaptumExplainer):
    name = "integrated-gradients"
    description = ("integrated gradients of the target from silence (the window's minimum dB); "
                   "positive part (Captum IntegratedGradients)")
    requires = frozenset({"gradients"})
    options = {"n_steps": 32, "internal_batch_size": 64}
    attribution = "IntegratedGradients"
    sign = "positive"

    def attribute_kwargs(self, windows: torch.Tensor, target: torch.Tensor, options: dict[str, Any]) -> dict[str, Any]:
        return {
            "baselines": silence(windows).expand_as(windows),
            "n_steps": positive_int(options["n_steps"], "n_steps"),
            # at least the batch's windows, so that each step sees the whole batch at once
            "internal_batch_size": max(positive_int(options["internal_batch_size"], "internal_batch_size"),
                                       len(windows)),
        }


@hookimpl
def register_explainers(register) -> None:
    register(IntegratedGradientsFromSilence())
