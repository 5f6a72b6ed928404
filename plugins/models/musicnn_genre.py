"""Transfer to genres: a small genre head on FROZEN musicnn features (Pons & Serra 2019).

``musicnn-genre`` is the ``musicnn-msd`` tagger's body (its shipped weights, frozen) with a trainable
head on musicnn's ``penultimate`` features: the 753 dense-connected channels pooled over the window's
time (max and mean), dense 200 + ReLU + batch norm. The head is dropout then dense layers to the 10
GTZAN genres, by default through one hidden layer (``hidden`` 128 units + ReLU + dropout; 0: a linear
head), softmax outputs (single-label).

The body never learns: its parameters have ``requires_grad`` False (an optimizer given all the
module's parameters skips them, their gradients staying ``None``), and it stays in eval mode when the
module is put in train mode (:meth:`MusicnnGenre.train`), so its batch norms keep their running
statistics and its dropout is off: the head sees the same features in training and at test time.
The body stays differentiable with respect to its input, so gradient explainers (saliency, Grad-CAM,
...) explain *through* it: ``explainable_layers`` are the body's (``timbral``, ``temporal``,
``midend1..3``, ``features`` ...).

Front end: musicnn's own (16 kHz, 96 mels, ``log10(1 + 10000 x)``, 187-frame windows of 2.99 s), with
windows every 93 frames (half a window) rather than musicnn's 187 when predicting and explaining a
song, as the study's models overlap theirs by half: overlapping windows give smoother song-level maps.

Shipped weights (``weights/musicnn-genre-<split>.safetensors``) hold the whole state, the frozen body
included, so they load without the ``musicnn-msd`` file; building an untrained module reads the body
from ``weights/musicnn-msd.safetensors``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from specinterp import hookimpl
from specinterp.interfaces import ModelPlugin, SpecinterpError
from specinterp_plugins.models.musicnn import FRONTEND, MUSICNN_CONFIG, MusiCNN, _tuples
from specinterp_plugins.models.shipped import WEIGHTS_DIR

BODY = "musicnn-msd"  # the tagger whose body is reused


class MusicnnGenre(nn.Module):
    """Windows ``(N, 1, 96, frames)`` musicnn log-mel -> genre logits ``(N, classes)`` (softmax)."""

    capabilities = frozenset({"gradients"})
    multilabel = False

    def __init__(self, classes: int = 10, hidden: int = 0, dropout: float = 0.5,
                 body: Mapping[str, Any] | None = None) -> None:
        super().__init__()
        self.body = MusiCNN(**{k: _tuples(v) for k, v in {**MUSICNN_CONFIG, **(body or {})}.items()})
        self.body.requires_grad_(False)
        self.body.eval()
        features = self.body.dense.out_features  # 200: musicnn's penultimate
        layers: list[nn.Module] = [nn.Dropout(dropout)]
        if hidden:
            layers += [nn.Linear(features, hidden), nn.ReLU(), nn.Dropout(dropout)]
        layers.append(nn.Linear(hidden or features, classes))
        self.head = nn.Sequential(*layers)

    def train(self, mode: bool = True) -> MusicnnGenre:
        """Train mode for the head only: the frozen body stays in eval mode (running batch-norm
        statistics, no dropout)."""
        super().train(mode)
        self.body.eval()
        return self

    @property
    def explainable_layers(self) -> dict[str, nn.Module]:
        """The frozen body's layers (see :attr:`MusiCNN.explainable_layers`)."""
        return self.body.explainable_layers

    def penultimate(self, windows: torch.Tensor) -> torch.Tensor:
        """The frozen musicnn features ``(N, 200)`` the head reads."""
        return self.body.penultimate(windows)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return self.head(self.body.penultimate(windows))


def load_body(module: MusicnnGenre) -> MusicnnGenre:
    """Copy ``musicnn-msd``'s shipped weights into ``module.body`` (its 50-tag classifier included)."""
    from safetensors.torch import load_file

    path = WEIGHTS_DIR / f"{BODY}.safetensors"
    if not path.is_file():
        raise SpecinterpError(f"model 'musicnn-genre' needs the '{BODY}' weights ({path}) to build its body")
    module.body.load_state_dict(load_file(str(path)))
    return module


class MusicnnGenrePlugin(ModelPlugin):
    name = "musicnn-genre"
    description = "genre head on frozen musicnn-msd features (transfer, Pons & Serra 2019), softmax"
    default_variant = "random"  # trained on the most clips

    def default_config(self) -> dict[str, Any]:
        return {"classes": 10, "hidden": 128, "dropout": 0.5}  # chosen on the valid parts (docs/results.md)

    def default_frontend(self) -> dict[str, Any]:
        return {**FRONTEND, "window_hop": 93}  # half-window overlap: smoother song-level maps

    def build(self, config: Mapping[str, Any]) -> nn.Module:
        merged = {**self.default_config(), **{k: v for k, v in config.items() if k in self.default_config()}}
        module = MusicnnGenre(classes=int(merged["classes"]), hidden=int(merged["hidden"]),
                              dropout=float(merged["dropout"]))
        return load_body(module)

    def weights(self):
        prefix = f"{self.name}-"  # musicnn-genre-<split>: the split after the full name, not after its first dash
        return {p.stem[len(prefix):]: p for p in sorted(WEIGHTS_DIR.glob(f"{prefix}*.safetensors"))}


@hookimpl
def register_models(register) -> None:
    register(MusicnnGenrePlugin())
