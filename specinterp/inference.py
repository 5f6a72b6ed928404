"""Model outputs for whole songs: window scores, the song-level prediction, and its sanity checks.

Outputs that are NaN or infinite are refused with a sentence naming the model. A song that is silent
or nearly so still gets a prediction, with a warning beside it (:func:`silence_warning`).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from specinterp import windows as win
from specinterp.frontend import DEFAULT, FrontendConfig, filterbank
from specinterp.interfaces import Prediction, SpecinterpError, is_multilabel

NEAR_SILENT_DBFS = -80.0  # a song whose loudest mel band stays below this is "nearly silent"


def model_name(module: nn.Module) -> str:
    """The name messages use: the plugin's (set by :func:`specinterp.weights.resolve`), else the class's."""
    return getattr(module, "model_name", None) or type(module).__name__


PREDICT_BATCH = 16  # windows per forward pass: a batch's activations stay in cache (64 was 1.5-2x slower on CPU)


def window_outputs(module: nn.Module, data: np.ndarray | torch.Tensor | win.Windows, batch_size: int = PREDICT_BATCH,
                   multilabel: bool = False) -> np.ndarray:
    """Per window ``(N, C)`` for windows ``(N, 1, n_mels, frames)``: log-softmax, or with
    ``multilabel`` the sigmoid probabilities. :class:`~specinterp.windows.Windows` are cut one batch
    at a time and passed channels-last (as loaded models hold their weights, see
    :func:`specinterp.weights.resolve`). NaN or infinite logits raise :class:`SpecinterpError`."""
    device = next(module.parameters()).device
    out = []
    with torch.inference_mode():
        for start in range(0, len(data), batch_size):
            batch = torch.as_tensor(data[start : start + batch_size], dtype=torch.float32).to(device)
            logits = module(batch.contiguous(memory_format=torch.channels_last) if batch.dim() == 4 else batch)
            if not bool(torch.isfinite(logits).all()):
                raise SpecinterpError(f"model '{model_name(module)}' gave NaN or infinite outputs for this input")
            out.append((torch.sigmoid(logits) if multilabel else torch.log_softmax(logits, dim=1)).cpu())
    return torch.cat(out).numpy()


def window_logprobs(module: nn.Module, data: np.ndarray | torch.Tensor | win.Windows,
                    batch_size: int = PREDICT_BATCH) -> np.ndarray:
    """Log-softmax per window ``(N, C)`` for windows ``(N, 1, n_mels, frames)``."""
    return window_outputs(module, data, batch_size)


def song_probabilities(logprobs: np.ndarray) -> np.ndarray:
    """Softmax of the mean window log-probability: the song-level prediction."""
    mean = logprobs.mean(axis=0)
    p = np.exp(mean - mean.max())
    return p / p.sum()


def peak_dbfs(peak: float, config: FrontendConfig = DEFAULT) -> float:
    """The loudest log-mel value ``peak`` as dB relative to a full-scale sine; ``-inf`` at the log's floor.

    The log is undone to get mel power (``db``: ``10^(x/10)``, floored at ``amin``; ``log10p``:
    ``(10^x - 1) / log_multiplier``; ``ln``: ``e^x - log_offset``) and compared with the power a sine
    of amplitude 1 gives at the centre of the strongest mel filter: ``(n_fft / 4)^power`` times that
    filter's peak weight (a Hann window's gain is ``n_fft / 2``, half of it in each of the two
    frequencies +-f). Within a few dB for tones; broadband noise spreads over bands and reads lower.
    """
    if config.log == "db":
        power = 10.0 ** (peak / 10.0) if peak > 10.0 * math.log10(config.amin) + 1e-4 else 0.0
    elif config.log == "log10p":
        power = math.expm1(peak * math.log(10.0)) / config.log_multiplier
    else:
        power = math.exp(peak) - config.log_offset
    if power <= 0.0:
        return -math.inf
    reference = float(filterbank(config).max()) * (config.n_fft / 4.0) ** config.power
    return 10.0 * (2.0 / config.power) * math.log10(power / reference)


def silence_warning(peak: float, config: FrontendConfig = DEFAULT) -> str:
    """A warning for a song whose loudest log-mel value is ``peak``, or ``''``.

    Silent: the peak sits at the front end's floor (every band at ``amin`` for ``db``, at 0 for
    ``log10p``: digital silence, or a level float16 rounding flushes to zero). Nearly silent: the
    peak is below :data:`NEAR_SILENT_DBFS` dB re a full-scale sine (:func:`peak_dbfs`), quieter than
    a 16-bit file's last bits. Either way the model sees no music and its prediction means nothing.
    """
    level = peak_dbfs(peak, config)
    if level == -math.inf:
        return "the input is silent: this prediction means nothing"
    if level < NEAR_SILENT_DBFS:
        return f"the input is nearly silent (peak {level:.0f} dBFS): this prediction means little"
    return ""


def predict(module: nn.Module, spectrogram: np.ndarray, classes: tuple[str, ...], hop: int | None = None,
            config: FrontendConfig = DEFAULT) -> tuple[Prediction, win.Windows]:
    """Predict a whole song from its ``(n_mels, T)`` log-mel; also return the windows used.

    Windows are ``config.window_frames`` long every ``hop`` frames (default ``config.window_hop``).
    Single-label: softmax of the mean window log-probabilities. Multi-label (the module's
    ``multilabel``): mean of the window sigmoid probabilities. A log-mel with NaN or infinite values
    (samples far out of range) and NaN or infinite model outputs raise :class:`SpecinterpError`; a
    silent or nearly silent song gets :attr:`Prediction.warning`.
    """
    peak, low = float(spectrogram.max()), float(spectrogram.min())  # NaN propagates into both
    if not (np.isfinite(peak) and np.isfinite(low)):
        raise SpecinterpError("the audio gives NaN or infinite spectrogram values (samples out of range?)")
    windows = win.split(spectrogram, size=config.window_frames, hop=hop or config.window_hop, last=config.last_window)
    multilabel = is_multilabel(module)
    scores = window_outputs(module, windows, multilabel=multilabel)
    if scores.ndim != 2 or scores.shape[1] != len(classes):
        raise SpecinterpError(f"the model gives outputs of shape {tuple(scores.shape)} per batch of windows, "
                              f"expected (windows, {len(classes)}) for its {len(classes)} classes")
    prediction = Prediction(
        classes=classes,
        probabilities=scores.mean(axis=0) if multilabel else song_probabilities(scores),
        window_probabilities=scores if multilabel else np.exp(scores),
        window_starts=np.array([config.seconds(s) for s in windows.starts]),
        multilabel=multilabel,
        warning=silence_warning(peak, config),
    )
    return prediction, windows
