"""Class activation maps (Zhou et al. 2016) for models with a GAP + single dense head.

``CAM_c = sum_k W[c, k] A_k``: the dense weights of the target class times the maps of the block
that feeds global average pooling, upsampled (bilinear) from the block's grid to the window.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from specinterp import hookimpl
from specinterp.interfaces import Explainer


def class_activation_maps(model: nn.Module, windows: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CAM on the last block's grid ``(N, h, w)``: ``sum_k W[target, k] A_k``."""
    maps = model.features(windows)  # (N, K, h, w)
    return torch.einsum("nk,nkhw->nhw", model.classifier.weight[target], maps)


class CAM(Explainer):
    name = "cam"
    description = "class activation map: dense weights of the target times the last conv block's maps"
    requires = frozenset({"gap-linear-head"})

    def explain(self, model: nn.Module, windows: torch.Tensor, target: torch.Tensor, **options: Any) -> dict[str, torch.Tensor]:
        if options:
            raise ValueError(f"cam takes no options (got {', '.join(options)})")
        with torch.no_grad():
            cam = class_activation_maps(model, windows, target)
            cam = F.interpolate(cam[:, None], size=windows.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
        return {"cam": cam}


@hookimpl
def register_explainers(register) -> None:
    register(CAM())
