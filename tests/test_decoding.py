"""Decoding is exact or refused: short reads, lengths the header contradicts, absurd headers and samples,
libsndfile's own reasons, decoder chatter kept off stderr, memory errors as sentences. Unit tests on
``specinterp.audio`` and, at the end, the same cases through ``specinterp explain`` as a subprocess."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import REPO, tone_mix
from specinterp import audio
from specinterp.interfaces import SpecinterpError
from specinterp.quiet import quiet_stderr

MP3_CHATTER = "Xing stream size off by more than 1%"  # what mpg123 prints for an MP3 with bytes after its stream


def refusal(path: Path, **kwargs) -> str:
    """The one-line message ``audio.load`` refuses ``path`` with."""
    with pytest.raises(SpecinterpError) as info:
        audio.load(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message and message.startswith(f"{path}: "), message
    return message


def write_mp3(path: Path, seconds: float, rate: int = 22050) -> Path:
    sf.write(path, tone_mix(seconds, (440.0, 1200.0), 7, sr=rate), rate, format="MP3", subtype="MPEG_LAYER_III")
    return path


def mono_reference(path: Path) -> np.ndarray:
    """An independent decode: the whole file in one soundfile.read, mixed to mono (libsndfile's MP3 floats
    differ by one rounding step with the size of the reads, hence ``assert_same`` below)."""
    data, _ = sf.read(path, dtype="float32", always_2d=True)
    return data.mean(axis=1, dtype=np.float32)


def assert_same(decoded: np.ndarray, reference: np.ndarray) -> None:
    assert decoded.shape == reference.shape
    np.testing.assert_allclose(decoded, reference, rtol=0, atol=1e-6)


@pytest.fixture
def chatty_mp3(tmp_path: Path) -> Path:
    """A decodable MP3 that makes mpg123 talk: 3,000 bytes of noise after its last frame."""
    path = write_mp3(tmp_path / "odd.mp3", 3.0)
    noise = np.random.default_rng(3).integers(0, 256, 3000, dtype=np.uint8).tobytes()
    path.write_bytes(path.read_bytes() + noise)
    return path


@pytest.fixture
def truncated_mp3(tmp_path: Path) -> Path:
    """An MP3 cut at 40 %: its header still says 10 s."""
    path = write_mp3(tmp_path / "cut.mp3", 10.0)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 4 // 10])
    return path


def wav_with_header(path: Path, rate: int | None = None, seconds: float = 2.0) -> Path:
    """A 16-bit mono WAV whose header's sample rate is then set to ``rate``."""
    sf.write(path, tone_mix(seconds, (440.0,), 1), 22050, subtype="PCM_16")
    if rate is not None:
        data = bytearray(path.read_bytes())
        data[24:32] = struct.pack("<II", rate, 2 * rate)  # fmt chunk: sample rate, byte rate
        path.write_bytes(bytes(data))
    return path


# ---------------------------------------------------------------- short reads and lengths


def garbage_then_read(limit=None):
    """A SoundFile.read that fills the caller's buffer with what uninitialised memory held in the reported
    decodes (3.8e26) before reading into it; with ``limit``, the second read stops short after that many
    frames and later reads go on."""
    real_read = sf.SoundFile.read
    calls = []

    def read(self, frames=-1, dtype="float64", always_2d=False, fill_value=None, out=None):
        if out is None:
            return real_read(self, frames, dtype, always_2d, fill_value)
        out[...] = 3.8e26
        calls.append(frames)
        if limit is not None and len(calls) == 2:
            return real_read(self, limit, dtype, always_2d, fill_value, out[:limit])
        return real_read(self, frames, dtype, always_2d, fill_value, out)

    return read


def test_short_read_at_the_end_brings_no_stale_samples(tmp_path, monkeypatch):
    """An MP3 missing its last ~0.1 s: the final read is short of the header's count (within tolerance)."""
    path = write_mp3(tmp_path / "tail.mp3", 5.0)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - len(data) // 50])
    expected = mono_reference(path)
    assert sf.info(path).frames - len(expected) > 0.05 * 22050  # it is short of its header
    monkeypatch.setattr(audio, "BLOCK_FRAMES", 10007)
    monkeypatch.setattr(sf.SoundFile, "read", garbage_then_read())
    y = audio.load(path)
    assert np.abs(y).max() < 2
    assert_same(y, expected)


def test_a_short_read_ends_the_decode(tmp_path, monkeypatch):
    """What a read after a short one returns (mpg123 after a resync) would leave a gap: not used, and the
    decode, now far shorter than its header, is refused."""
    path = tmp_path / "song.wav"
    sf.write(path, tone_mix(3.0, (440.0,), 2), 22050, subtype="FLOAT")
    monkeypatch.setattr(audio, "BLOCK_FRAMES", 10000)
    monkeypatch.setattr(sf.SoundFile, "read", garbage_then_read(limit=500))
    assert refusal(path) == f"{path}: decoded 0.5 s but the header says 3.0 s (damaged file?)"


def test_damaged_mp3_decode_is_exact(tmp_path):
    """Flipped bytes inside the stream: mpg123 skips the bad frames; what it decodes is what we return."""
    path = write_mp3(tmp_path / "flipped.mp3", 4.0)
    data = bytearray(path.read_bytes())
    for i in range(6):
        data[len(data) // 3 + 211 * i] ^= 0xFF
    path.write_bytes(bytes(data))
    y = audio.load(path, sample_rate=22050)
    assert_same(y, mono_reference(path))
    assert np.abs(y).max() < 2


def test_decode_shorter_than_header_is_refused(truncated_mp3):
    message = refusal(truncated_mp3)
    assert message == f"{truncated_mp3}: decoded 3.9 s but the header says 10.0 s (damaged file?)"


def test_stream_yields_what_load_returns_and_refuses_at_the_end(tmp_path, truncated_mp3, monkeypatch):
    monkeypatch.setattr(audio, "BLOCK_FRAMES", 5000)
    path = tmp_path / "44k.flac"
    sf.write(path, tone_mix(3.0, (500.0,), 4, sr=44100), 44100)
    blocks = list(audio.stream(path))
    assert len(blocks) > 10
    np.testing.assert_array_equal(np.concatenate(blocks), audio.load(path))
    received = []
    with pytest.raises(SpecinterpError, match="decoded 3.9 s but the header says 10.0 s"):
        for block in audio.stream(truncated_mp3):
            received.append(block)
    assert sum(map(len, received)) > 3.5 * 22050  # everything decodable came first


# ---------------------------------------------------------------- sample values


@pytest.mark.parametrize("bad,expected", [
    (np.nan, "decoded audio contains NaN or infinite samples (damaged file?)"),
    (np.inf, "decoded audio contains NaN or infinite samples (damaged file?)"),
    (3.8e26, "decoded samples reach 3.8e+26, far beyond full scale 1.0 (damaged file, or integers stored as floats?)"),
])
def test_absurd_float_samples_are_refused(tmp_path, bad, expected):
    x = tone_mix(2.0, (440.0,), 5)
    x[30000] = bad
    path = tmp_path / "float.wav"
    sf.write(path, x, 22050, subtype="FLOAT")
    assert refusal(path) == f"{path}: {expected}"


def test_float_samples_somewhat_over_full_scale_are_kept(tmp_path):
    path = tmp_path / "hot.wav"
    x = 3.0 * tone_mix(1.0, (440.0,), 6)
    sf.write(path, x, 22050, subtype="FLOAT")
    np.testing.assert_array_equal(audio.load(path), x)


# ---------------------------------------------------------------- headers, before allocating


def test_one_hertz_header_is_refused_before_allocating(tmp_path):
    path = wav_with_header(tmp_path / "1hz.wav", rate=1, seconds=2.0)  # 88 KB: 12 GB after resampling
    assert refusal(path) == f"{path}: the header says 1 Hz, outside 1000..768000 Hz (damaged file?)"


def test_rate_above_bound_is_refused(tmp_path):
    path = wav_with_header(tmp_path / "fast.wav", rate=1_000_000)
    assert refusal(path) == f"{path}: the header says 1000000 Hz, outside 1000..768000 Hz (damaged file?)"


def test_rates_at_the_bounds_decode(tmp_path):
    for rate in (audio.MIN_RATE, audio.MAX_RATE):
        path = wav_with_header(tmp_path / f"{rate}.wav", rate=rate, seconds=0.5)
        assert len(audio.load(path)) == pytest.approx(11025 * 22050 / rate, abs=20)


def test_too_many_channels_are_refused(tmp_path):
    path = tmp_path / "many.wav"
    sf.write(path, np.zeros((100, 65), dtype=np.float32), 22050, subtype="PCM_16")
    assert refusal(path) == f"{path}: the header says 65 channels, outside 1..64 (damaged file?)"


def test_mp3_header_claiming_years_is_refused_before_allocating(tmp_path):
    """Four bytes of the Xing frame count set to ff: 4.9e12 frames in a 5 KB file (numpy was asked for TiB)."""
    path = write_mp3(tmp_path / "ff.mp3", 1.0, rate=44100)
    data = bytearray(path.read_bytes())
    xing = data.find(b"Xing")
    assert xing >= 0 and struct.unpack(">I", data[xing + 4 : xing + 8])[0] & 1  # the frame-count field is there
    data[xing + 8 : xing + 12] = b"\xff\xff\xff\xff"
    path.write_bytes(bytes(data))
    assert sf.info(path).frames > 4e12
    assert re.fullmatch(re.escape(f"{path}: the header says 31165:17:44 of audio, impossible in ") + r"\d+ KB"
                        + re.escape(" (damaged file?)"), refusal(path))


def test_max_seconds_is_checked_on_the_header(tmp_path, monkeypatch):
    path = tmp_path / "ten.wav"
    sf.write(path, tone_mix(10.0, (440.0,), 1), 22050)
    monkeypatch.setattr(sf.SoundFile, "read", lambda *a, **k: pytest.fail("decoded despite the limit"))
    assert refusal(path, max_seconds=4.0) == f"{path}: 0:00:10 long, more than --max-duration 0:00:04"


def test_max_seconds_lets_shorter_files_through(tmp_path):
    path = tmp_path / "ten.wav"
    sf.write(path, tone_mix(10.0, (440.0,), 1), 22050)
    assert len(audio.load(path, max_seconds=10.0)) == 10 * 22050


def test_clock():
    assert [audio.clock(s) for s in (0, 59.6, 3600, 18000, 14400.2)] == ["0:00:00", "0:01:00", "1:00:00", "5:00:00",
                                                                         "4:00:00"]


def test_memory_error_becomes_a_sentence(tmp_path, monkeypatch):
    path = tmp_path / "big.wav"
    sf.write(path, tone_mix(1.0, (440.0,), 1), 22050)

    def no_memory(*args, **kwargs):
        raise MemoryError("Unable to allocate 9.00 TiB for an array")

    monkeypatch.setattr(sf.SoundFile, "read", no_memory)
    assert refusal(path) == f"{path}: not enough memory to decode it"
    with pytest.raises(SpecinterpError, match="not enough memory to decode it"):
        list(audio.stream(path))


# ---------------------------------------------------------------- the reason reaches the user


def test_libsndfile_reason_for_a_wav_without_data_chunk(tmp_path):
    path = tmp_path / "nodata.wav"
    path.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x22\x56\x00\x00"
                     b"\x44\xac\x00\x00\x02\x00\x10\x00")
    assert refusal(path) == f"{path}: cannot decode audio (libsndfile: Error in WAV file. No 'data' chunk marker)"


@pytest.mark.parametrize("name,data,reason", [
    ("noise.wav", bytes(range(256)) * 8, "Format not recognised"),
    ("noise.flac", bytes(range(256)) * 8, "Format not recognised"),
    ("noise.mp3", bytes(range(256)) * 8, "no valid audio stream found"),  # libsndfile: "... (possibly a pipe?)"
    ("noise.ogg", b"OggS" + bytes(range(256)) * 8, "File contains data in an unimplemented format"),
])
def test_libsndfile_reason_for_unrecognised_bytes(tmp_path, name, data, reason, capfd):
    path = tmp_path / name
    path.write_bytes(data)
    assert refusal(path) == f"{path}: cannot decode audio (libsndfile: {reason})"
    assert capfd.readouterr().err == ""  # mpg123's "Illegal Audio-MPEG-Header" notes stay off stderr


def test_librosa_fallback_only_for_formats_libsndfile_lacks(tmp_path):
    path = tmp_path / "song.m4a"
    path.write_bytes(b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00M4A mp42isom" + bytes(200))
    message = refusal(path)
    assert message.startswith(f"{path}: cannot decode audio (librosa: ")
    if shutil.which("ffmpeg") is None:
        assert message.endswith("); .m4a needs ffmpeg, which is not installed")


def test_a_wav_under_another_suffix_still_decodes_with_soundfile(tmp_path):
    for suffix in (".m4a", ".xyz"):
        path = tmp_path / f"really-wav{suffix}"
        sf.write(path, tone_mix(1.0, (440.0,), 1), 22050, format="WAV")
        assert len(audio.load(path)) == 22050


def test_unknown_suffix_and_unrecognised_bytes_go_to_librosa(tmp_path):
    path = tmp_path / "data.xyz"
    path.write_bytes(bytes(range(256)) * 8)
    assert refusal(path).startswith(f"{path}: cannot decode audio (librosa: ")


def test_paths_that_are_not_audio_files(tmp_path):
    assert refusal(tmp_path / "nope.wav") == f"{tmp_path / 'nope.wav'}: no such file"
    (tmp_path / "album.wav").mkdir()
    assert refusal(tmp_path / "album.wav") == f"{tmp_path / 'album.wav'}: is a folder, not an audio file"
    (tmp_path / "zero.mp3").write_bytes(b"")
    assert refusal(tmp_path / "zero.mp3") == f"{tmp_path / 'zero.mp3'}: empty file (0 bytes)"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs a user that file modes apply to")
def test_unreadable_file(tmp_path):
    path = tmp_path / "locked.wav"
    sf.write(path, tone_mix(1.0, (440.0,), 1), 22050)
    path.chmod(0)
    assert refusal(path) == f"{path}: cannot read it (Permission denied)"


# ---------------------------------------------------------------- decoder chatter


def test_successful_decode_of_an_odd_mp3_prints_nothing(chatty_mp3, capfd):
    with sf.SoundFile(chatty_mp3) as f:  # the file does make mpg123 talk
        f.read(dtype="float32")
    assert MP3_CHATTER in capfd.readouterr().err
    y = audio.load(chatty_mp3)
    assert abs(len(y) / 22050 - 3.0) < 0.1
    assert capfd.readouterr().err == ""


def test_quiet_stderr_restores_descriptor_2_even_after_an_error(capfd):
    with pytest.raises(RuntimeError), quiet_stderr():
        os.write(2, b"hidden\n")
        raise RuntimeError("boom")
    os.write(2, b"visible\n")
    assert capfd.readouterr().err == "visible\n"


def test_text_written_before_the_redirect_is_not_lost(capfd):
    sys.stderr.write("pending without newline")
    with quiet_stderr():
        pass
    assert capfd.readouterr().err == "pending without newline"


def test_concurrent_decodes_restore_stderr(chatty_mp3, capfd):
    errors: list[BaseException] = []

    def decode() -> None:
        try:
            for _ in range(5):
                audio.load(chatty_mp3)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=decode) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    os.write(2, b"still here\n")
    assert capfd.readouterr().err == "still here\n"


# ---------------------------------------------------------------- through the CLI


def explain(*paths: Path, out: Path, options: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "specinterp", "explain", "--explainer", "cam", "--render", "png",
               "--out", str(out), *options, *map(str, paths)]
    return subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=300)


def test_cli_batch_reports_each_bad_file_in_one_line(tmp_path, truncated_mp3, chatty_mp3):
    inputs = tmp_path / "in"
    inputs.mkdir()
    good = inputs / "good.wav"
    sf.write(good, tone_mix(4.0, (440.0,), 1), 22050)
    nodata = inputs / "nodata.wav"
    nodata.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00\x22\x56\x00\x00"
                       b"\x44\xac\x00\x00\x02\x00\x10\x00")
    onehz = wav_with_header(inputs / "1hz.wav", rate=1)
    nan = inputs / "nan.wav"
    x = tone_mix(2.0, (440.0,), 5)
    x[100] = np.nan
    sf.write(nan, x, 22050, subtype="FLOAT")
    cut = shutil.copy(truncated_mp3, inputs / "cut.mp3")
    expected = [
        f"{nodata}: cannot decode audio (libsndfile: Error in WAV file. No 'data' chunk marker)",
        f"{onehz}: the header says 1 Hz, outside 1000..768000 Hz (damaged file?)",
        f"{nan}: decoded audio contains NaN or infinite samples (damaged file?)",
        f"{cut}: decoded 3.9 s but the header says 10.0 s (damaged file?)",
    ]
    done = explain(good, nodata, onehz, nan, cut, chatty_mp3, out=tmp_path / "out")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and MP3_CHATTER not in done.stderr
    lines = [line.strip() for line in done.stderr.splitlines()]
    for message in expected:
        assert any(line.endswith(message) for line in lines), (message, done.stderr)
    assert f"{good}: " in done.stdout and f"{chatty_mp3}: " in done.stdout
    assert (tmp_path / "out" / "good.cam.png").is_file() and (tmp_path / "out" / "odd.cam.png").is_file()


def test_cli_single_bad_file_exits_2_with_the_libsndfile_reason(tmp_path):
    path = tmp_path / "noise.flac"
    path.write_bytes(bytes(range(256)) * 8)
    done = explain(path, out=tmp_path / "out")
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert any(line.strip().endswith(f"{path}: cannot decode audio (libsndfile: Format not recognised)")
               for line in done.stderr.splitlines()), done.stderr


def test_cli_max_duration_refuses_a_long_file_before_decoding(tmp_path):
    path = tmp_path / "long.flac"
    sf.write(path, tone_mix(6.0, (440.0,), 1), 22050)
    done = explain(path, out=tmp_path / "out", options=("--max-duration", "5"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert any(line.strip().endswith(f"{path}: 0:00:06 long, more than --max-duration 0:00:05")
               for line in done.stderr.splitlines()), done.stderr


def test_cli_odd_mp3_decodes_with_nothing_on_stderr(tmp_path, chatty_mp3):
    done = explain(chatty_mp3, out=tmp_path / "out")
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert f"{chatty_mp3}: " in done.stdout
