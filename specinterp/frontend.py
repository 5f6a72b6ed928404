"""The study's log-mel front end and its phase-preserving inverse. The only module that calls torchaudio.

Forward: 22050 Hz, n_fft 2048, hop 512, 128 mels (HTK-free Slaney-style filters as torchaudio
builds them, power spectrogram), in dB: ``10 log10(max(mel, 1e-10))``.

Inverse for listening: a mask on the mel grid ``(n_mels, T)`` is spread onto the STFT bins through
the same mel filterbank (each bin takes the filter-weighted mean of the mel values that cover it),
multiplied into the complex STFT of the original audio and inverted with that STFT's own phase.
An all-ones mask gives back the input up to float rounding (no Griffin-Lim).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torchaudio
from torch import nn

AMIN_DB = -100.0  # 10 log10(1e-10)


@dataclass(frozen=True)
class FrontendConfig:
    sample_rate: int = 22050
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128

    def seconds(self, frames: int | float) -> float:
        return frames * self.hop_length / self.sample_rate

    def frames(self, samples: int) -> int:
        """Number of STFT frames (centred) for ``samples`` samples."""
        return samples // self.hop_length + 1


DEFAULT = FrontendConfig()


class LogMel(nn.Module):
    """Waveform ``(..., samples)`` -> log-mel in dB ``(..., n_mels, frames)``."""

    def __init__(self, config: FrontendConfig = DEFAULT) -> None:
        super().__init__()
        self.config = config
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=config.sample_rate,
            n_fft=config.n_fft,
            hop_length=config.hop_length,
            n_mels=config.n_mels,
            power=2.0,
        )

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return 10.0 * torch.log10(self.mel(waveform).clamp_min(1e-10))


def log_mel(waveform: np.ndarray, config: FrontendConfig = DEFAULT) -> np.ndarray:
    """Convenience: numpy mono waveform -> ``(n_mels, frames)`` float32 dB."""
    with torch.no_grad():
        return LogMel(config)(torch.from_numpy(np.ascontiguousarray(waveform, dtype=np.float32))).numpy()


class MaskInverter(nn.Module):
    """Apply a mel-grid mask to a waveform's STFT and resynthesize with the original phase."""

    def __init__(self, config: FrontendConfig = DEFAULT) -> None:
        super().__init__()
        self.config = config
        self.stft = torchaudio.transforms.Spectrogram(n_fft=config.n_fft, hop_length=config.hop_length, power=None)
        self.istft = torchaudio.transforms.InverseSpectrogram(n_fft=config.n_fft, hop_length=config.hop_length)
        fbank = torchaudio.functional.melscale_fbanks(
            n_freqs=config.n_fft // 2 + 1,
            f_min=0.0,
            f_max=config.sample_rate / 2,
            n_mels=config.n_mels,
            sample_rate=config.sample_rate,
        )  # (n_freqs, n_mels)
        weight = fbank / fbank.sum(dim=1, keepdim=True).clamp_min(1e-12)
        uncovered = fbank.sum(dim=1) <= 1e-12  # bins no filter reaches (DC): use the nearest mel band
        centres = fbank.argmax(dim=0).float()
        bins = torch.arange(weight.shape[0]).float()
        for b in torch.nonzero(uncovered).flatten():
            weight[b] = 0.0
            weight[b, (centres - bins[b]).abs().argmin()] = 1.0
        self.register_buffer("bin_weight", weight)

    def stft_mask(self, mel_mask: torch.Tensor) -> torch.Tensor:
        """``(n_mels, T)`` -> ``(n_freqs, T)``: each STFT bin gets the weighted mean of its mel bands."""
        return self.bin_weight @ mel_mask

    def forward(self, waveform: torch.Tensor, mel_mask: torch.Tensor) -> torch.Tensor:
        spec = self.stft(waveform)  # (n_freqs, T) complex
        frames = spec.shape[-1]
        if mel_mask.shape[-1] != frames:
            raise ValueError(f"mask has {mel_mask.shape[-1]} frames, the audio has {frames}")
        masked = spec * self.stft_mask(mel_mask.to(spec.real.dtype))
        return self.istft(masked, length=waveform.shape[-1])


def apply_mask(waveform: np.ndarray, mel_mask: np.ndarray, config: FrontendConfig = DEFAULT,
               block_frames: int = 4096) -> np.ndarray:
    """Numpy convenience around :class:`MaskInverter`, in blocks of ``block_frames`` STFT frames.

    Each block is inverted with a margin of frames on both sides that covers the window's reach, and
    only its centre is kept, so the result equals inverting the whole song at once (up to rounding)
    while the complex STFT of a long song never exists in full.
    """
    inverter = MaskInverter(config)
    hop = config.hop_length
    margin = config.n_fft // hop + 1
    frames = mel_mask.shape[1]
    if frames != config.frames(len(waveform)):
        raise ValueError(f"mask has {frames} frames, the audio has {config.frames(len(waveform))}")
    out = np.empty(len(waveform), dtype=np.float32)
    with torch.no_grad():
        for start in range(0, frames, block_frames):
            stop = min(start + block_frames, frames)
            lo, hi = max(0, start - margin), min(frames, stop + margin)
            first, last = lo * hop, len(waveform) if hi == frames else (hi - 1) * hop + 1
            piece = torch.from_numpy(np.ascontiguousarray(waveform[first:last], dtype=np.float32))
            mask = torch.from_numpy(np.ascontiguousarray(mel_mask[:, lo:hi], dtype=np.float32))
            audio = inverter(piece, mask).numpy()
            keep_from, keep_to = start * hop, stop * hop if stop < frames else len(waveform)
            out[keep_from:keep_to] = audio[keep_from - first : keep_to - first]
    return out


def spectral_convergence(reference: np.ndarray, estimate: np.ndarray, config: FrontendConfig = DEFAULT) -> float:
    """``|| |S_ref| - |S_est| ||_F / || |S_ref| ||_F`` over STFT magnitudes."""
    stft = torchaudio.transforms.Spectrogram(n_fft=config.n_fft, hop_length=config.hop_length, power=1.0)
    ref = stft(torch.from_numpy(np.asarray(reference, dtype=np.float32)))
    est = stft(torch.from_numpy(np.asarray(estimate, dtype=np.float32)))
    return float(torch.linalg.norm(ref - est) / torch.linalg.norm(ref).clamp_min(1e-12))


def mel_band_hz(config: FrontendConfig = DEFAULT) -> np.ndarray:
    """Centre frequency (Hz) of each mel band, on the HTK mel scale torchaudio's filterbank uses."""
    top = 2595.0 * np.log10(1.0 + (config.sample_rate / 2) / 700.0)
    mels = np.linspace(0.0, top, config.n_mels + 2)[1:-1]
    return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
