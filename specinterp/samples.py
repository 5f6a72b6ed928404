"""A long song's samples on disk instead of in memory.

Explaining two hours of audio needs its samples three times (the log-mel, then each WAV), but never
all at once: :class:`SpooledSamples` writes the decoded blocks to an anonymous temporary file (gone
when the object is, or when the process ends) and reads back any slice on demand. It slices like a
1-D numpy array (``samples[a:b]``, ``len(samples)``), so the front end and the renderers take either.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable

import numpy as np

SPOOL_AFTER_SECONDS = 600.0  # songs longer than this keep their samples on disk
ITEM = np.dtype(np.float32).itemsize


class SpooledSamples:
    """Mono float32 samples in a temporary file; ``samples[a:b]`` reads them back as an array."""

    def __init__(self) -> None:
        self._file = tempfile.TemporaryFile(prefix="specinterp-samples-", suffix=".f32")  # noqa: SIM115 (lives with self)
        self._length = 0

    def append(self, block: np.ndarray) -> None:
        self._file.seek(0, 2)
        self._file.write(np.ascontiguousarray(block, dtype=np.float32).tobytes())
        self._length += len(block)

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: slice) -> np.ndarray:
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError("SpooledSamples take contiguous slices only, e.g. samples[a:b]")
        start, stop, _ = index.indices(self._length)
        count = max(0, stop - start)
        self._file.seek(start * ITEM)
        return np.frombuffer(self._file.read(count * ITEM), dtype=np.float32).copy()

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        whole = self[:]
        return whole if dtype is None else whole.astype(dtype)



Samples = np.ndarray | SpooledSamples


def collect(blocks: Iterable[np.ndarray], sample_rate: int, spool_after: float = SPOOL_AFTER_SECONDS) -> Samples:
    """Consecutive blocks as one array, or, once they pass ``spool_after`` seconds, as
    :class:`SpooledSamples` (what was gathered in memory moves to disk, and so does the rest)."""
    limit = int(spool_after * sample_rate)
    gathered: list[np.ndarray] = []
    held = 0
    spooled: SpooledSamples | None = None
    for block in blocks:
        if spooled is not None:
            spooled.append(block)
            continue
        gathered.append(block)
        held += len(block)
        if held > limit:
            spooled = SpooledSamples()
            for piece in gathered:
                spooled.append(piece)
            gathered = []
    if spooled is not None:
        return spooled
    return np.concatenate(gathered) if gathered else np.zeros(0, dtype=np.float32)
