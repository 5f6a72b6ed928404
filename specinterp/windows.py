"""A song's log-mel <-> fixed-size windows, and per-window maps stitched back into one map."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WINDOW_FRAMES = 128  # ~2.97 s at hop 512 / 22050 Hz


@dataclass(frozen=True)
class Windows:
    """``data`` (N, 1, n_mels, size); ``starts`` (N,) first frame of each; ``total`` song frames."""

    data: np.ndarray
    starts: np.ndarray
    total: int
    size: int


LAST_WINDOW = ("pad", "shift")


def window_starts(total: int, size: int = WINDOW_FRAMES, hop: int = WINDOW_FRAMES // 2, last: str = "pad") -> np.ndarray:
    """Start frames so that windows of ``size`` every ``hop`` cover all ``total`` frames.

    ``last="pad"``: the last window may run past the end (it is padded, not dropped). ``"shift"``: it
    is moved back to end at the last frame, so no window but that of a song shorter than ``size``
    holds padding (musicnn's taggers, which never saw padded patches).
    """
    if size <= 0 or hop <= 0:
        raise ValueError("window size and hop must be positive")
    if last not in LAST_WINDOW:
        raise ValueError(f"last window must be one of {', '.join(LAST_WINDOW)}, got {last!r}")
    if total <= size:
        return np.zeros(1, dtype=np.int64)
    count = int(np.ceil((total - size) / hop)) + 1
    starts = np.arange(count, dtype=np.int64) * hop
    if last == "shift":
        starts[-1] = total - size
    return starts


def split(spectrogram: np.ndarray, size: int = WINDOW_FRAMES, hop: int = WINDOW_FRAMES // 2,
          pad_value: float | None = None, last: str = "pad") -> Windows:
    """Cut ``(n_mels, T)`` into windows; a tail is padded with ``pad_value`` (default: the minimum),
    or with ``last="shift"`` the last window ends at the last frame (see :func:`window_starts`)."""
    n_mels, total = spectrogram.shape
    starts = window_starts(total, size, hop, last)
    fill = float(spectrogram.min()) if pad_value is None else pad_value
    needed = int(starts[-1]) + size
    padded = np.full((n_mels, max(needed, total)), fill, dtype=spectrogram.dtype)
    padded[:, :total] = spectrogram
    data = np.stack([padded[:, s : s + size] for s in starts])[:, None]
    return Windows(data=data, starts=starts, total=total, size=size)


def stitch(maps: np.ndarray, starts: np.ndarray, total: int) -> np.ndarray:
    """Per-window maps ``(N, n_mels, size)`` -> one ``(n_mels, total)`` map, overlaps averaged."""
    n, n_mels, size = maps.shape
    acc = np.zeros((n_mels, int(starts.max()) + size), dtype=np.float64)
    count = np.zeros(acc.shape[1], dtype=np.float64)
    for m, s in zip(maps, starts):
        acc[:, s : s + size] += m
        count[s : s + size] += 1
    return (acc[:, :total] / np.maximum(count[:total], 1)).astype(np.float32)


def normalize(song_map: np.ndarray) -> np.ndarray:
    """Scale a song-level map to [0, 1] by its own min and max (a constant map becomes zeros)."""
    lo, hi = float(song_map.min()), float(song_map.max())
    if hi - lo <= 1e-12:
        return np.zeros_like(song_map, dtype=np.float32)
    return ((song_map - lo) / (hi - lo)).astype(np.float32)


def normalize_together(maps: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Scale several song-level maps to [0, 1] by their joint min and max, keeping them comparable."""
    lo = min(float(m.min()) for m in maps.values())
    hi = max(float(m.max()) for m in maps.values())
    if hi - lo <= 1e-12:
        return {name: np.zeros_like(m, dtype=np.float32) for name, m in maps.items()}
    return {name: ((m - lo) / (hi - lo)).astype(np.float32) for name, m in maps.items()}
