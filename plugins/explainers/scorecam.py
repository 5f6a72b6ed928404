"""Score-CAM (Wang et al. 2020): a layer's maps weighted by how far each, used as a mask on the input,
raises the target's probability (softmax, or sigmoid for a multi-label model) above that of a silent
window. Captum has no Score-CAM.

Channel ``k``'s map ``A_k``, upsampled to the window and scaled to [0, 1], is a mask ``M_k``. The masked
window fades toward the window's minimum (silence, not 0 dB) where the mask is low:
``x_k = m + (x - m) M_k``. The weight is the increase in confidence, ``w_k = p_c(x_k) - p_c(m)``, and the
map is ``ReLU(sum_k w_k A_k)`` on the layer's grid, upsampled to the window as CAM.

The cost is one forward pass per weighed channel and window. As Faster Score-CAM (tabayashi0117's
Score-CAM repository; tf-keras-vis's ``max_N``) does, the sum runs over each window's ``channels`` maps
of largest spatial variance only: a nearly flat map adds nearly a constant to it, which shapes the
map little. ``channels`` at least the layer's channel count weighs them all (the paper's Score-CAM).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from specinterp import hookimpl
from specinterp.explaining import (
    conv_maps,
    evaluating,
    find_layer,
    layer_name,
    positive_int,
    silence,
    target_scores,
    upsample,
)
from specinterp.interfaces import Explainer


def unit_masks(maps: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """Maps ``(B, h, w)`` upsampled to ``(B, *size)`` and scaled to [0, 1] each (a flat map gives zeros)."""
    up = upsample(maps[:, None], size)
    low = up.amin(dim=(1, 2), keepdim=True)
    high = up.amax(dim=(1, 2), keepdim=True)
    return (up - low) / (high - low).clamp_min(1e-12)


def channel_weights(model: nn.Module, windows: torch.Tensor, target: torch.Tensor, activations: torch.Tensor,
                    batch_size: int) -> torch.Tensor:
    """``w[n, k] = p(masked by channel k) - p(silent window)``, masked forwards in batches ``(N, K)``."""
    n, k = activations.shape[:2]
    floor = silence(windows)
    baseline = target_scores(model, floor.expand_as(windows), target)
    pairs = torch.cartesian_prod(torch.arange(n), torch.arange(k)).view(-1, 2)
    scores = []
    for chunk in pairs.split(batch_size):
        i, j = chunk.unbind(1)
        masks = unit_masks(activations[i, j], windows.shape[-2:])[:, None]
        scores.append(target_scores(model, floor[i] + (windows[i] - floor[i]) * masks, target[i]))
    return torch.cat(scores).view(n, k) - baseline[:, None]


def most_varied(activations: torch.Tensor, count: int | None) -> torch.Tensor:
    """Each window's ``count`` maps of largest spatial variance ``(N, count, h, w)`` (``None``: all, in order)."""
    if count is None or count >= activations.shape[1]:
        return activations
    chosen = activations.flatten(2).var(dim=2).topk(count, dim=1).indices
    return activations.gather(1, chosen[:, :, None, None].expand(-1, -1, *activations.shape[2:]))


def score_cam(model: nn.Module, layer: str | nn.Module, windows: torch.Tensor, target: torch.Tensor,
              batch_size: int, channels: int | None = None) -> torch.Tensor:
    """Score-CAM on the layer's grid ``(N, h, w)``, weighing ``channels`` maps per window (``None``: all)."""
    from captum.attr import LayerActivation

    maps = LayerActivation(model, find_layer(model, layer)).attribute(windows)
    activations = conv_maps(maps, layer_name(model, layer))
    activations = most_varied(activations, channels)
    weights = channel_weights(model, windows, target, activations, batch_size)
    return torch.relu(torch.einsum("nk,nkhw->nhw", weights, activations))


class ScoreCAM(Explainer):
    name = "scorecam"
    description = ("Score-CAM: a layer's maps weighted by the target score of the input masked by each; one "
                   "forward pass per window and weighed map: channels=64 the 64 most varied, 128 (all of "
                   "camcnn's features) 2x that")
    options = {"layer": "features", "channels": 64, "batch_size": 64}

    def attribute(self, model: nn.Module, windows: torch.Tensor, target: torch.Tensor,
                  **options: Any) -> dict[str, torch.Tensor]:
        batch_size = positive_int(options["batch_size"], "batch_size")
        channels = positive_int(options["channels"], "channels")
        with evaluating(model), torch.no_grad():
            low = score_cam(model, options["layer"], windows, target, batch_size, channels)
        return {"scorecam": upsample(low[:, None], windows.shape[-2:])}


@hookimpl
def register_explainers(register) -> None:
    register(ScoreCAM())
