"""CAMCNN: conv blocks, global average pooling and one dense layer (Zhou et al. 2016).

Because the head is GAP followed by a single linear layer, the class activation map of class c is
``sum_k W[c, k] * A_k``, the dense weights of c times the last conv block's maps ``A``: CAM falls out
of the weights. Every block but the last is followed by 2 x 2 max-pooling, so a 128 x 128 window
reaches the last block at 8 x 8 (each cell ~ 16 frames x 16 mel bands).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from specinterp import hookimpl
from specinterp.interfaces import CamHead, ModelPlugin
from specinterp_plugins.models.shipped import shipped_weights


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    """3 x 3 convolution, batch norm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=False),
    )


class CamCNN(nn.Module):
    """Windows ``(N, 1, 128, 128)`` log-mel dB -> logits ``(N, classes)``."""

    capabilities = frozenset({"gradients", "gap-linear-head"})

    def __init__(self, classes: int = 10, channels: tuple[int, ...] = (16, 32, 64, 128, 128),
                 dropout: float = 0.3) -> None:
        super().__init__()
        self.input_norm = nn.BatchNorm2d(1)
        self.convs = nn.ModuleList()
        previous = 1
        for width in channels:
            self.convs.append(conv_block(previous, width))
            previous = width
        self.pool = nn.MaxPool2d(2)
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(previous, classes)

    @property
    def explainable_layers(self) -> dict[str, nn.Module]:
        """conv1 ... convK by the study's naming; ``features`` is the block that feeds the pooling."""
        layers = {f"conv{i + 1}": block for i, block in enumerate(self.convs)}
        layers["features"] = self.convs[-1]
        return layers

    def features(self, windows: torch.Tensor) -> torch.Tensor:
        """The last conv block's maps ``(N, C, h, w)``, the input of global average pooling."""
        x = self.input_norm(windows)
        for i, block in enumerate(self.convs):
            x = block(x)
            if i < len(self.convs) - 1:
                x = self.pool(x)
        return x

    def cam_head(self) -> CamHead:
        """The maps that feed global average pooling and the dense layer's ``(classes, C)`` weights."""
        return CamHead(features=self.features, weight=self.classifier.weight)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        pooled = self.features(windows).mean(dim=(2, 3))
        return self.classifier(self.dropout(pooled))


class CamCNNPlugin(ModelPlugin):
    name = "camcnn"
    description = "conv blocks + global average pooling + one dense layer (class activation maps)"
    default_variant = "random"  # trained on the most clips

    def default_config(self) -> dict[str, Any]:
        return {"classes": 10, "channels": [16, 32, 64, 128, 128], "dropout": 0.3}

    def build(self, config: Mapping[str, Any]) -> nn.Module:
        merged = {**self.default_config(), **{k: v for k, v in config.items() if k in self.default_config()}}
        return CamCNN(classes=int(merged["classes"]), channels=tuple(merged["channels"]),
                      dropout=float(merged["dropout"]))

    def weights(self):
        return shipped_weights(self.name)


@hookimpl
def register_models(register) -> None:
    register(CamCNNPlugin())
