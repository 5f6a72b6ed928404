"""LayerCAM (Jiang et al. 2021) and Grad-CAM++ (Chattopadhay et al. 2018): a layer's maps ``A`` and the
gradients ``g`` of the target's logit with respect to them, from one forward and one backward pass.
Captum has neither.

- LayerCAM weighs every position by its own positive gradient: ``ReLU(sum_k ReLU(g_k) * A_k)``.
- Grad-CAM++ weighs each channel by ``w_k = sum_ij alpha_kij ReLU(g_kij)`` with
  ``alpha = g^2 / (2 g^2 + sum_ab A_kab g^3)`` (0 where that denominator is 0): ``ReLU(sum_k w_k A_k)``.

Both maps are computed on the layer's grid and upsampled to the window as CAM.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import torch
from torch import nn

from specinterp import hookimpl
from specinterp.explaining import conv_maps, evaluating, find_layer, layer_name, upsample
from specinterp.interfaces import Explainer


def maps_and_gradients(model: nn.Module, layer: str | nn.Module, windows: torch.Tensor,
                       target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The layer's maps ``A`` and ``d logit_target / d A``, both ``(N, C, h, w)``."""
    captured: list[Any] = []
    handle = find_layer(model, layer).register_forward_hook(lambda module, inputs, output: captured.append(output))
    try:
        with torch.enable_grad():
            logits = model(windows.detach().requires_grad_(True))
            if not captured:
                raise ValueError(f"layer {layer_name(model, layer)!r} does not run in the model's forward pass")
            maps = conv_maps(captured[0], layer_name(model, layer))
            (gradients,) = torch.autograd.grad(logits.gather(1, target[:, None]).sum(), maps)
    finally:
        handle.remove()
    return maps.detach(), gradients


def layer_cam(maps: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """``ReLU(sum_k ReLU(g_k) * A_k)`` ``(N, h, w)``."""
    return torch.relu((torch.relu(gradients) * maps).sum(dim=1))


def gradcam_pp_weights(maps: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """Grad-CAM++ channel weights ``(N, C)``: ``sum_ij alpha_ij ReLU(g_ij)``."""
    total = maps.sum(dim=(2, 3), keepdim=True)
    denominator = 2 * gradients**2 + total * gradients**3
    safe = torch.where(denominator == 0, torch.ones_like(denominator), denominator)
    alpha = torch.where(denominator == 0, torch.zeros_like(denominator), gradients**2 / safe)
    return (alpha * torch.relu(gradients)).sum(dim=(2, 3))


def gradcam_pp(maps: torch.Tensor, gradients: torch.Tensor) -> torch.Tensor:
    """``ReLU(sum_k w_k A_k)`` ``(N, h, w)`` with the Grad-CAM++ weights."""
    return torch.relu(torch.einsum("nk,nkhw->nhw", gradcam_pp_weights(maps, gradients), maps))


class GradientCAM(Explainer):
    """A CAM built from one layer's maps and their gradients by :attr:`combine`."""

    requires = frozenset({"gradients"})
    options = {"layer": "features"}
    combine: ClassVar[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]]

    def attribute(self, model: nn.Module, windows: torch.Tensor, target: torch.Tensor,
                  **options: Any) -> dict[str, torch.Tensor]:
        with evaluating(model):
            maps, gradients = maps_and_gradients(model, options["layer"], windows, target)
        low = self.combine(maps, gradients)
        return {self.name: upsample(low[:, None], windows.shape[-2:])}


class LayerCAM(GradientCAM):
    name = "layercam"
    description = "LayerCAM: a layer's maps times their positive gradients, position by position"
    combine = staticmethod(layer_cam)


class GradCAMPlusPlus(GradientCAM):
    name = "gradcam++"
    description = "Grad-CAM++: a layer's maps weighted by gradients with higher-order (alpha) weights"
    combine = staticmethod(gradcam_pp)


@hookimpl
def register_explainers(register) -> None:
    register(LayerCAM())
    register(GradCAMPlusPlus())
