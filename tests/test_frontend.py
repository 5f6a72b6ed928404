import numpy as np

from conftest import tone_mix
from specinterp import frontend


def test_log_mel_shape_and_units():
    x = tone_mix(3.0, (440.0,), 0)
    spec = frontend.log_mel(x)
    assert spec.shape == (128, len(x) // 512 + 1)
    assert spec.max() < 60 and spec.min() >= -100.0
    band = np.argmax(spec.mean(axis=1))
    assert abs(frontend.mel_band_hz()[band] - 440) < 60  # the tone sits in the band centred near 440 Hz


def test_all_ones_mask_reproduces_input():
    x = tone_mix(6.0, (110.0, 440.0, 3000.0), 1, noise=0.1)
    y = frontend.apply_mask(x, np.ones((128, frontend.DEFAULT.frames(len(x))), dtype=np.float32))
    assert len(y) == len(x)
    assert frontend.spectral_convergence(x, y) <= 0.01
    assert np.max(np.abs(x - y)) < 1e-4


def test_zero_mask_is_silence_and_band_mask_keeps_its_band():
    x = tone_mix(3.0, (200.0, 5000.0), 2, noise=0.0)
    frames = frontend.DEFAULT.frames(len(x))
    assert np.max(np.abs(frontend.apply_mask(x, np.zeros((128, frames), np.float32)))) < 1e-6
    low = (frontend.mel_band_hz() < 1000).astype(np.float32)[:, None] * np.ones((1, frames), np.float32)
    y = frontend.apply_mask(x, low)
    spectrum = np.abs(np.fft.rfft(y)) / len(y)
    freqs = np.fft.rfftfreq(len(y), 1 / 22050)
    assert spectrum[np.abs(freqs - 200) < 3].max() > 50 * spectrum[np.abs(freqs - 5000) < 3].max()


def test_time_mask_silences_only_that_span():
    x = tone_mix(4.0, (440.0,), 3, noise=0.0)
    frames = frontend.DEFAULT.frames(len(x))
    mask = np.ones((128, frames), np.float32)
    mask[:, 40:80] = 0.0
    y = frontend.apply_mask(x, mask)
    middle = slice(50 * 512, 70 * 512)
    assert np.sqrt(np.mean(y[middle] ** 2)) < 1e-3 * np.sqrt(np.mean(x[middle] ** 2))
    assert np.allclose(y[: 30 * 512], x[: 30 * 512], atol=1e-4)


def test_blockwise_inversion_equals_whole_song_inversion():
    """Long songs are inverted in blocks with margins; the result must not depend on the block size."""
    x = tone_mix(12.0, (220.0, 3000.0), 5, noise=0.1)
    frames = frontend.DEFAULT.frames(len(x))
    mask = np.random.default_rng(0).random((128, frames)).astype(np.float32)
    whole = frontend.apply_mask(x, mask, block_frames=10**9)
    for block in (37, 100):
        np.testing.assert_allclose(frontend.apply_mask(x, mask, block_frames=block), whole, atol=1e-6)


def test_blockwise_log_mel_equals_whole_song_log_mel():
    """Long songs are transformed in blocks with context; frames must not depend on the block size."""
    x = tone_mix(12.0, (220.0, 3000.0), 6, noise=0.1)
    for config in (frontend.DEFAULT, frontend.FrontendConfig(
            sample_rate=22050, n_fft=512, hop_length=256, n_mels=96, mel_scale="slaney", mel_norm="slaney",
            log="log10p", log_multiplier=10000.0, dtype="float16", pad_mode="constant")):
        whole = frontend.log_mel(x, config, block_frames=10**9)
        for block in (37, 200):
            blocks = frontend.log_mel(x, config, block_frames=block)
            assert blocks.shape == whole.shape
            np.testing.assert_allclose(blocks, whole, atol=2e-3 if config.dtype else 1e-4, rtol=0)
            assert np.mean(blocks == whole) > 0.9
