"""Long songs keep their samples on disk: slices read back exactly what was written."""

from __future__ import annotations

import numpy as np

from conftest import tone_mix
from specinterp import frontend, samples


def blocks_of(x: np.ndarray, size: int):
    return (x[i : i + size] for i in range(0, len(x), size))


def test_short_audio_stays_in_memory_and_long_audio_is_spooled_exactly():
    x = tone_mix(6.0, (220.0, 1000.0), seed=2, noise=0.1)
    short = samples.collect(blocks_of(x, 10_000), 22050, spool_after=60.0)
    assert isinstance(short, np.ndarray) and np.array_equal(short, x)
    long = samples.collect(blocks_of(x, 10_000), 22050, spool_after=2.0)
    assert isinstance(long, samples.SpooledSamples) and len(long) == len(x)
    assert np.array_equal(long[:], x) and np.array_equal(np.asarray(long), x)
    assert np.array_equal(long[12_345:54_321], x[12_345:54_321]) and len(long[len(x) - 3 : len(x) + 10]) == 3


def test_front_end_and_inversion_read_spooled_samples_as_arrays():
    x = tone_mix(8.0, (330.0, 2500.0), seed=3, noise=0.05)
    spooled = samples.collect(blocks_of(x, 4096), 22050, spool_after=1.0)
    assert isinstance(spooled, samples.SpooledSamples)
    np.testing.assert_array_equal(frontend.log_mel(spooled, block_frames=64), frontend.log_mel(x, block_frames=64))
    mask = np.random.default_rng(0).random((128, frontend.DEFAULT.frames(len(x)))).astype(np.float32)
    np.testing.assert_array_equal(frontend.apply_mask(spooled, mask, block_frames=50),
                                  frontend.apply_mask(x, mask, block_frames=50))
