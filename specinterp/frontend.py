"""Log-mel front ends and their phase-preserving inverse. The only module that calls torchaudio.

A :class:`FrontendConfig` describes one model's input: sample rate, STFT, mel filterbank, magnitude
power, the log, an optional float16 rounding, and the window the model sees. The study's models use
the defaults: 22050 Hz, n_fft 2048, hop 512, 128 mels on torchaudio's default mel scale (HTK, filters
without area normalization), power spectrogram, in dB: ``10 log10(max(mel, 1e-10))``, 128-frame
windows. musicnn's taggers use librosa's defaults instead (Slaney scale and norm) at 16 kHz, with
``log10(10000 x + 1)`` of the power rounded to float16.

Inverse for listening: a mask on the mel grid ``(n_mels, T)`` is spread onto the STFT bins through
the same mel filterbank (each bin takes the filter-weighted mean of the mel values that cover it),
multiplied into the complex STFT of the original audio and inverted with that STFT's own phase.
An all-ones mask gives back the input up to float rounding (no Griffin-Lim).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np
import torch
import torchaudio
from torch import nn

from specinterp.interfaces import SpecinterpError

AMIN_DB = -100.0  # 10 log10(1e-10)
LOGS = ("db", "log10p", "ln")
MEL_SCALES = ("htk", "slaney")
MEL_NORMS = (None, "slaney")
DTYPES = (None, "float16")
PAD_MODES = ("reflect", "constant")
LAST_WINDOWS = ("pad", "shift")


@dataclass(frozen=True)
class FrontendConfig:
    """A model's input: waveform -> log-mel -> windows.

    Parameters
    ----------
    sample_rate : int > 0 [Hz], default 22050
        Audio is resampled to this rate before anything else.
    n_fft : int > 0, default 2048
        STFT size (Hann window of the same length, centred frames).
    hop_length : int > 0, default 512
        Samples between STFT frames.
    n_mels : int > 0, default 128
        Mel bands.
    f_min, f_max : float [Hz], defaults 0 and None (Nyquist)
        Range of the mel filterbank.
    mel_scale : "htk" or "slaney", default "htk"
        As torchaudio and librosa name them (torchaudio's default is HTK, librosa's Slaney).
    mel_norm : None or "slaney", default None
        ``"slaney"`` divides each triangle by its width (area normalization, librosa's default).
    power : float > 0, default 2.0
        Exponent of the STFT magnitude (2: power, 1: magnitude).
    log : "db", "log10p" or "ln", default "db"
        ``db``: ``10 log10(max(x, amin))``; ``log10p``: ``log10(log_multiplier * x + 1)``;
        ``ln``: ``log(x + log_offset)``.
    amin, log_multiplier, log_offset : float > 0
        The constants of the three logs (defaults 1e-10, 1.0, 1e-6).
    dtype : None or "float16", default None
        ``float16`` rounds the mel values to half precision before the log (musicnn's extractor does
        this; the log's product is then taken in float32, avoiding its float16 overflow).
    window_frames : int > 0, default 128
        Frames per window the model sees (~2.97 s at the defaults).
    window_hop : int > 0, default 64
        Default hop between windows, in frames.
    last_window : "pad" or "shift", default "pad"
        ``pad``: the last window runs past the song's end, padded with its minimum (the study's);
        ``shift``: it is moved back to end at the song's last frame, so the model never sees padding.
    pad_mode : "reflect" or "constant", default "reflect"
        How the STFT pads the signal's ends (torchaudio's default; librosa >= 0.10 uses constant).
    """

    sample_rate: int = 22050
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    f_min: float = 0.0
    f_max: float | None = None
    mel_scale: str = "htk"
    mel_norm: str | None = None
    power: float = 2.0
    log: str = "db"
    amin: float = 1e-10
    log_multiplier: float = 1.0
    log_offset: float = 1e-6
    dtype: str | None = None
    window_frames: int = 128
    window_hop: int = 64
    last_window: str = "pad"
    pad_mode: str = "reflect"

    def __post_init__(self) -> None:
        for name in ("sample_rate", "n_fft", "hop_length", "n_mels", "window_frames", "window_hop"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise SpecinterpError(f"front end: {name} must be a positive integer, got {value!r}")
        optional = ("f_max",) if self.f_max is not None else ()
        for name in ("f_min", "power", "amin", "log_multiplier", "log_offset", *optional):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value < 0:
                raise SpecinterpError(f"front end: {name} must be a non-negative number, got {value!r}")
        for name, allowed in (("log", LOGS), ("mel_scale", MEL_SCALES), ("mel_norm", MEL_NORMS), ("dtype", DTYPES),
                              ("pad_mode", PAD_MODES), ("last_window", LAST_WINDOWS)):
            if getattr(self, name) not in allowed:
                raise SpecinterpError(f"front end: {name} must be one of {', '.join(map(str, allowed))}, "
                                      f"got {getattr(self, name)!r}")
        if self.top_hz <= self.f_min or self.top_hz > self.sample_rate / 2:
            raise SpecinterpError(f"front end: need f_min < f_max <= sample_rate / 2, got {self.f_min}..{self.top_hz}")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> FrontendConfig:
        """A config from JSON fields (the rest default); a one-line error for unknown or bad fields."""
        if not isinstance(values, Mapping):
            raise SpecinterpError(f"front end: expected an object of fields, got {type(values).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise SpecinterpError(f"front end: unknown field {', '.join(unknown)} (fields: {', '.join(sorted(known))})")
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def top_hz(self) -> float:
        """The filterbank's upper edge: ``f_max``, or Nyquist rounded down to a whole Hz as torchaudio's
        ``MelSpectrogram`` takes it (so the inverse's filterbank is the forward one)."""
        return float(self.sample_rate // 2 if self.f_max is None else self.f_max)

    def seconds(self, frames: int | float) -> float:
        return frames * self.hop_length / self.sample_rate

    def frames(self, samples: int) -> int:
        """Number of STFT frames (centred) for ``samples`` samples."""
        return samples // self.hop_length + 1


DEFAULT = FrontendConfig()


class LogMel(nn.Module):
    """Waveform ``(..., samples)`` -> log-mel ``(..., n_mels, frames)`` as ``config`` describes it."""

    def __init__(self, config: FrontendConfig = DEFAULT) -> None:
        super().__init__()
        self.config = config
        self.mel = torchaudio.transforms.MelSpectrogram(
            sample_rate=config.sample_rate,
            n_fft=config.n_fft,
            hop_length=config.hop_length,
            f_min=config.f_min,
            f_max=config.f_max,
            n_mels=config.n_mels,
            power=config.power,
            norm=config.mel_norm,
            mel_scale=config.mel_scale,
            pad_mode=config.pad_mode,
        )

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        mel = self.mel(waveform)
        if self.config.dtype == "float16":
            mel = mel.to(torch.float16).to(mel.dtype)
        if self.config.log == "db":
            return 10.0 * torch.log10(mel.clamp_min(self.config.amin))
        if self.config.log == "log10p":
            return torch.log10(self.config.log_multiplier * mel + 1.0)
        return torch.log(mel + self.config.log_offset)


INVERSION_BLOCK_FRAMES = 1024  # about 24 s at hop 512: the STFT, mask and output of one block stay near 60 MB


def block_ranges(frames: int, block_frames: int, margin: int, hop: int, samples: int):
    """For blocks of ``block_frames`` STFT frames: ``(start, stop, lo, first_sample, last_sample)``, where
    frames ``lo ..`` are computed from ``samples[first_sample:last_sample]`` (``margin`` frames of
    context each side, the signal's own ends where they are reached) and ``start .. stop - 1`` kept."""
    for start in range(0, frames, block_frames):
        stop = min(start + block_frames, frames)
        lo, hi = max(0, start - margin), min(frames, stop + margin)
        yield start, stop, lo, lo * hop, samples if hi == frames else (hi - 1) * hop + 1


def log_mel(waveform: np.ndarray, config: FrontendConfig = DEFAULT, block_frames: int = 4096) -> np.ndarray:
    """Mono samples (an array, or anything that slices like one) -> ``(n_mels, frames)`` float32, in
    blocks of ``block_frames`` frames.

    Each block is transformed with enough samples of context on both sides that its frames equal
    those of the whole-song transform, so the complex STFT of a long song never exists in full
    (a song of at most ``block_frames`` frames is transformed at once).
    """
    transform = log_mel_transform(config)
    frames = config.frames(len(waveform))
    with torch.no_grad():
        if frames <= block_frames:
            return transform(torch.from_numpy(np.ascontiguousarray(waveform[:], dtype=np.float32))).numpy()
        out = np.empty((config.n_mels, frames), dtype=np.float32)
        margin = config.n_fft // config.hop_length + 1
        ranges = block_ranges(frames, block_frames, margin, config.hop_length, len(waveform))
        for start, stop, lo, first, last in ranges:
            block = transform(torch.from_numpy(np.ascontiguousarray(waveform[first:last], dtype=np.float32))).numpy()
            out[:, start:stop] = block[:, start - lo : stop - lo]
        return out


@functools.lru_cache(maxsize=8)
def log_mel_transform(config: FrontendConfig = DEFAULT) -> LogMel:
    """The :class:`LogMel` of ``config``, made once per front end (its filterbank is the costly part)."""
    return LogMel(config)


def filterbank(config: FrontendConfig = DEFAULT) -> torch.Tensor:
    """The mel filterbank ``(n_fft // 2 + 1, n_mels)`` of the forward transform itself, so the inverse
    and the level reference use exactly the filters the log-mel was made with (a copy)."""
    return log_mel_transform(config).mel.mel_scale.fb.clone()


class MaskInverter(nn.Module):
    """Apply a mel-grid mask to a waveform's STFT and resynthesize with the original phase."""

    def __init__(self, config: FrontendConfig = DEFAULT) -> None:
        super().__init__()
        self.config = config
        self.stft = torchaudio.transforms.Spectrogram(n_fft=config.n_fft, hop_length=config.hop_length, power=None)
        self.istft = torchaudio.transforms.InverseSpectrogram(n_fft=config.n_fft, hop_length=config.hop_length)
        fbank = filterbank(config)  # (n_freqs, n_mels)
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


@functools.lru_cache(maxsize=8)
def mask_inverter(config: FrontendConfig = DEFAULT) -> MaskInverter:
    """The :class:`MaskInverter` of ``config``, made once per front end."""
    return MaskInverter(config)


def masked_blocks(waveform: np.ndarray, mel_mask: np.ndarray, config: FrontendConfig = DEFAULT,
                  block_frames: int = INVERSION_BLOCK_FRAMES) -> Iterator[np.ndarray]:
    """The masked waveform, in consecutive pieces of ``block_frames`` STFT frames (float32).

    Each block is inverted with a margin of frames on both sides that covers the window's reach, and
    only its centre is kept, so the pieces joined equal inverting the whole song at once (up to
    rounding) while neither the complex STFT nor the output of a long song need exist in full.
    """
    inverter = mask_inverter(config)
    hop = config.hop_length
    margin = config.n_fft // hop + 1
    frames = mel_mask.shape[1]
    if frames != config.frames(len(waveform)):
        raise ValueError(f"mask has {frames} frames, the audio has {config.frames(len(waveform))}")
    with torch.no_grad():
        for start, stop, lo, first, last in block_ranges(frames, block_frames, margin, hop, len(waveform)):
            hi = min(frames, stop + margin)
            piece = torch.from_numpy(np.ascontiguousarray(waveform[first:last], dtype=np.float32))
            mask = torch.from_numpy(np.ascontiguousarray(mel_mask[:, lo:hi], dtype=np.float32))
            audio = inverter(piece, mask).numpy()
            keep_from, keep_to = start * hop, stop * hop if stop < frames else len(waveform)
            yield audio[keep_from - first : keep_to - first]


def apply_mask(waveform: np.ndarray, mel_mask: np.ndarray, config: FrontendConfig = DEFAULT,
               block_frames: int = INVERSION_BLOCK_FRAMES) -> np.ndarray:
    """The whole masked waveform (see :func:`masked_blocks`), same length as ``waveform``."""
    return np.concatenate(list(masked_blocks(waveform, mel_mask, config, block_frames)))


def spectral_convergence(reference: np.ndarray, estimate: np.ndarray, config: FrontendConfig = DEFAULT) -> float:
    """``|| |S_ref| - |S_est| ||_F / || |S_ref| ||_F`` over STFT magnitudes."""
    stft = torchaudio.transforms.Spectrogram(n_fft=config.n_fft, hop_length=config.hop_length, power=1.0)
    ref = stft(torch.from_numpy(np.asarray(reference, dtype=np.float32)))
    est = stft(torch.from_numpy(np.asarray(estimate, dtype=np.float32)))
    return float(torch.linalg.norm(ref - est) / torch.linalg.norm(ref).clamp_min(1e-12))


def hz_to_mel(hz: np.ndarray | float, scale: str = "htk") -> np.ndarray:
    """Hz -> mel on the HTK scale (``2595 log10(1 + f / 700)``) or Slaney's (linear to 1 kHz, then log)."""
    hz = np.asarray(hz, dtype=np.float64)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + hz / 700.0)
    linear = hz / (200.0 / 3)
    log_part = 15.0 + np.log(np.maximum(hz, 1e-12) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log_part, linear)


def mel_to_hz(mels: np.ndarray | float, scale: str = "htk") -> np.ndarray:
    """The inverse of :func:`hz_to_mel`."""
    mels = np.asarray(mels, dtype=np.float64)
    if scale == "htk":
        return 700.0 * (10.0 ** (mels / 2595.0) - 1.0)
    return np.where(mels >= 15.0, 1000.0 * np.exp((np.log(6.4) / 27.0) * (mels - 15.0)), (200.0 / 3) * mels)


def mel_band_hz(config: FrontendConfig = DEFAULT) -> np.ndarray:
    """Centre frequency (Hz) of each mel band ``(n_mels,)`` on the config's mel scale and range."""
    low, high = hz_to_mel(config.f_min, config.mel_scale), hz_to_mel(config.top_hz, config.mel_scale)
    return mel_to_hz(np.linspace(low, high, config.n_mels + 2)[1:-1], config.mel_scale)
