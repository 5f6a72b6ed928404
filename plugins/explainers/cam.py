"""Class activation maps (Zhou et al. 2016) for models with a GAP + single dense head.

``CAM_c = sum_k W[c, k] A_k``: the dense weights of the target class times the maps of the block
that feeds global average pooling, upsampled (bilinear) from the block's grid to the window. Both come
from the model's :meth:`cam_head` (see :class:`specinterp.interfaces.ExplainableModel`), run in eval mode
(batch norm on its running statistics, no dropout) and left in the mode it was found in.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from specinterp import hookimpl
from specinterp.explaining import evaluating, upsample
from specinterp.interfaces import Explainer


def class_activation_maps(model: nn.Module, windows: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CAM on the last block's grid ``(N, h, w)``: ``sum_k W[target, k] A_k`` from ``model.cam_head()``."""
    head = model.cam_head()
    maps = head.features(windows)  # (N, K, h, w)
    return torch.einsum("nk,nkhw->nhw", head.weight[target], maps)


class CAM(Explainer):
    name = "cam"
    description = "class activation map: dense weights of the target times the last conv block's maps"
    requires = frozenset({"gap-linear-head"})
    options = {}

    def attribute(self, model: nn.Module, windows: torch.Tensor, target: torch.Tensor,
                  **options: Any) -> dict[str, torch.Tensor]:
        with evaluating(model), torch.no_grad():
            cam = class_activation_maps(model, windows, target)
            cam = upsample(cam[:, None], windows.shape[-2:])
        return {"cam": cam}


@hookimpl
def register_explainers(register) -> None:
    register(CAM())
