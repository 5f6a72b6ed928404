"""The musicnn taggers of Pons & Serra (2019), ported from their TensorFlow 1 checkpoints.

Four pre-trained music auto-taggers (50 tags each, multi-label: apply a sigmoid to the logits):

- ``musicnn-mtt`` / ``musicnn-msd``: the musically motivated CNN, trained on MagnaTagATune or the
  Million Song Dataset.
- ``vgg-mtt`` / ``vgg-msd``: a VGG-like baseline (five 3 x 3 conv blocks) on the same data.

Input windows are ``(N, 1, 96 mels, 187 frames)``, musicnn's own log-mel: 16 kHz, n_fft 512, hop 256,
96 Slaney mel bands, power, ``log10(1 + 10000 x)`` (no dB). Mels are on axis 2 and time on axis 3;
the TensorFlow models read ``(N, time, mels)``: ``scripts/convert_musicnn.py`` transposes every
kernel once so that nothing is transposed at run time. ``tests/test_musicnn_port.py`` checks the port
against taggrams recorded with the original TensorFlow graphs.

musicnn (TF layout -> ours):

1. batch norm of the spectrogram itself (one channel; TF's epsilon 0.001 throughout);
2. front end, five branches on the normalized input, each conv -> ReLU -> batch norm -> max over all
   frequency: *timbral* (204 filters of 7 frames x 38 and x 67 mel bands, the input zero-padded by 3
   frames each side, valid in frequency) and *temporal* (51 filters of 128, 64 and 32 frames x 1 mel
   band, TF 'same' padding: for an even kernel k it pads k/2 - 1 frames before and k/2 after);
   concatenated in that order -> 561 channels per frame;
3. mid end, three 1-D convs over time (64 filters, 7 frames, padded 3 + 3), conv -> ReLU -> batch
   norm, the 2nd and 3rd with a residual connection; the front end and the three outputs are
   concatenated (dense connection) -> 753 channels per frame;
4. back end: max and mean over time, interleaved per channel as TF's flatten lays them out
   (``[max_0, mean_0, max_1, mean_1, ...]``), batch norm, dropout 0.5, dense 200 + ReLU, batch norm
   (musicnn's "penultimate"), dropout 0.5, dense 50.

vgg: batch norm of the spectrogram; five blocks of conv 3 x 3 'same' (128 filters) -> ReLU -> batch
norm, each followed by max-pooling (TF 'valid'; the first two differ between the checkpoints, see
:class:`SpectrogramVGG`); dropout 0.25 after pools 1-4; flatten; dropout 0.5; dense 50. The pooled
grid is fixed by the window (187 frames -> 2 x 1 cells), so vgg takes 187-frame windows only.

Weights: musicnn 0.1.0 (PyPI), ISC license, see ``weights/LICENSE-musicnn.txt``.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from specinterp import hookimpl
from specinterp.interfaces import ModelPlugin
from specinterp_plugins.models.shipped import WEIGHTS_DIR

BN_EPS = 1e-3  # tf.layers.batch_normalization's default


def same_padding(width: int) -> tuple[int, int]:
    """TF 'same' padding for stride 1: ``(before, after)``, the odd frame after."""
    total = width - 1
    return total // 2, total - total // 2


def conv_relu_norm(in_channels: int, out_channels: int, kernel: tuple[int, int],
                   pad_time: tuple[int, int] = (0, 0), pad_freq: tuple[int, int] = (0, 0)) -> nn.Sequential:
    """[zero padding] -> conv ``kernel`` (mels, frames) -> ReLU -> batch norm, musicnn's block order."""
    layers: list[tuple[str, nn.Module]] = []
    if any(pad_time) or any(pad_freq):
        layers.append(("pad", nn.ZeroPad2d((*pad_time, *pad_freq))))
    layers += [
        ("conv", nn.Conv2d(in_channels, out_channels, kernel)),
        ("relu", nn.ReLU()),
        ("norm", nn.BatchNorm2d(out_channels, eps=BN_EPS)),
    ]
    return nn.Sequential(OrderedDict(layers))


class FrequencyPooledBranches(nn.Module):
    """Branches on the same input, each max-pooled over all of its frequency rows, concatenated on
    channels: ``(N, 1, mels, T) -> (N, sum C, 1, T)``. Each branch's own output keeps its rows."""

    def __init__(self, branches: list[nn.Module]) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([branch(x).amax(dim=2, keepdim=True) for branch in self.branches], dim=1)


class FrontEnd(nn.Module):
    """musicnn's front end: ``timbral`` then ``temporal`` maps, ``(N, 1, mels, T) -> (N, 561, 1, T)``."""

    def __init__(self, n_mels: int, timbral_filters: int, timbral_heights: tuple[int, ...], timbral_width: int,
                 temporal_filters: int, temporal_widths: tuple[int, ...]) -> None:
        super().__init__()
        pad = (timbral_width // 2, timbral_width // 2)  # musicnn pads time explicitly, 'valid' over mels
        self.timbral = FrequencyPooledBranches([
            conv_relu_norm(1, timbral_filters, (height, timbral_width), pad_time=pad) for height in timbral_heights
        ])
        self.temporal = FrequencyPooledBranches([
            conv_relu_norm(1, temporal_filters, (1, width), pad_time=same_padding(width)) for width in temporal_widths
        ])
        self.channels = timbral_filters * len(timbral_heights) + temporal_filters * len(temporal_widths)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.timbral(x), self.temporal(x)], dim=1)


class MidEndBlock(nn.Module):
    """A 1-D conv over time on ``(N, C, 1, T)`` maps, optionally residual: ``block(x) + x``."""

    def __init__(self, in_channels: int, out_channels: int, width: int, residual: bool) -> None:
        super().__init__()
        self.layers = conv_relu_norm(in_channels, out_channels, (1, width), pad_time=same_padding(width))
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.layers(x)
        return y + x if self.residual else y


class MidEnd(nn.Module):
    """Dense-connected mid end: ``cat([x, block1, block2, block3])`` on channels, ``(N, C, 1, T)``."""

    def __init__(self, in_channels: int, filters: int, width: int, layers: int) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            MidEndBlock(in_channels if i == 0 else filters, filters, width, residual=i > 0) for i in range(layers)
        )
        self.channels = in_channels + filters * layers

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = [x]
        for block in self.blocks:
            maps.append(block(maps[-1]))
        return torch.cat(maps, dim=1)


class MusiCNN(nn.Module):
    """Windows ``(N, 1, mels, T)`` musicnn log-mel -> tag logits ``(N, classes)`` (any T >= 1)."""

    capabilities = frozenset({"gradients"})
    multilabel = True  # 50 independent tags: sigmoid of the logits

    def __init__(self, classes: int = 50, n_mels: int = 96, timbral_filters: int = 204,
                 timbral_heights: tuple[int, ...] = (38, 67), timbral_width: int = 7, temporal_filters: int = 51,
                 temporal_widths: tuple[int, ...] = (128, 64, 32), midend_filters: int = 64, midend_width: int = 7,
                 midend_layers: int = 3, dense_units: int = 200, dropout: float = 0.5) -> None:
        super().__init__()
        if any(h > n_mels for h in timbral_heights):
            raise ValueError(f"timbral kernels {timbral_heights} are taller than {n_mels} mel bands")
        self.input_norm = nn.BatchNorm2d(1, eps=BN_EPS)
        self.front_end = FrontEnd(n_mels, timbral_filters, tuple(timbral_heights), timbral_width,
                                 temporal_filters, tuple(temporal_widths))
        self.midend = MidEnd(self.front_end.channels, midend_filters, midend_width, midend_layers)
        self.pooled_norm = nn.BatchNorm1d(2 * self.midend.channels, eps=BN_EPS)
        self.dropout = nn.Dropout(dropout)
        self.dense = nn.Linear(2 * self.midend.channels, dense_units)
        self.dense_relu = nn.ReLU()
        self.dense_norm = nn.BatchNorm1d(dense_units, eps=BN_EPS)
        self.classifier = nn.Linear(dense_units, classes)
        self.temporal_widths = tuple(temporal_widths)

    @property
    def explainable_layers(self) -> dict[str, nn.Module]:
        """Maps ``(N, C, h, T)`` on the window's time axis.

        ``timbral`` (408 channels), ``temporal`` (153), ``midend1..3`` (64 each, the 2nd and 3rd after
        their residual sum) and ``features`` (front end and mid end, 561 + 3 x 64 = 753: what the back
        end pools over time) have h = 1, since the front end pools over all frequency.
        ``temporal128``, ``temporal64`` and ``temporal32`` are the temporal branches before that
        pooling, h = 96: one row per mel band, their kernels being one band tall."""
        layers: dict[str, nn.Module] = {"timbral": self.front_end.timbral, "temporal": self.front_end.temporal}
        branches = zip(self.temporal_widths, self.front_end.temporal.branches, strict=True)
        layers.update({f"temporal{w}": branch for w, branch in branches})
        layers.update({f"midend{i + 1}": block for i, block in enumerate(self.midend.blocks)})
        layers["features"] = self.midend
        return layers

    def features(self, windows: torch.Tensor) -> torch.Tensor:
        """The dense-connected maps ``(N, 753, 1, T)`` that the back end pools over time."""
        return self.midend(self.front_end(self.input_norm(windows)))

    def _pooled(self, windows: torch.Tensor) -> torch.Tensor:
        maps = self.features(windows).flatten(1, 2)  # (N, C, T)
        # TF flattens (max, mean) per channel: [max_0, mean_0, max_1, mean_1, ...]
        return torch.stack([maps.amax(dim=2), maps.mean(dim=2)], dim=2).flatten(1)

    def penultimate(self, windows: torch.Tensor) -> torch.Tensor:
        """musicnn's ``penultimate`` features ``(N, 200)``: dense + ReLU + batch norm."""
        hidden = self.dense(self.dropout(self.pooled_norm(self._pooled(windows))))
        return self.dense_norm(self.dense_relu(hidden))

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dropout(self.penultimate(windows)))


class SpectrogramVGG(nn.Module):
    """musicnn's VGG baseline: windows ``(N, 1, mels, frames)`` -> tag logits ``(N, classes)``.

    ``pools`` gives each block's max-pooling ``(kernel, stride)`` as (mels, frames), TF 'valid'. The
    two checkpoints differ here: ``vgg-mtt`` pools as musicnn's models.py says (1 x 4 with stride
    2 x 2, then 2 x 2 three times, then 4 x 4), ``vgg-msd`` was trained with 1 x 4 / 1 x 4 and 4 x 1 /
    4 x 1 first (as its graph records), then the same 2 x 2, 2 x 2, 4 x 4.
    """

    capabilities = frozenset({"gradients"})
    multilabel = True  # 50 independent tags: sigmoid of the logits

    POOLS = (((1, 4), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((4, 4), (4, 4)))

    def __init__(self, classes: int = 50, n_mels: int = 96, frames: int = 187, filters: int = 128,
                 dropout: float = 0.25, dense_dropout: float = 0.5, pools=POOLS) -> None:
        super().__init__()
        pools = tuple((tuple(kernel), tuple(stride)) for kernel, stride in pools)
        self.input_norm = nn.BatchNorm2d(1, eps=BN_EPS)
        self.blocks = nn.ModuleList(
            conv_relu_norm(1 if i == 0 else filters, filters, (3, 3), pad_time=(1, 1), pad_freq=(1, 1))
            for i in range(len(pools))
        )
        self.pools = nn.ModuleList(nn.MaxPool2d(kernel, stride) for kernel, stride in pools)
        self.dropout = nn.Dropout(dropout)
        self.dense_dropout = nn.Dropout(dense_dropout)
        h, w = n_mels, frames
        for (kh, kw), (sh, sw) in pools:
            h, w = (h - kh) // sh + 1, (w - kw) // sw + 1
            if h < 1 or w < 1:
                raise ValueError(f"a {n_mels} x {frames} window is too small for the poolings {pools}")
        self.pooled_shape = (filters, h, w)
        self.classifier = nn.Linear(filters * h * w, classes)

    @property
    def explainable_layers(self) -> dict[str, nn.Module]:
        """``conv1``..``conv5``: each block's maps (conv, ReLU, batch norm) before its pooling, 128
        channels; (mels x frames) 96 x 187, 48 x 92, 24 x 46, 12 x 23, 6 x 11 for vgg-mtt and 96 x 187,
        96 x 46, 24 x 46, 12 x 23, 6 x 11 for vgg-msd; ``features`` is conv5. ('valid' pooling drops
        the last frames that do not fill a pooling cell, so deep grids cover slightly less than the
        window.)"""
        layers = {f"conv{i + 1}": block for i, block in enumerate(self.blocks)}
        layers["features"] = self.blocks[-1]
        return layers

    def penultimate(self, windows: torch.Tensor) -> torch.Tensor:
        """The flattened last pooling ``(N, 256)`` (musicnn's ``pool5``, channel-major here): what the
        output dense layer reads. The vgg has no hidden dense layer."""
        x = self.input_norm(windows)
        for i, (block, pool) in enumerate(zip(self.blocks, self.pools, strict=True)):
            x = pool(block(x))
            if i < len(self.blocks) - 1:
                x = self.dropout(x)
        return x.flatten(1)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.dense_dropout(self.penultimate(windows)))


# ---------------------------------------------------------------- plugins

MUSICNN_CONFIG: dict[str, Any] = {
    "classes": 50, "n_mels": 96, "timbral_filters": 204, "timbral_heights": [38, 67], "timbral_width": 7,
    "temporal_filters": 51, "temporal_widths": [128, 64, 32], "midend_filters": 64, "midend_width": 7,
    "midend_layers": 3, "dense_units": 200, "dropout": 0.5,
}
VGG_CONFIG: dict[str, Any] = {
    "classes": 50, "n_mels": 96, "frames": 187, "filters": 128, "dropout": 0.25, "dense_dropout": 0.5,
    "pools": [[list(kernel), list(stride)] for kernel, stride in SpectrogramVGG.POOLS],
}
FRONTEND: dict[str, Any] = {  # musicnn's extractor (librosa): see specinterp.frontend.FrontendConfig
    "sample_rate": 16000, "n_fft": 512, "hop_length": 256, "n_mels": 96, "f_min": 0.0, "f_max": 8000.0,
    "mel_scale": "slaney", "mel_norm": "slaney", "power": 2.0, "log": "log10p", "log_multiplier": 10000.0,
    "dtype": "float16", "window_frames": 187, "window_hop": 187, "last_window": "shift", "pad_mode": "constant",
}


def _tuples(value: Any) -> Any:
    """JSON lists as (nested) tuples."""
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


class _MusicnnFamily(ModelPlugin):
    """One shipped musicnn checkpoint: ``weights/<name>.safetensors`` with the variant its dataset."""

    architecture: type[nn.Module]
    base_config: dict[str, Any]
    dataset: str

    def default_config(self) -> dict[str, Any]:
        return dict(self.base_config)

    def default_frontend(self) -> dict[str, Any]:
        return dict(FRONTEND)

    def build(self, config: Mapping[str, Any]) -> nn.Module:
        merged = {**self.base_config, **{k: v for k, v in config.items() if k in self.base_config}}
        return self.architecture(**{k: _tuples(v) for k, v in merged.items()})

    def weights(self):
        path = WEIGHTS_DIR / f"{self.name}.safetensors"
        return {self.dataset: path} if path.is_file() else {}


class MusicnnMTT(_MusicnnFamily):
    name = "musicnn-mtt"
    description = "musicnn tagger (Pons & Serra 2019), 50 MagnaTagATune tags, multi-label"
    architecture, base_config, dataset = MusiCNN, MUSICNN_CONFIG, "mtt"


class MusicnnMSD(_MusicnnFamily):
    name = "musicnn-msd"
    description = "musicnn tagger (Pons & Serra 2019), 50 Million Song Dataset tags, multi-label"
    architecture, base_config, dataset = MusiCNN, MUSICNN_CONFIG, "msd"


class VggMTT(_MusicnnFamily):
    name = "vgg-mtt"
    description = "musicnn's VGG baseline tagger, 50 MagnaTagATune tags, multi-label"
    architecture, base_config, dataset = SpectrogramVGG, VGG_CONFIG, "mtt"


class VggMSD(_MusicnnFamily):
    name = "vgg-msd"
    description = "musicnn's VGG baseline tagger, 50 Million Song Dataset tags, multi-label"
    architecture, base_config, dataset = SpectrogramVGG, VGG_CONFIG, "msd"


@hookimpl
def register_models(register) -> None:
    for plugin in (MusicnnMSD, MusicnnMTT, VggMSD, VggMTT):
        register(plugin())
