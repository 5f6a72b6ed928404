"""Decode any audio file to mono float32 at the analysis rate.

soundfile (libsndfile: wav, flac, ogg/vorbis, opus, mp3, aiff, au, ...) is read in blocks, each
block mixed to mono and resampled by a streaming resampler (soxr) into one preallocated array, so a
long file never exists as several full-length copies. Formats libsndfile cannot open fall back to
librosa (audioread / ffmpeg).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from specinterp.interfaces import SpecinterpError

SAMPLE_RATE = 22050
BLOCK_FRAMES = 1 << 18  # ~6 s at 44.1 kHz per block
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au", ".snd",
                            ".m4a", ".aac", ".wma"})


def load(path: str | Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Return the file as mono float32 at ``sample_rate``; raise a one-line error naming the file."""
    path = Path(path)
    if not path.is_file():
        raise SpecinterpError(f"{path}: no such file")
    try:
        audio = _load_soundfile(path, sample_rate)
    except sf.LibsndfileError:
        audio = _load_librosa(path, sample_rate)
    if audio.size == 0:
        raise SpecinterpError(f"{path}: contains no audio samples")
    if not np.isfinite(audio).all():
        raise SpecinterpError(f"{path}: decoded audio contains NaN or infinite samples")
    return audio


def _load_soundfile(path: Path, sample_rate: int) -> np.ndarray:
    import soxr

    with sf.SoundFile(path) as f:
        rate = f.samplerate
        resampler = None if rate == sample_rate else soxr.ResampleStream(rate, sample_rate, 1, dtype="float32")
        expected = int(np.ceil(f.frames * sample_rate / rate)) + 16 if f.frames > 0 else 0
        out = np.empty(expected, dtype=np.float32)
        filled = 0
        blocks = f.blocks(blocksize=BLOCK_FRAMES, dtype="float32", always_2d=True)
        for i, block in enumerate(blocks):
            mono = block.mean(axis=1, dtype=np.float32)
            if resampler is not None:
                last = f.tell() >= f.frames
                mono = resampler.resample_chunk(mono, last=last)
            if filled + len(mono) > len(out):
                out = np.resize(out, max(2 * len(out), filled + len(mono)))
            out[filled : filled + len(mono)] = mono
            filled += len(mono)
    return out[:filled]


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Mono float32 ``samples`` from ``from_rate`` to ``to_rate`` (soxr, the quality the loader uses)."""
    import soxr

    if from_rate <= 0 or to_rate <= 0:
        raise SpecinterpError(f"sample rates must be positive, got {from_rate} -> {to_rate}")
    if from_rate == to_rate:
        return np.ascontiguousarray(samples, dtype=np.float32)
    return np.ascontiguousarray(soxr.resample(np.asarray(samples, dtype=np.float32), from_rate, to_rate), dtype=np.float32)


def _load_librosa(path: Path, sample_rate: int) -> np.ndarray:
    import warnings

    import librosa

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            audio, _ = librosa.load(path, sr=sample_rate, mono=True)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SpecinterpError(f"{path}: cannot decode audio ({reason})") from None
    return np.ascontiguousarray(audio, dtype=np.float32)


def duration(path: str | Path) -> float:
    """Duration in seconds, read from the header where possible."""
    try:
        return sf.info(str(path)).duration
    except sf.LibsndfileError:
        return len(load(path)) / SAMPLE_RATE
