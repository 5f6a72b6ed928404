"""Saliency (Simonyan et al. 2014) and SmoothGrad (Smilkov et al. 2017) with Captum's ``Saliency``
and ``NoiseTunnel``: the magnitude of the target's gradient w.r.t. the window, for SmoothGrad of the
gradient averaged over copies of the window with Gaussian noise in dB.
"""

from __future__ import annotations

from typing import Any

import torch
from captum.attr import NoiseTunnel, Saliency
from torch import nn

from specinterp import hookimpl
from specinterp.interfaces import Explainer
from specinterp_plugins.explainers.common import evaluating, positive_int, read_options

EXAMPLES_PER_PASS = 64  # noisy windows per forward/backward pass of SmoothGrad


class VanillaSaliency(Explainer):
    name = "saliency"
    description = "magnitude of the target score's gradient w.r.t. the window (Captum Saliency)"
    requires = frozenset({"gradients"})

    def explain(self, model: nn.Module, windows: torch.Tensor, target: torch.Tensor,
                **options: Any) -> dict[str, torch.Tensor]:
        read_options(options, {})
        with evaluating(model):
            maps = Saliency(model).attribute(windows, target=target, abs=True)
        return {"saliency": maps.detach()[:, 0]}


class SmoothGrad(Explainer):
    name = "smoothgrad"
    description = ("magnitude of the target's gradient averaged over noisy copies of the window "
                   "(Captum NoiseTunnel over Saliency)")
    requires = frozenset({"gradients"})

    def explain(self, model: nn.Module, windows: torch.Tensor, target: torch.Tensor,
                **options: Any) -> dict[str, torch.Tensor]:
        chosen = read_options(options, {"samples": 16, "stdev": 3.0})
        samples = positive_int(chosen["samples"], "samples")
        stdev = chosen["stdev"]
        if isinstance(stdev, bool) or not isinstance(stdev, (int, float)) or stdev < 0:
            raise ValueError(f"option stdev must be a non-negative number of dB, got {stdev!r}")
        with evaluating(model):
            maps = NoiseTunnel(Saliency(model)).attribute(
                windows, nt_type="smoothgrad", nt_samples=samples, stdevs=float(stdev), target=target, abs=False,
                nt_samples_batch_size=max(1, EXAMPLES_PER_PASS // len(windows)))
        return {"smoothgrad": maps.detach().abs()[:, 0]}


@hookimpl
def register_explainers(register) -> None:
    register(VanillaSaliency())
    register(SmoothGrad())
