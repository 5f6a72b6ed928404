"""Saliency (Simonyan et al. 2014) and SmoothGrad (Smilkov et al. 2017) with Captum's ``Saliency``
and ``NoiseTunnel``: the magnitude of the target's gradient w.r.t. the window, for SmoothGrad of the
gradient averaged over copies of the window with Gaussian noise in dB.

SmoothGrad's noise is set relative to the input's range, as in the paper (10-20 % worked best there,
with about 50 samples): its standard deviation is ``noise`` times the window's own dB range (max -
min). Captum's ``NoiseTunnel`` takes one standard deviation per input tensor, so it is called once
per window, its noisy copies batched.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from specinterp import hookimpl
from specinterp.explaining import CaptumExplainer, positive_int, seed_value

EXAMPLES_PER_PASS = 64  # noisy copies of a window per forward/backward pass of SmoothGrad


def noise_share(value: Any) -> float:
    """Option ``noise`` as a non-negative share of the window's dB range, or a ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < math.inf:
        raise ValueError(f"option noise must be a non-negative share of the window's dB range, got {value!r}")
    return float(value)


class WindowNoiseTunnel:
    """Captum's ``NoiseTunnel`` over ``Saliency``, called window by window so that each window's noise
    has its own standard deviation, ``noise`` times that window's dB range, and is drawn after seeding
    torch with ``seed`` (the global generator is restored after): a window's map does not depend on
    the windows explained before it, and a run is reproduced exactly."""

    def __init__(self, model: nn.Module) -> None:
        from captum.attr import NoiseTunnel, Saliency

        self.tunnel = NoiseTunnel(Saliency(model))

    def attribute(self, windows: torch.Tensor, target: torch.Tensor, noise: float, samples: int,
                  seed: int) -> torch.Tensor:
        """The mean signed gradient over ``samples`` noisy copies of each window ``(N, 1, n_mels, frames)``."""
        ranges = windows.amax(dim=(1, 2, 3)) - windows.amin(dim=(1, 2, 3))
        maps = []
        for i in range(len(windows)):
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                maps.append(self.tunnel.attribute(
                    windows[i : i + 1], target=target[i : i + 1], nt_type="smoothgrad", nt_samples=samples,
                    nt_samples_batch_size=min(samples, EXAMPLES_PER_PASS), stdevs=noise * float(ranges[i]), abs=False))
        return torch.cat(maps)


class VanillaSaliency(CaptumExplainer):
    name = "saliency"
    description = "magnitude of the target score's gradient w.r.t. the window (Captum Saliency)"
    requires = frozenset({"gradients"})
    options = {}
    attribution = "Saliency"
    sign = "abs"  # Captum's Saliency already gives the magnitude (abs=True)


class SmoothGrad(CaptumExplainer):
    name = "smoothgrad"
    description = ("magnitude of the target's gradient averaged over copies of the window with Gaussian noise "
                   "of sigma noise x the window's dB range, seeded per window (Captum NoiseTunnel over Saliency)")
    requires = frozenset({"gradients"})
    options = {"samples": 50, "noise": 0.15, "seed": 0}
    attribution = WindowNoiseTunnel
    sign = "abs"  # of the mean signed gradient

    def attribute_kwargs(self, windows: torch.Tensor, target: torch.Tensor, options: dict[str, Any]) -> dict[str, Any]:
        return {"noise": noise_share(options["noise"]), "samples": positive_int(options["samples"], "samples"),
                "seed": seed_value(options["seed"])}


@hookimpl
def register_explainers(register) -> None:
    register(VanillaSaliency())
    register(SmoothGrad())
