"""Model outputs for whole songs: window log-probabilities and the song-level prediction."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from specinterp import windows as win
from specinterp.frontend import DEFAULT, FrontendConfig
from specinterp.interfaces import Prediction


def window_logprobs(module: nn.Module, data: np.ndarray | torch.Tensor, batch_size: int = 64) -> np.ndarray:
    """Log-softmax per window ``(N, C)`` for windows ``(N, 1, n_mels, frames)``."""
    device = next(module.parameters()).device
    tensor = torch.as_tensor(data, dtype=torch.float32)
    out = []
    with torch.no_grad():
        for start in range(0, len(tensor), batch_size):
            out.append(torch.log_softmax(module(tensor[start : start + batch_size].to(device)), dim=1).cpu())
    return torch.cat(out).numpy()


def song_probabilities(logprobs: np.ndarray) -> np.ndarray:
    """Softmax of the mean window log-probability: the song-level prediction."""
    mean = logprobs.mean(axis=0)
    p = np.exp(mean - mean.max())
    return p / p.sum()


def predict(module: nn.Module, spectrogram: np.ndarray, classes: tuple[str, ...], hop: int = win.WINDOW_FRAMES // 2,
            config: FrontendConfig = DEFAULT) -> tuple[Prediction, win.Windows]:
    """Predict a whole song from its ``(n_mels, T)`` log-mel; also return the windows used."""
    windows = win.split(spectrogram, hop=hop)
    logprobs = window_logprobs(module, windows.data)
    prediction = Prediction(
        classes=classes,
        probabilities=song_probabilities(logprobs),
        window_probabilities=np.exp(logprobs),
        window_starts=np.array([config.seconds(s) for s in windows.starts]),
    )
    return prediction, windows
