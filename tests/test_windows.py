import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from specinterp import windows as win


@settings(max_examples=60, deadline=None)
@given(total=st.integers(1, 700), hop=st.integers(1, 128))
def test_split_then_stitch_is_identity(total, hop):
    rng = np.random.default_rng(total * 131 + hop)
    spec = rng.standard_normal((8, total)).astype(np.float32)
    w = win.split(spec, size=128, hop=hop)
    assert w.data.shape[1:] == (1, 8, 128)
    assert w.starts[-1] + 128 >= total  # the tail is covered, padded rather than dropped
    assert (w.starts[-1] < total) and (len(w.starts) == 1 or w.starts[-2] + 128 < total)  # no useless window
    np.testing.assert_allclose(win.stitch(w.data[:, 0], w.starts, total), spec, rtol=1e-6)


def test_overlaps_are_averaged():
    starts = np.array([0, 64])
    maps = np.stack([np.zeros((2, 128)), np.ones((2, 128))]).astype(np.float32)
    stitched = win.stitch(maps, starts, 192)
    assert np.all(stitched[:, :64] == 0) and np.all(stitched[:, 64:128] == 0.5) and np.all(stitched[:, 128:] == 1)


def test_padding_uses_minimum_and_short_songs_get_one_window():
    spec = np.arange(2 * 50, dtype=np.float32).reshape(2, 50)
    w = win.split(spec)
    assert len(w.starts) == 1 and np.all(w.data[0, 0, :, 50:] == spec.min())


def test_normalize():
    m = np.array([[2.0, 4.0, 6.0]])
    np.testing.assert_allclose(win.normalize(m), [[0, 0.5, 1]])
    assert np.all(win.normalize(np.ones((3, 3))) == 0)


def test_normalize_together_keeps_maps_comparable():
    maps = win.normalize_together({"a": np.array([[0.0, 1.0]]), "b": np.array([[2.0, 4.0]])})
    np.testing.assert_allclose(maps["a"], [[0, 0.25]])
    np.testing.assert_allclose(maps["b"], [[0.5, 1]])


def test_shifted_last_window_ends_at_the_last_frame_and_holds_no_padding():
    spec = np.arange(96 * 1876, dtype=np.float32).reshape(96, 1876)  # 30 s at musicnn's hop
    padded = win.split(spec, size=187, hop=187)
    shifted = win.split(spec, size=187, hop=187, last="shift")
    assert len(padded.starts) == len(shifted.starts) == 11
    assert padded.starts[-1] == 1870 and shifted.starts[-1] == 1876 - 187
    np.testing.assert_array_equal(shifted.data[-1, 0], spec[:, -187:])
    np.testing.assert_array_equal(shifted.starts[:-1], padded.starts[:-1])
    maps = shifted.data[:, 0]
    np.testing.assert_array_equal(win.stitch(maps, shifted.starts, shifted.total), spec)
    assert list(win.window_starts(100, 187, 187, "shift")) == [0]  # shorter than a window: padded
