"""A song's log-mel <-> fixed-size windows, and per-window maps stitched back into one map.

Windows are cut on demand, a batch at a time (``windows[i:j]``), and maps are added into one
song-length map as they come (:class:`Stitcher`), so a long song never exists as all of its
overlapping windows, nor as all of its per-window maps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

WINDOW_FRAMES = 128  # ~2.97 s at hop 512 / 22050 Hz


@dataclass(frozen=True)
class Windows:
    """The windows of one spectrogram ``(n_mels, total)``: ``starts`` (N,) first frame of each, ``size``
    frames each; frames past the end read as ``pad_value``.

    ``windows[i:j]`` cuts windows i..j-1 as ``(j - i, 1, n_mels, size)``; ``data`` cuts them all.
    """

    spectrogram: np.ndarray
    starts: np.ndarray
    total: int
    size: int
    pad_value: float

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, index: slice) -> np.ndarray:
        chosen = self.starts[index]
        n_mels = self.spectrogram.shape[0]
        out = np.empty((len(chosen), 1, n_mels, self.size), dtype=self.spectrogram.dtype)
        for row, start in enumerate(chosen):
            stop = min(int(start) + self.size, self.total)
            out[row, 0, :, : stop - start] = self.spectrogram[:, start:stop]
            out[row, 0, :, stop - start :] = self.pad_value
        return out

    @property
    def data(self) -> np.ndarray:
        """All windows ``(N, 1, n_mels, size)`` (short songs, tests; long songs use slices)."""
        return self[:]


LAST_WINDOW = ("pad", "shift")


def window_starts(total: int, size: int = WINDOW_FRAMES, hop: int = WINDOW_FRAMES // 2,
                  last: str = "pad") -> np.ndarray:
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
    """Windows of ``(n_mels, T)``; a tail is padded with ``pad_value`` (default: the minimum), or with
    ``last="shift"`` the last window ends at the last frame (see :func:`window_starts`)."""
    total = spectrogram.shape[1]
    fill = float(spectrogram.min()) if pad_value is None else pad_value
    return Windows(spectrogram, window_starts(total, size, hop, last), total, size, fill)


class Stitcher:
    """Per-window maps added batch by batch into one ``(n_mels, total)`` map, overlaps averaged.

    Sums are kept in float64 only over the frames that windows still to come may reach (windows
    arrive in order of their start); finished frames are averaged into the float32 result at once.
    """

    def __init__(self, n_mels: int, total: int) -> None:
        self.total = total
        self.out = np.zeros((n_mels, total), dtype=np.float32)
        self.base = 0  # first frame of the float64 buffers
        self.sum = np.zeros((n_mels, 0), dtype=np.float64)
        self.count = np.zeros(0, dtype=np.int64)

    def _flush(self, upto: int) -> None:
        """Average frames ``base .. upto - 1`` into the result and drop them from the buffers."""
        done = upto - self.base
        if done > 0:
            self.out[:, self.base : upto] = self.sum[:, :done] / np.maximum(self.count[:done], 1)
            self.sum, self.count, self.base = self.sum[:, done:], self.count[done:], upto

    def add(self, maps: np.ndarray, starts: np.ndarray) -> None:
        """Maps ``(k, n_mels, size)`` of windows starting at ``starts`` (k,), not before earlier windows'
        starts; frames past the song's end are dropped."""
        if len(starts) == 0:
            return
        if int(starts[0]) < self.base:
            raise ValueError("windows must be added in order of their start")
        self._flush(int(starts[0]))
        reach = min(int(starts.max()) + maps.shape[2], self.total) - self.base
        if reach > self.sum.shape[1]:
            grow = reach - self.sum.shape[1]
            self.sum = np.concatenate([self.sum, np.zeros((self.sum.shape[0], grow))], axis=1)
            self.count = np.concatenate([self.count, np.zeros(grow, dtype=np.int64)])
        for m, s in zip(maps, starts, strict=True):
            lo, hi = int(s) - self.base, min(int(s) + m.shape[1], self.total) - self.base
            self.sum[:, lo:hi] += m[:, : hi - lo]
            self.count[lo:hi] += 1

    def result(self) -> np.ndarray:
        """The averaged map ``(n_mels, total)`` float32; frames no window covered are 0."""
        self._flush(self.base + self.sum.shape[1])
        return self.out


def stitch(maps: np.ndarray, starts: np.ndarray, total: int) -> np.ndarray:
    """Per-window maps ``(N, n_mels, size)`` -> one ``(n_mels, total)`` map, overlaps averaged."""
    stitcher = Stitcher(maps.shape[1], total)
    stitcher.add(maps, starts)
    return stitcher.result()


def normalize(song_map: np.ndarray, inplace: bool = False) -> np.ndarray:
    """Scale a song-level map to [0, 1] by its own min and max (a constant map becomes zeros);
    ``inplace`` reuses a float32 ``song_map``'s memory (long songs)."""
    lo, hi = float(song_map.min()), float(song_map.max())
    scaled = song_map if inplace and song_map.dtype == np.float32 else np.empty(song_map.shape, np.float32)
    if hi - lo <= 1e-12:
        scaled[...] = 0.0
        return scaled
    np.subtract(song_map, lo, out=scaled, dtype=np.float32)
    scaled /= np.float32(hi - lo)
    return scaled


def normalize_together(maps: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Scale several song-level maps to [0, 1] by their joint min and max, keeping them comparable."""
    lo = min(float(m.min()) for m in maps.values())
    hi = max(float(m.max()) for m in maps.values())
    if hi - lo <= 1e-12:
        return {name: np.zeros_like(m, dtype=np.float32) for name, m in maps.items()}
    return {name: ((m - lo) / (hi - lo)).astype(np.float32) for name, m in maps.items()}
