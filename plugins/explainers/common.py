"""Helpers the built-in explainers share: option checking, layer lookup, eval mode, upsampling."""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import Any, Iterator, Mapping

import torch
import torch.nn.functional as F
from torch import nn


def read_options(options: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """``defaults`` updated by ``options``; ``ValueError`` naming any option not in ``defaults``."""
    unknown = [key for key in options if key not in defaults]
    if unknown:
        takes = f"takes {', '.join(defaults)}" if defaults else "takes no options"
        raise ValueError(f"unknown option {', '.join(map(repr, unknown))} ({takes})")
    return {**defaults, **options}


def positive_int(value: Any, key: str) -> int:
    """``value`` as an int >= 1, or a ``ValueError`` naming option ``key``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"option {key} must be a positive integer, got {value!r}")
    return value


def flag(value: Any, key: str) -> bool:
    """``value`` if it is a bool, or a ``ValueError`` naming option ``key``."""
    if not isinstance(value, bool):
        raise ValueError(f"option {key} must be true or false, got {value!r}")
    return value


def find_layer(model: nn.Module, name: Any) -> nn.Module:
    """The submodule the model exposes as ``name``, or a ``ValueError`` listing the names it has."""
    layers = getattr(model, "explainable_layers", {})
    if not isinstance(name, str) or name not in layers:
        raise ValueError(f"unknown layer {name!r} (available: {', '.join(layers) or 'none'})")
    return layers[name]


@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """The model in eval mode for the block (its mode restored after), without Captum's notices that it
    sets temporary ReLU hooks or makes the input require gradients (both undone when it returns)."""
    was_training = model.training
    model.eval()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU")
            warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require gradients")
            yield model
    finally:
        model.train(was_training)


def upsample(maps: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """Layer maps ``(N, 1, h, w)`` -> ``(N, *size)``, bilinear as CAM."""
    return F.interpolate(maps, size=tuple(size), mode="bilinear", align_corners=False)[:, 0]


def silence(windows: torch.Tensor) -> torch.Tensor:
    """Each window's minimum dB ``(N, 1, 1, 1)``: the level a removed or masked region fades to."""
    return windows.amin(dim=(1, 2, 3), keepdim=True)
