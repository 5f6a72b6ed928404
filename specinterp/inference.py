"""Model outputs for whole songs: window scores and the song-level prediction."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from specinterp import windows as win
from specinterp.frontend import DEFAULT, FrontendConfig
from specinterp.interfaces import Prediction, SpecinterpError, is_multilabel


def window_outputs(module: nn.Module, data: np.ndarray | torch.Tensor, batch_size: int = 64,
                   multilabel: bool = False) -> np.ndarray:
    """Per window ``(N, C)`` for windows ``(N, 1, n_mels, frames)``: log-softmax, or with
    ``multilabel`` the sigmoid probabilities."""
    device = next(module.parameters()).device
    tensor = torch.as_tensor(data, dtype=torch.float32)
    out = []
    with torch.no_grad():
        for start in range(0, len(tensor), batch_size):
            logits = module(tensor[start : start + batch_size].to(device))
            out.append((torch.sigmoid(logits) if multilabel else torch.log_softmax(logits, dim=1)).cpu())
    return torch.cat(out).numpy()


def window_logprobs(module: nn.Module, data: np.ndarray | torch.Tensor, batch_size: int = 64) -> np.ndarray:
    """Log-softmax per window ``(N, C)`` for windows ``(N, 1, n_mels, frames)``."""
    return window_outputs(module, data, batch_size)


def song_probabilities(logprobs: np.ndarray) -> np.ndarray:
    """Softmax of the mean window log-probability: the song-level prediction."""
    mean = logprobs.mean(axis=0)
    p = np.exp(mean - mean.max())
    return p / p.sum()


def predict(module: nn.Module, spectrogram: np.ndarray, classes: tuple[str, ...], hop: int | None = None,
            config: FrontendConfig = DEFAULT) -> tuple[Prediction, win.Windows]:
    """Predict a whole song from its ``(n_mels, T)`` log-mel; also return the windows used.

    Windows are ``config.window_frames`` long every ``hop`` frames (default ``config.window_hop``).
    Single-label: softmax of the mean window log-probabilities. Multi-label (the module's
    ``multilabel``): mean of the window sigmoid probabilities.
    """
    windows = win.split(spectrogram, size=config.window_frames, hop=hop or config.window_hop, last=config.last_window)
    multilabel = is_multilabel(module)
    scores = window_outputs(module, windows.data, multilabel=multilabel)
    if scores.ndim != 2 or scores.shape[1] != len(classes):
        raise SpecinterpError(f"the model gives outputs of shape {tuple(scores.shape)} per batch of windows, "
                              f"expected (windows, {len(classes)}) for its {len(classes)} classes")
    prediction = Prediction(
        classes=classes,
        probabilities=scores.mean(axis=0) if multilabel else song_probabilities(scores),
        window_probabilities=scores if multilabel else np.exp(scores),
        window_starts=np.array([config.seconds(s) for s in windows.starts]),
        multilabel=multilabel,
    )
    return prediction, windows
