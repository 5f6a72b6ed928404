"""baseCNN: the study's plain CNN, with its layer names and sizes.

conv1 (32 filters 3 x 3) and conv2 (64 filters 3 x 3), each followed by ReLU and 2 x 2 max-pooling,
so that "conv1 filter 8" and "deconvolution from conv2" mean what they meant in the study.

Two heads, chosen by the ``preset`` in the JSON config:

- ``seed``: the study's own head, flatten (64 x 32 x 32) -> dense 1024 -> dense 10: 67 M parameters.
- ``default``: the study's planned third conv layer (conv3, 128 filters) and pooling before the
  dense head: average over time, keep 4 frequency bands (position in frequency means something in a
  spectrogram; position in time does not) -> dense 128 -> dense 10. About 0.2 M parameters.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from specinterp import hookimpl
from specinterp.interfaces import ModelPlugin
from specinterp_plugins.models.shipped import shipped_weights

PRESETS: dict[str, dict[str, Any]] = {
    "default": {"channels": [32, 64, 128], "head": "pooled", "bands": 4, "hidden": 128, "dropout": 0.3,
                "batch_norm": True},
    "seed": {"channels": [32, 64], "head": "flatten", "hidden": 1024, "dropout": 0.5, "batch_norm": False},
}


class ConvStage(nn.Sequential):
    """conv 3 x 3 (+ batch norm) + ReLU; pooling is applied by the owner so the ReLU map stays visible."""

    def __init__(self, in_channels: int, out_channels: int, batch_norm: bool) -> None:
        layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=not batch_norm)]
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(nn.ReLU())
        super().__init__(*layers)


class BaseCNN(nn.Module):
    """Windows ``(N, 1, 128, 128)`` log-mel dB -> logits ``(N, classes)``."""

    capabilities = frozenset({"gradients"})

    def __init__(self, classes: int = 10, channels: tuple[int, ...] = (32, 64, 128), head: str = "pooled",
                 bands: int = 4, hidden: int = 128, dropout: float = 0.3, batch_norm: bool = True,
                 input_size: int = 128) -> None:
        super().__init__()
        self.input_norm = nn.BatchNorm2d(1)
        self.convs = nn.ModuleList()
        previous = 1
        for width in channels:
            self.convs.append(ConvStage(previous, width, batch_norm))
            previous = width
        self.pool = nn.MaxPool2d(2)
        side = input_size // 2 ** len(channels)
        if head == "flatten":
            self.reduce: nn.Module = nn.Flatten()
            features = previous * side * side
        elif head == "pooled":
            self.reduce = nn.Sequential(nn.AdaptiveAvgPool2d((bands, 1)), nn.Flatten())
            features = previous * bands
        else:
            raise ValueError(f"unknown head '{head}' (flatten or pooled)")
        self.head = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(), nn.Dropout(dropout),
                                  nn.Linear(hidden, classes))

    @property
    def explainable_layers(self) -> dict[str, nn.Module]:
        layers = {f"conv{i + 1}": stage for i, stage in enumerate(self.convs)}
        layers["features"] = self.convs[-1]
        return layers

    def conv_maps(self, windows: torch.Tensor) -> torch.Tensor:
        """The last conv stage's pooled maps."""
        x = self.input_norm(windows)
        for stage in self.convs:
            x = self.pool(stage(x))
        return x

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return self.head(self.reduce(self.conv_maps(windows)))


class BaseCNNPlugin(ModelPlugin):
    name = "basecnn"
    description = ("the study's baseCNN: conv1 (32), conv2 (64) [+ conv3 (128)], dense head; "
                   "preset 'seed' is the 67 M original")
    default_variant = "random"

    def default_config(self) -> dict[str, Any]:
        return {"classes": 10, "preset": "default", **PRESETS["default"]}

    def build(self, config: Mapping[str, Any]) -> nn.Module:
        preset = config.get("preset", "default")
        if preset not in PRESETS:
            raise ValueError(f"unknown basecnn preset '{preset}' (available: {', '.join(PRESETS)})")
        merged = {"classes": 10, **PRESETS[preset], **{k: v for k, v in config.items() if k != "preset"}}
        merged["channels"] = tuple(merged["channels"])
        return BaseCNN(**merged)

    def weights(self):
        return shipped_weights(self.name)


@hookimpl
def register_models(register) -> None:
    register(BaseCNNPlugin())
