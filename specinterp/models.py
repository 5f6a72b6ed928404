"""Bring your own model: any ``nn.Module`` that maps windows ``(N, 1, n_mels, frames)`` to logits.

:class:`UserModel` wraps such a module so that it follows
:class:`specinterp.interfaces.ExplainableModel` without being a plugin: it names the module's
convolutions as explainable layers (``features`` is the last one) unless the module names its own,
declares the gradients capability, and carries the front end and output kind the user gave.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

from specinterp.frontend import FrontendConfig
from specinterp.interfaces import CamHead, SpecinterpError
from specinterp.weights import LoadedModel

MAP_LAYERS = (nn.Conv2d,)


def convolution_layers(module: nn.Module) -> dict[str, nn.Module]:
    """Every ``Conv2d`` by its qualified name, and ``features`` for the last one (may be empty)."""
    layers = {name: sub for name, sub in module.named_modules() if isinstance(sub, MAP_LAYERS)}
    if layers:
        layers["features"] = list(layers.values())[-1]
    return layers


class UserModel(nn.Module):
    """A user's module with the model contract's attributes.

    Parameters
    ----------
    module : nn.Module
        Maps ``(N, 1, n_mels, frames)`` windows to logits ``(N, classes)``.
    frontend : FrontendConfig
        The input the module expects (sample rate, mel settings, log, window frames).
    multilabel : bool, default False
        Sigmoid outputs (tags) rather than softmax.
    layers : Mapping[str, nn.Module] or None
        Explainable layers by name; default: the module's own ``explainable_layers`` if it has them,
        else its ``Conv2d`` layers by qualified name plus ``features`` for the last.
    """

    def __init__(self, module: nn.Module, frontend: FrontendConfig, multilabel: bool = False,
                 layers: Mapping[str, nn.Module] | None = None) -> None:
        super().__init__()
        self.inner = module
        self.frontend = frontend
        self.multilabel = multilabel
        own = getattr(module, "explainable_layers", None)
        self._layers = dict(layers if layers is not None else own if own is not None else convolution_layers(module))
        declared = set(getattr(module, "capabilities", {"gradients"}))
        if not callable(getattr(module, "cam_head", None)):
            declared.discard("gap-linear-head")
        self.capabilities = frozenset(declared)

    @property
    def explainable_layers(self) -> dict[str, nn.Module]:
        return dict(self._layers)

    def cam_head(self) -> CamHead:
        """The wrapped module's own ``cam_head`` (only when it declares ``gap-linear-head``)."""
        return self.inner.cam_head()

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return self.inner(windows)


def wrap(module: nn.Module, frontend: FrontendConfig | Mapping | None, classes: Sequence[str] | None,
         multilabel: bool = False) -> LoadedModel:
    """A user's module as a :class:`LoadedModel` (eval mode), checked for what it needs."""
    if not isinstance(module, nn.Module):
        raise SpecinterpError(
            f"model must be a plugin name, a loaded model or an nn.Module, got {type(module).__name__}")
    if classes is None or len(classes) == 0:
        raise SpecinterpError("a model passed as an nn.Module needs classes=[...] (the name of each output)")
    if frontend is None:
        raise SpecinterpError(
            "a model passed as an nn.Module needs frontend=FrontendConfig(...) (or a dict of its fields)")
    config = frontend if isinstance(frontend, FrontendConfig) else FrontendConfig.from_dict(frontend)
    wrapped = UserModel(module, config, multilabel).eval()
    wrapped.model_name = type(module).__name__  # how messages name it
    return LoadedModel(type(module).__name__, wrapped, tuple(classes), {}, {}, None, config)
