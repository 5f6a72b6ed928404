"""What explainers share: option checks, layer lookup, eval mode, upsampling, target scores, mel axes,
and :class:`CaptumExplainer`, a base on which a Captum method is a few declarations.

Built-in explainers use these and nothing else of each other, so a third-party explainer can do all
that they do. The module imports torch (never Captum: a :class:`CaptumExplainer` subclass names its
own Captum class); the CLI does not import it at start-up.

Shapes as in :mod:`specinterp.interfaces`: windows ``(N, 1, n_mels, frames)``, targets ``(N,)``, maps
per window ``(N, n_mels, frames)``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from specinterp.interfaces import Explainer, is_multilabel

if TYPE_CHECKING:
    from specinterp.frontend import FrontendConfig

SIGNS = ("abs", "positive", "raw")

__all__ = [
    "CaptumExplainer", "class_probabilities", "conv_maps", "evaluating", "filter_numbers", "find_layer", "flag",
    "frontend_config", "layer_name", "mel_frequencies", "positive_int", "silence", "target_scores", "upsample",
]


# ---------------------------------------------------------------- option values

def seed_value(value: Any) -> int:
    """Option ``seed`` as an integer (``bool`` refused), or a ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"option seed must be an integer, got {value!r}")
    return value


def positive_int(value: Any, key: str) -> int:
    """An option's value as an integer of at least 1.

    Parameters
    ----------
    value : Any
        The option's value as given (from JSON on the command line, or Python).
    key : str
        The option's name, for the error.

    Returns
    -------
    int
        ``value`` itself.

    Raises
    ------
    ValueError
        ``value`` is not an ``int`` (``bool`` is refused) or is below 1.
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"option {key} must be a positive integer, got {value!r}")
    return value


def flag(value: Any, key: str) -> bool:
    """An option's value as a boolean.

    Parameters
    ----------
    value : Any
        The option's value as given.
    key : str
        The option's name, for the error.

    Returns
    -------
    bool
        ``value`` itself.

    Raises
    ------
    ValueError
        ``value`` is not a ``bool`` (``1`` or ``"yes"`` are refused).
    """
    if not isinstance(value, bool):
        raise ValueError(f"option {key} must be true or false, got {value!r}")
    return value


def filter_numbers(filters: Any, count: int, layer: str) -> list[int]:
    """Filter numbers, counted from 1 as the study does (filter 1 is output channel 0).

    Parameters
    ----------
    filters : int or list of int
        One filter number or several.
    count : int > 0
        How many filters (output channels) the layer has.
    layer : str
        The layer's name, for the error.

    Returns
    -------
    list of int
        The numbers, each in ``1..count``, in the order given.

    Raises
    ------
    ValueError
        An empty list, or a number that is not an ``int`` in ``1..count``.
    """
    numbers = filters if isinstance(filters, list) else [filters]
    if not numbers:
        raise ValueError("option filters is empty")
    for number in numbers:
        if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number <= count:
            raise ValueError(f"filter {number!r} out of range: layer {layer} has filters 1..{count} (numbered from 1)")
    return numbers


# ---------------------------------------------------------------- layers

def find_layer(model: nn.Module, layer: str | nn.Module) -> nn.Module:
    """The submodule an explainer's ``layer`` option names.

    Parameters
    ----------
    model : nn.Module
        The model being explained (see :class:`specinterp.interfaces.ExplainableModel`).
    layer : str or nn.Module
        A name from ``model.explainable_layers`` (``"features"``, ``"conv2"``, ...), or a submodule of
        ``model`` itself (any of ``model.modules()``, named or not).

    Returns
    -------
    nn.Module
        The submodule.

    Raises
    ------
    ValueError
        An unknown name, a module that is not part of ``model``, or anything else; the message lists
        the names the model exposes.
    """
    layers = getattr(model, "explainable_layers", {})
    available = ", ".join(layers) or "none"
    if isinstance(layer, nn.Module):
        if any(module is layer for module in model.modules()):
            return layer
        raise ValueError(f"layer {type(layer).__name__} is not a submodule of the model (its layers: {available})")
    if not isinstance(layer, str) or layer not in layers:
        raise ValueError(f"unknown layer {layer!r} (available: {available})")
    return layers[layer]


def layer_name(model: nn.Module, layer: str | nn.Module) -> str:
    """A layer option as text for map names and messages: the name itself, the name the model exposes
    the module as in ``explainable_layers`` (the first), else its path in ``model.named_modules()``."""
    if isinstance(layer, str):
        return layer
    for name, module in getattr(model, "explainable_layers", {}).items():
        if module is layer:
            return name
    for name, module in model.named_modules():
        if module is layer:
            return name or "model"
    return type(layer).__name__


def conv_maps(output: Any, layer: str | nn.Module) -> torch.Tensor:
    """A layer's output checked to be a batch of maps.

    Parameters
    ----------
    output : Any
        What the layer returned (a forward hook's ``output``, or ``LayerActivation``'s result).
    layer : str or nn.Module
        The layer option, for the error.

    Returns
    -------
    torch.Tensor [shape=(N, C, h, w)]
        ``output`` itself.

    Raises
    ------
    ValueError
        ``output`` is not a 4-d tensor (e.g. a dense layer's ``(N, C)`` or a tuple).
    """
    if not isinstance(output, torch.Tensor) or output.dim() != 4:
        shape = tuple(output.shape) if isinstance(output, torch.Tensor) else type(output).__name__
        name = layer if isinstance(layer, str) else type(layer).__name__
        raise ValueError(f"layer {name!r} gives {shape}, not maps (N, C, h, w)")
    return output


# ---------------------------------------------------------------- running the model

@contextmanager
def evaluating(model: nn.Module) -> Iterator[nn.Module]:
    """The model in eval mode for the block, its mode restored after.

    Captum's notices that it sets temporary ReLU hooks or makes the input require gradients (both
    undone when it returns) are silenced inside the block.

    Parameters
    ----------
    model : nn.Module
        The model to explain.

    Yields
    ------
    nn.Module
        ``model``, in eval mode.
    """
    was_training = model.training
    model.eval()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU")
            warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require gradients")
            yield model
    finally:
        model.train(was_training)


def class_probabilities(model: nn.Module, windows: torch.Tensor) -> torch.Tensor:
    """The model's probabilities per window: softmax of the logits for a single-label model, the
    sigmoid of each for a multi-label one (:func:`specinterp.interfaces.is_multilabel`).

    Parameters
    ----------
    model : nn.Module
        Maps windows ``(N, 1, n_mels, frames)`` to logits ``(N, classes)``.
    windows : torch.Tensor [shape=(N, 1, n_mels, frames)]
        Log-mel windows.

    Returns
    -------
    torch.Tensor [shape=(N, classes)]
        Probabilities (rows sum to 1 for a single-label model).
    """
    logits = model(windows)
    return logits.sigmoid() if is_multilabel(model) else logits.softmax(dim=1)


def target_scores(model: nn.Module, windows: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Each window's probability of its target class (see :func:`class_probabilities`).

    Parameters
    ----------
    model : nn.Module
        Maps windows to logits ``(N, classes)``; ``multilabel = True`` makes the scores sigmoids.
    windows : torch.Tensor [shape=(N, 1, n_mels, frames)]
        Log-mel windows.
    target : torch.Tensor [shape=(N,), dtype=int64]
        A class index per window.

    Returns
    -------
    torch.Tensor [shape=(N,)]
        ``p(target[n] | windows[n])``, in [0, 1].
    """
    return class_probabilities(model, windows).gather(1, target[:, None])[:, 0]


# ---------------------------------------------------------------- maps

def upsample(maps: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
    """Layer maps brought to the window's grid, bilinear as CAM.

    Parameters
    ----------
    maps : torch.Tensor [shape=(N, 1, h, w)]
        One map per window on a layer's grid.
    size : tuple of int
        The window's ``(n_mels, frames)``.

    Returns
    -------
    torch.Tensor [shape=(N, n_mels, frames)]
        The maps, channel axis dropped (``align_corners=False``).
    """
    return F.interpolate(maps, size=tuple(size), mode="bilinear", align_corners=False)[:, 0]


def silence(windows: torch.Tensor) -> torch.Tensor:
    """Each window's minimum: the level a removed or masked region fades to.

    Parameters
    ----------
    windows : torch.Tensor [shape=(N, 1, n_mels, frames)]
        Log-mel windows.

    Returns
    -------
    torch.Tensor [shape=(N, 1, 1, 1)]
        ``windows[n].min()`` per window; ``.expand_as(windows)`` gives a silent baseline.
    """
    return windows.amin(dim=(1, 2, 3), keepdim=True)


# ---------------------------------------------------------------- axes

def frontend_config(owner: Any, n_mels: int) -> FrontendConfig:
    """The front end ``owner`` (a model, or an :class:`~specinterp.interfaces.Explanation`) declares as
    its ``frontend`` attribute, else the study's default with ``n_mels`` mel bands.

    Parameters
    ----------
    owner : Any
        Anything with an optional ``frontend`` attribute (a :class:`specinterp.frontend.FrontendConfig`).
    n_mels : int > 0
        The mel bands of the maps at hand (windows' or song maps' rows).

    Returns
    -------
    specinterp.frontend.FrontendConfig

    Raises
    ------
    ValueError
        The declared front end has another number of mel bands than ``n_mels``.
    """
    from specinterp import frontend  # torchaudio: only when an explainer needs mel axes

    config = getattr(owner, "frontend", None)
    if config is None:
        return replace(frontend.DEFAULT, n_mels=n_mels)
    if config.n_mels != n_mels:
        raise ValueError(f"the front end has {config.n_mels} mel bands, the maps {n_mels}")
    return config


def mel_frequencies(model: Any, n_mels: int) -> np.ndarray:
    """Centre frequency of each mel row of the model's windows.

    Parameters
    ----------
    model : nn.Module or Explanation
        The model (or an explanation of it); its ``frontend`` attribute (a
        :class:`specinterp.frontend.FrontendConfig`) is used when present, else the study's front end
        (22050 Hz, n_fft 2048) with ``n_mels`` bands.
    n_mels : int > 0
        Rows of the windows.

    Returns
    -------
    np.ndarray [shape=(n_mels,)]
        Hz, increasing from the lowest row (row 0).

    Raises
    ------
    ValueError
        The model's front end has another number of mel bands than ``n_mels``.
    """
    from specinterp import frontend

    return frontend.mel_band_hz(frontend_config(model, n_mels))


# ---------------------------------------------------------------- Captum

class CaptumExplainer(Explainer):
    """An explainer that is one Captum attribution method, declared rather than written.

    A subclass sets ``name``, ``description``, ``requires``, ``options`` and:

    attribution : str or Callable
        The name of a Captum class in ``captum.attr`` (``"Saliency"``, ``"LayerGradCam"``, ...:
        imported when first used, so loading the plugin does not import Captum) or any callable
        ``(model)`` / ``(model, layer)`` returning an object with Captum's
        ``attribute(inputs, target=..., **kwargs)`` (wrap a plain function in ``staticmethod``).
    layer_method : bool
        ``True`` when it takes a layer (``LayerGradCam(model, layer)``): the ``layer`` option (a name
        from ``explainable_layers`` or the submodule) is looked up with :func:`find_layer`.
    sign : "abs", "positive" or "raw"
        The map: magnitude, positive part, or the attribution as it is.

    and may override :meth:`attribute_kwargs` for Captum's other arguments (check option values
    there). The base class runs the model in eval mode, calls ``attribute``, detaches, applies the
    sign, drops the channel axis and upsamples maps on a layer's grid to the window (bilinear). It
    gives one map, named after the explainer.
    """

    attribution: ClassVar[str | Callable[..., Any]]
    layer_method: ClassVar[bool] = False
    sign: ClassVar[str] = "abs"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.sign not in SIGNS:
            raise TypeError(f"{cls.__name__}.sign must be one of {', '.join(SIGNS)}, got {cls.sign!r}")
        if cls.layer_method and "layer" not in cls.options:
            raise TypeError(f"{cls.__name__} takes a layer: declare a default, e.g. options = {{'layer': 'features'}}")

    def attribute_kwargs(self, windows: torch.Tensor, target: torch.Tensor, options: dict[str, Any]) -> dict[str, Any]:
        """Keyword arguments for Captum's ``attribute`` besides ``inputs`` and ``target`` (none here)."""
        return {}

    def attribute(self, model: nn.Module, windows: torch.Tensor, target: torch.Tensor,
                  **options: Any) -> dict[str, torch.Tensor]:
        method_args = (find_layer(model, options["layer"]),) if self.layer_method else ()
        kwargs = self.attribute_kwargs(windows, target, options)
        method = self.attribution
        if isinstance(method, str):
            import captum.attr

            method = getattr(captum.attr, method)
        with evaluating(model):
            maps = method(model, *method_args).attribute(windows, target=target, **kwargs)
        maps = maps.detach()
        if self.sign == "abs":
            maps = maps.abs()
        elif self.sign == "positive":
            maps = maps.clamp(min=0)
        if maps.dim() != 4 or maps.shape[1] != 1:
            raise ValueError(f"{self.name} gives attributions {tuple(maps.shape)}, not one map per window (N, 1, h, w)")
        if maps.shape[-2:] != windows.shape[-2:]:
            return {self.name: upsample(maps, windows.shape[-2:])}
        return {self.name: maps[:, 0]}
