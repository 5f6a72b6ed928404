"""Occlusion (Zeiler & Fergus 2014) with Captum's ``Occlusion``: a patch of mel bands x frames slid
over the window and set to silence (the window's minimum dB); each cell gets the mean drop of the
target score over the patches covering it. The map is the positive part: where hiding hurts the target.

The cost is one forward pass per patch position and window, ``(128 - patch) / stride + 1`` positions
along each axis of a 128 x 128 window: 15 x 8 = 120 at the defaults (``stride`` [8, 16]: every 8 mel
bands, every 16 frames), batched ``EXAMPLES_PER_PASS`` occluded windows per forward. A stride of
[8, 8] costs 1.9x that (225), [4, 4] 7x (841).
"""

from __future__ import annotations

from typing import Any

import torch

from specinterp import hookimpl
from specinterp.explaining import CaptumExplainer, positive_int, silence

EXAMPLES_PER_PASS = 256  # occluded windows per forward pass


def mel_frame_pair(value: Any, key: str, limit: tuple[int, int]) -> tuple[int, int]:
    """``[mel bands, frames]`` as two positive ints no larger than the window."""
    if not isinstance(value, (list, tuple)) or len(value) != 2:
        raise ValueError(f"option {key} must be [mel bands, frames], got {value!r}")
    pair = (positive_int(value[0], key), positive_int(value[1], key))
    if pair[0] > limit[0] or pair[1] > limit[1]:
        raise ValueError(f"option {key} {list(pair)} exceeds the window {list(limit)}")
    return pair


class SlidingOcclusion(CaptumExplainer):
    name = "occlusion"
    description = ("drop of the target score when a time x frequency patch is silenced; positive part (Captum "
                   "Occlusion); one forward pass per patch position and window: 120 at stride [8, 16], "
                   "[8, 8] 1.9x that, [4, 4] 7x")
    options = {"patch": [16, 16], "stride": [8, 16]}
    attribution = "Occlusion"
    sign = "positive"

    def attribute_kwargs(self, windows: torch.Tensor, target: torch.Tensor, options: dict[str, Any]) -> dict[str, Any]:
        grid = tuple(windows.shape[-2:])
        patch = mel_frame_pair(options["patch"], "patch", grid)
        stride = mel_frame_pair(options["stride"], "stride", grid)
        return {"sliding_window_shapes": (1, *patch), "strides": (1, *stride),
                "baselines": silence(windows).expand_as(windows),
                "perturbations_per_eval": max(1, EXAMPLES_PER_PASS // len(windows))}


@hookimpl
def register_explainers(register) -> None:
    register(SlidingOcclusion())
