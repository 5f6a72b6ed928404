import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from conftest import tone_mix
from specinterp import audio
from specinterp.interfaces import SpecinterpError


@pytest.mark.parametrize("fmt,subtype,suffix", [
    ("WAV", "PCM_16", ".wav"), ("FLAC", "PCM_16", ".flac"), ("OGG", "VORBIS", ".ogg"),
    ("AIFF", "PCM_16", ".aiff"), ("AU", "PCM_16", ".au"), ("OGG", "OPUS", ".opus"), ("MP3", "MPEG_LAYER_III", ".mp3"),
])
def test_formats_decode_to_mono_22050(tmp_path, fmt, subtype, suffix):
    rate = 48000 if subtype == "OPUS" else 44100
    stereo = np.stack([tone_mix(2.0, (440.0,), 0, sr=rate), tone_mix(2.0, (440.0,), 0, sr=rate)], axis=1)
    path = tmp_path / f"clip{suffix}"
    sf.write(path, stereo, rate, format=fmt, subtype=subtype)
    y = audio.load(path)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) / audio.SAMPLE_RATE - 2.0) < 0.08  # codecs may pad a few ms
    spectrum = np.abs(np.fft.rfft(y[: audio.SAMPLE_RATE]))
    assert abs(np.argmax(spectrum) - 440) <= 2  # the tone survives at the right pitch (1 Hz bins)


def test_stereo_is_averaged(tmp_path):
    left = tone_mix(1.0, (300.0,), 1)
    path = tmp_path / "s.wav"
    sf.write(path, np.stack([left, np.zeros_like(left)], axis=1), 22050, subtype="FLOAT")
    np.testing.assert_allclose(audio.load(path), 0.5 * left, atol=1e-6)


def test_resampling_matches_whole_file_resampling(tmp_path, monkeypatch):
    import soxr

    x = tone_mix(5.0, (1000.0, 5000.0), 2, sr=44100)
    path = tmp_path / "hi.wav"
    sf.write(path, x, 44100, subtype="FLOAT")
    monkeypatch.setattr(audio, "BLOCK_FRAMES", 10007)  # many odd-sized blocks
    blocked = audio.load(path)
    whole = soxr.resample(x, 44100, 22050)
    assert abs(len(blocked) - len(whole)) <= 1
    n = min(len(blocked), len(whole))
    assert np.max(np.abs(blocked[:n] - whole[:n])) < 1e-3


def test_long_file_is_decoded_without_full_length_copies(tmp_path):
    seconds = 120
    path = tmp_path / "long.wav"
    with sf.SoundFile(path, "w", 44100, 2, subtype="PCM_16") as f:
        block = np.stack([tone_mix(10.0, (440.0,), 3, sr=44100)] * 2, axis=1)
        for _ in range(seconds // 10):
            f.write(block)
    tracemalloc.start()
    y = audio.load(path)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(y) == pytest.approx(seconds * 22050, abs=64)
    # the output plus a few ~2 MB blocks; a whole-file read (stereo 44.1 kHz float32) alone would be 42 MB
    assert peak < y.nbytes + 8e6, f"peak {peak / 1e6:.1f} MB for a {y.nbytes / 1e6:.1f} MB result"


def test_garbage_file_gives_one_line_error_naming_it(tmp_path):
    path = tmp_path / "broken.wav"
    path.write_bytes(b"RIFF not really audio")
    with pytest.raises(SpecinterpError) as info:
        audio.load(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(SpecinterpError, match="no such file"):
        audio.load(tmp_path / "nope.wav")
    empty = tmp_path / "empty.wav"
    sf.write(empty, np.zeros(0, dtype=np.float32), 22050)
    with pytest.raises(SpecinterpError, match="no audio"):
        audio.load(empty)
