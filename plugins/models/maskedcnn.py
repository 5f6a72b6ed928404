"""maskedCNN: baseCNN plus Zhang's interpretable conv layer with filter masks and the filter loss.

The interpretable layer (``interp``: 3 x 3 conv, 128 filters, ReLU) sits on top of baseCNN's last
conv layer at 16 x 16; each filter's ReLU map is masked by the template at its argmax before the
head. During training the model keeps the unmasked maps of the last forward pass, and
``auxiliary_loss(labels)`` returns ``filter_loss_weight`` times Zhang's filter loss on them, which
the training loop adds to the classification loss. ``templates`` is ``2d`` (Zhang's) or ``freq``
(frequency bands only; see interpretable.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from specinterp import hookimpl
from specinterp.interfaces import ModelPlugin
from specinterp_plugins.models.basecnn import PRESETS, BaseCNN, ConvStage
from specinterp_plugins.models.interpretable import InterpretableMask, TemplateBank, filter_loss
from specinterp_plugins.models.shipped import shipped_weights


class MaskedCNN(BaseCNN):
    """baseCNN's conv stages, then the interpretable layer, then baseCNN's pooled head."""

    capabilities = frozenset({"gradients", "interpretable-filters"})

    def __init__(self, classes: int = 10, interp_filters: int = 128, templates: str = "2d",
                 filter_loss_weight: float = 0.1, input_size: int = 128, **base: Any) -> None:
        super().__init__(classes=classes, input_size=input_size, **base)
        channels = base.get("channels", (32, 64, 128))
        side = input_size // 2 ** len(channels)
        self.interp = ConvStage(channels[-1], interp_filters, base.get("batch_norm", True))
        self.mask = InterpretableMask(TemplateBank(side, templates))
        self.filter_loss_weight = filter_loss_weight
        self.register_buffer("filter_classes", torch.arange(interp_filters) % classes)
        bands = base.get("bands", 4)
        hidden = self.head[0].out_features
        self.head[0] = nn.Linear(interp_filters * bands, hidden)
        self._last_maps: torch.Tensor | None = None

    @property
    def explainable_layers(self) -> dict[str, nn.Module]:
        layers = super().explainable_layers
        layers["interp"] = self.interp
        layers["features"] = self.mask
        return layers

    def conv_maps(self, windows: torch.Tensor) -> torch.Tensor:
        maps = self.interp(super().conv_maps(windows))
        self._last_maps = maps if self.training else None
        return self.mask(maps)

    def auxiliary_loss(self, labels: torch.Tensor) -> torch.Tensor:
        """Weighted filter loss on the interpretable layer's maps from the last training forward pass."""
        if self._last_maps is None or self.filter_loss_weight == 0:
            return torch.zeros(())
        return self.filter_loss_weight * filter_loss(self._last_maps, labels, self.filter_classes, self.mask.bank)


class MaskedCNNPlugin(ModelPlugin):
    name = "maskedcnn"
    description = "baseCNN + Zhang et al.'s interpretable conv layer (masks + filter loss); templates 2d or freq"
    default_variant = "random"

    def default_config(self) -> dict[str, Any]:
        return {"classes": 10, **PRESETS["default"], "interp_filters": 128, "templates": "2d",
                "filter_loss_weight": 0.1}

    def build(self, config: Mapping[str, Any]) -> nn.Module:
        merged = {**self.default_config(), **config}
        merged["channels"] = tuple(merged["channels"])
        merged.pop("head", None)
        return MaskedCNN(**merged)

    def weights(self):
        return shipped_weights(self.name)


@hookimpl
def register_models(register) -> None:
    register(MaskedCNNPlugin())
