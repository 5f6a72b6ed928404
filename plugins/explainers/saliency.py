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
from specinterp.explaining import CaptumExplainer, positive_int

EXAMPLES_PER_PASS = 64  # noisy windows per forward/backward pass of SmoothGrad


def noisy_saliency(model: nn.Module) -> NoiseTunnel:
    """Captum's ``NoiseTunnel`` over ``Saliency``."""
    return NoiseTunnel(Saliency(model))


class VanillaSaliency(CaptumExplainer):
    name = "saliency"
    description = "magnitude of the target score's gradient w.r.t. the window (Captum Saliency)"
    requires = frozenset({"gradients"})
    options = {}
    attribution = Saliency
    sign = "abs"  # Captum's Saliency already gives the magnitude (abs=True)


class SmoothGrad(CaptumExplainer):
    name = "smoothgrad"
    description = ("magnitude of the target's gradient averaged over noisy copies of the window "
                   "(Captum NoiseTunnel over Saliency)")
    requires = frozenset({"gradients"})
    options = {"samples": 16, "stdev": 3.0}
    attribution = staticmethod(noisy_saliency)
    sign = "abs"  # of the mean signed gradient

    def attribute_kwargs(self, windows: torch.Tensor, target: torch.Tensor, options: dict[str, Any]) -> dict[str, Any]:
        samples = positive_int(options["samples"], "samples")
        stdev = options["stdev"]
        if isinstance(stdev, bool) or not isinstance(stdev, (int, float)) or stdev < 0:
            raise ValueError(f"option stdev must be a non-negative number of dB, got {stdev!r}")
        return {"nt_type": "smoothgrad", "nt_samples": samples, "stdevs": float(stdev), "abs": False,
                "nt_samples_batch_size": max(1, EXAMPLES_PER_PASS // len(windows))}


@hookimpl
def register_explainers(register) -> None:
    register(VanillaSaliency())
    register(SmoothGrad())
