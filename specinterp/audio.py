"""Decode any audio file to mono float32 at the analysis rate: exactly, or refused with one sentence.

soundfile (libsndfile: wav, flac, ogg/vorbis, opus, mp3, aiff, au, ...) is read in blocks into a
zero-initialised buffer, and only the frames each read reports are used (a short read from a damaged
MP3 never brings stale memory along); a short read ends the decode, as libsndfile reads short only at
the end of the stream or at an error (what a decoder might return after resyncing would leave a gap
in time). Each block is mixed to mono and resampled by a streaming
resampler (soxr), so a long file never exists as several full-length copies; :func:`stream` yields
the blocks, :func:`load` collects them.

Before anything is allocated, the header is checked against these bounds:

* sample rate within ``MIN_RATE``..``MAX_RATE`` (1 kHz..768 kHz: below, nothing musical is left and
  resampling to the analysis rate would multiply the length; above, no converter records);
* 1..``MAX_CHANNELS`` (64) channels;
* at most ``MAX_FRAMES_PER_BYTE`` frames per byte of file (16384: losslessly packed digital silence,
  the densest real case, stays below ~4000);
* at most ``max_seconds`` of audio, when given (the CLI's ``--max-duration``).

A decode that ends ``SHORTFALL_SECONDS`` (0.2 s) and ``SHORTFALL_FRACTION`` (1 %) short of the
header's length is refused, not merely reported: the header of a damaged file says how much audio
the file should hold, and explaining the part that survived as if it were the song would mislead
(codec padding accounts for a few milliseconds, far below the tolerance). Samples that are NaN,
infinite or beyond ``MAX_ABS_SAMPLE`` (8, +18 dB over full scale) are refused too.

Formats libsndfile does not read (.m4a, .aac, .wma, or an unrecognised file with a suffix libsndfile
does not claim) fall back to librosa (audioread / ffmpeg); any other libsndfile failure is reported
with libsndfile's own reason. The decoders' own messages are kept off stderr (:mod:`specinterp.quiet`).
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf

from specinterp.interfaces import SpecinterpError
from specinterp.quiet import quiet_stderr

SAMPLE_RATE = 22050
BLOCK_FRAMES = 1 << 18  # ~6 s at 44.1 kHz per block (fewer frames for more than two channels)
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au", ".snd",
                            ".m4a", ".aac", ".wma"})
LIBSNDFILE_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au", ".snd"})
FALLBACK_SUFFIXES = AUDIO_SUFFIXES - LIBSNDFILE_SUFFIXES  # librosa reads these (with ffmpeg installed)

MIN_RATE, MAX_RATE = 1_000, 768_000
MAX_CHANNELS = 64
MAX_FRAMES_PER_BYTE = 16_384
PREALLOC_SAMPLES_PER_BYTE = 64  # output sized from the header up to this per byte of file, then grown as decoded
MAX_ABS_SAMPLE = 8.0
SHORTFALL_SECONDS, SHORTFALL_FRACTION = 0.2, 0.01
_UNRECOGNISED_FORMAT = 1  # libsndfile's SF_ERR_UNRECOGNISED_FORMAT
_BAD_FILE = 7  # SFE_BAD_FILE: "not a regular file (possibly a pipe?)", also said of an MP3 with no valid frame


def load(path: str | Path, sample_rate: int = SAMPLE_RATE, max_seconds: float | None = None) -> np.ndarray:
    """The file as mono float32 at ``sample_rate``; a one-line :class:`SpecinterpError` naming it otherwise.

    Parameters
    ----------
    path : str or Path
        An audio file.
    sample_rate : int
        The rate to resample to.
    max_seconds : float or None
        Refuse a file longer than this (checked on the header, before decoding); None: no limit.
    """
    path = Path(path)
    try:
        capacity, blocks = _open(path, sample_rate, max_seconds)
        out = np.zeros(capacity, dtype=np.float32)
        filled = 0
        for block in blocks:
            if filled + len(block) > len(out):
                out = _grown(out, filled, filled + len(block))
            out[filled : filled + len(block)] = block
            filled += len(block)
        out.resize(filled, refcheck=False)  # in place: drops the unused tail without a copy
    except MemoryError:
        raise SpecinterpError(f"{path}: not enough memory to decode it") from None
    return out


def stream(path: str | Path, sample_rate: int = SAMPLE_RATE, max_seconds: float | None = None) -> Iterator[np.ndarray]:
    """The file as consecutive mono float32 blocks at ``sample_rate``, checked as :func:`load` checks it.

    A problem found before decoding is raised by the first ``next()``; a decode that ends short of
    the header's length is raised after the last block, so a consumer must finish the iteration
    before it trusts what it received.
    """
    path = Path(path)
    try:
        _, blocks = _open(path, sample_rate, max_seconds)
        yield from blocks
    except MemoryError:
        raise SpecinterpError(f"{path}: not enough memory to decode it") from None


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Mono float32 ``samples`` from ``from_rate`` to ``to_rate`` (soxr, the quality the loader uses)."""
    import soxr

    if from_rate <= 0 or to_rate <= 0:
        raise SpecinterpError(f"sample rates must be positive, got {from_rate} -> {to_rate}")
    if from_rate == to_rate:
        return np.ascontiguousarray(samples, dtype=np.float32)
    resampled = soxr.resample(np.asarray(samples, dtype=np.float32), from_rate, to_rate)
    return np.ascontiguousarray(resampled, dtype=np.float32)


def clock(seconds: float) -> str:
    """``18000`` -> ``"5:00:00"`` (hours are not wrapped into days)."""
    whole = int(round(seconds))
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def _open(path: Path, sample_rate: int, max_seconds: float | None) -> tuple[int, Iterator[np.ndarray]]:
    """(output samples to preallocate, block iterator); header problems are raised here, decode problems later."""
    size = _file_size(path)
    try:
        with quiet_stderr():
            f = sf.SoundFile(path)
    except sf.LibsndfileError as exc:
        suffix = path.suffix.lower()
        if suffix in LIBSNDFILE_SUFFIXES or (suffix not in FALLBACK_SUFFIXES and exc.code != _UNRECOGNISED_FORMAT):
            raise SpecinterpError(f"{path}: cannot decode audio (libsndfile: {_reason(exc)})") from None
        audio = _load_librosa(path, sample_rate, max_seconds)
        return len(audio), iter([audio])
    try:
        _check_header(path, f, size, max_seconds)
    except BaseException:
        f.close()
        raise
    expected = math.ceil(f.frames * sample_rate / f.samplerate) + 16
    return min(expected, size * PREALLOC_SAMPLES_PER_BYTE), _blocks(path, f, sample_rate)


def _file_size(path: Path) -> int:
    """The size in bytes of a readable, non-empty regular file."""
    if not path.exists():
        raise SpecinterpError(f"{path}: no such file")
    if path.is_dir():
        raise SpecinterpError(f"{path}: is a folder, not an audio file")
    if not path.is_file():
        raise SpecinterpError(f"{path}: not a regular file")
    try:
        with open(path, "rb"):
            size = path.stat().st_size
    except OSError as exc:
        raise SpecinterpError(f"{path}: cannot read it ({exc.strerror or type(exc).__name__})") from None
    if size == 0:
        raise SpecinterpError(f"{path}: empty file (0 bytes)")
    return size


def _check_header(path: Path, f: sf.SoundFile, size: int, max_seconds: float | None) -> None:
    """Refuse a header whose numbers are impossible, or whose length exceeds ``max_seconds``."""
    if not MIN_RATE <= f.samplerate <= MAX_RATE:
        raise SpecinterpError(f"{path}: the header says {f.samplerate} Hz, outside {MIN_RATE}..{MAX_RATE} Hz "
                              "(damaged file?)")
    if not 1 <= f.channels <= MAX_CHANNELS:
        raise SpecinterpError(f"{path}: the header says {f.channels} channels, outside 1..{MAX_CHANNELS} "
                              "(damaged file?)")
    if not 0 <= f.frames <= size * MAX_FRAMES_PER_BYTE:
        raise SpecinterpError(f"{path}: the header says {clock(f.frames / f.samplerate)} of audio, impossible "
                              f"in {_bytes(size)} (damaged file?)")
    seconds = f.frames / f.samplerate
    if max_seconds is not None and seconds > max_seconds:
        raise SpecinterpError(f"{path}: {clock(seconds)} long, more than --max-duration {clock(max_seconds)}")


def _blocks(path: Path, f: sf.SoundFile, sample_rate: int) -> Iterator[np.ndarray]:
    """Mono blocks at ``sample_rate``; checks values as they come and the decoded length at the end."""
    import soxr

    rate, frames = f.samplerate, f.frames
    resampler = None if rate == sample_rate else soxr.ResampleStream(rate, sample_rate, 1, dtype="float32")
    buffer = np.zeros((max(1024, BLOCK_FRAMES * 2 // max(2, f.channels)), f.channels), dtype=np.float32)
    decoded = 0
    with f:
        while True:
            try:
                with quiet_stderr():
                    block = f.read(len(buffer), dtype="float32", always_2d=True, out=buffer)
            except sf.LibsndfileError as exc:
                raise SpecinterpError(f"{path}: cannot decode audio (libsndfile: {_reason(exc)})") from None
            if len(block):
                decoded += len(block)
                _check_values(path, block)
                mono = block.mean(axis=1, dtype=np.float32)
                yield mono if resampler is None else resampler.resample_chunk(mono)
            if len(block) < len(buffer):  # libsndfile reads short only at the end of the stream or at an error
                break
    if decoded == 0:
        raise SpecinterpError(f"{path}: contains no audio samples")
    if resampler is not None:
        yield resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
    shortfall = frames - decoded
    if shortfall > max(SHORTFALL_SECONDS * rate, SHORTFALL_FRACTION * frames):
        raise SpecinterpError(f"{path}: decoded {decoded / rate:.1f} s but the header says {frames / rate:.1f} s "
                              "(damaged file?)")


def _check_values(path: Path, samples: np.ndarray) -> None:
    """Refuse NaN, infinite or absurdly large samples (a damaged float file or decoder)."""
    if not np.isfinite(samples).all():
        raise SpecinterpError(f"{path}: decoded audio contains NaN or infinite samples (damaged file?)")
    peak = float(np.abs(samples).max()) if samples.size else 0.0
    if peak > MAX_ABS_SAMPLE:
        raise SpecinterpError(f"{path}: decoded samples reach {peak:.3g}, far beyond full scale 1.0 "
                              "(damaged file, or integers stored as floats?)")


def _load_librosa(path: Path, sample_rate: int, max_seconds: float | None) -> np.ndarray:
    """A format libsndfile cannot open, through librosa (audioread: ffmpeg where installed)."""
    import warnings

    import librosa

    limit = None if max_seconds is None else max_seconds + 1.0
    try:
        with quiet_stderr(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            audio, _ = librosa.load(path, sr=sample_rate, mono=True, duration=limit)
    except MemoryError:
        raise
    except Exception as exc:
        hint = ""
        if path.suffix.lower() in FALLBACK_SUFFIXES and shutil.which("ffmpeg") is None:
            hint = f"; {path.suffix.lower()} needs ffmpeg, which is not installed"
        raise SpecinterpError(f"{path}: cannot decode audio (librosa: {_reason(exc)}){hint}") from None
    audio = np.ascontiguousarray(audio, dtype=np.float32).reshape(-1)
    if audio.size == 0:
        raise SpecinterpError(f"{path}: contains no audio samples")
    if max_seconds is not None and audio.size > max_seconds * sample_rate:
        raise SpecinterpError(f"{path}: longer than --max-duration {clock(max_seconds)}")
    _check_values(path, audio)
    return audio


def _grown(out: np.ndarray, filled: int, needed: int) -> np.ndarray:
    """A zero-initialised larger buffer holding ``out[:filled]``."""
    grown = np.zeros(max(needed, len(out) + len(out) // 2), dtype=np.float32)
    grown[:filled] = out[:filled]
    return grown


def _reason(exc: BaseException) -> str:
    """A library exception's message as one line without a final period (its type name when empty)."""
    if getattr(exc, "code", None) == _BAD_FILE:  # the file was checked to be a regular, readable one
        return "no valid audio stream found"
    text = getattr(exc, "error_string", None) or str(exc)
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[0].rstrip(".") if lines else type(exc).__name__


def _bytes(size: int) -> str:
    """``14336`` -> ``"14 KB"``."""
    if size < 10_000:
        return f"{size} bytes"
    return f"{size // 1000} KB" if size < 10_000_000 else f"{size // 1_000_000} MB"
