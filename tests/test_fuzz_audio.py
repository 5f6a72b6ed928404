"""Fuzzing the decoder: mutated WAV, FLAC, OGG and MP3 bytes (flipped bytes, truncations, header fields set
to 0xff, spliced headers, inserted noise) through ``audio.load``, and a few through ``specinterp explain``.

Each case must decode or be refused with a one-line :class:`SpecinterpError` naming the file (no other
exception), finish within ``CASE_SECONDS`` (a hang kills the run with a traceback), match an independent
decode of the same bytes (``soundfile.read`` of the whole file, mixed to mono) when it decodes: no stale
samples, and stay within ``CASE_BYTES`` of Python-side allocations (tracemalloc).

The default run tries 200 cases (derandomized: the same ones every run). The long run::

    SPECINTERP_FUZZ_EXAMPLES=2000 .venv/bin/python -m pytest -m fuzz tests/test_fuzz_audio.py

Both are marked ``fuzz``; ``-m "not fuzz"`` leaves them out.
"""

from __future__ import annotations

import faulthandler
import os
import re
import resource
import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import REPO, tone_mix
from specinterp import audio
from specinterp.interfaces import SpecinterpError

pytestmark = pytest.mark.fuzz

EXAMPLES = int(os.environ.get("SPECINTERP_FUZZ_EXAMPLES", "200"))
CASE_SECONDS = 30
CASE_BYTES = 32 * 2**20
REFERENCE_FRAMES = 1 << 22  # the reference reads at most this many frames (it allocates from the header)
CHATTER = re.compile(r"Note:|Warning:|error:|\[src/|mpg123|Illegal", re.IGNORECASE)


def _seeds() -> dict[str, bytes]:
    """Short seeded clips in each format, as bytes, keyed by file name."""
    import io

    rate = 22050
    x = tone_mix(1.0, (330.0, 2500.0), 11, sr=rate)
    stereo44 = np.stack([tone_mix(0.5, (440.0,), 12, sr=44100), tone_mix(0.5, (880.0,), 13, sr=44100)], axis=1)
    specs = [("pcm16.wav", stereo44, 44100, "WAV", "PCM_16"), ("float.wav", x[:11025], rate, "WAV", "FLOAT"),
             ("stereo.flac", stereo44, 44100, "FLAC", "PCM_16"), ("vorbis.ogg", x, rate, "OGG", "VORBIS")]
    if "MP3" in sf.available_formats():  # libsndfile >= 1.1
        specs += [("mono.mp3", x, rate, "MP3", "MPEG_LAYER_III"),
                  ("stereo.mp3", stereo44, 44100, "MP3", "MPEG_LAYER_III")]
    seeds = {}
    for name, data, sr, fmt, subtype in specs:
        buffer = io.BytesIO()
        sf.write(buffer, data, sr, format=fmt, subtype=subtype)
        seeds[name] = buffer.getvalue()
    return seeds


SEEDS = _seeds()
NAMES = sorted(SEEDS)


def _flip(data: bytearray, draw) -> None:
    for _ in range(draw(st.integers(1, 8))):
        near_header = draw(st.booleans())
        i = draw(st.integers(0, min(len(data), 128 if near_header else len(data)) - 1))
        data[i] ^= draw(st.integers(1, 255))


def _truncate(data: bytearray, draw) -> None:
    del data[draw(st.integers(min(16, len(data) - 1), len(data) - 1)) :]  # empty files are tested elsewhere


def _saturate(data: bytearray, draw) -> None:
    """Four bytes set to 0xff, where header fields (sizes, rates, frame counts) live."""
    i = draw(st.integers(0, max(0, min(len(data), 256) - 4)))
    data[i : i + 4] = b"\xff\xff\xff\xff"


def _splice(data: bytearray, draw) -> None:
    """Another seed's header over this one's body."""
    other = SEEDS[draw(st.sampled_from(NAMES))]
    cut = draw(st.integers(1, min(len(other), 512)))
    data[:cut] = other[:cut]


def _insert(data: bytearray, draw) -> None:
    i = draw(st.integers(0, len(data)))
    data[i:i] = draw(st.binary(min_size=1, max_size=64))


MUTATIONS = [_flip, _truncate, _saturate, _splice, _insert]


@st.composite
def mutated(draw) -> tuple[str, bytes]:
    """(file name, bytes): a seed after one to three mutations, sometimes under another format's suffix."""
    name = draw(st.sampled_from(NAMES))
    data = bytearray(SEEDS[name])
    for mutation in draw(st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=3)):
        if data:
            mutation(data, draw)
    suffix = draw(st.sampled_from([Path(name).suffix] * 4 + [".wav", ".flac", ".ogg", ".mp3"]))
    return f"case{suffix}", bytes(data)


def reference(path: Path) -> tuple[int, np.ndarray] | None:
    """(rate, mono samples) from one whole-file soundfile.read, or None where soundfile cannot read it."""
    try:
        info = sf.info(str(path))
        if not audio.MIN_RATE <= info.samplerate <= audio.MAX_RATE or not 1 <= info.channels <= audio.MAX_CHANNELS:
            return None
        data, rate = sf.read(str(path), frames=min(info.frames, REFERENCE_FRAMES), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError, MemoryError):
        return None
    with np.errstate(invalid="ignore", over="ignore"):  # NaN and huge samples: ours refuses those files
        return rate, data.mean(axis=1, dtype=np.float32)


def decode(path: Path, sample_rate: int) -> tuple[np.ndarray | None, str, int]:
    """(samples or None, refusal message, peak bytes allocated) of ``audio.load``, within ``CASE_SECONDS``."""
    faulthandler.dump_traceback_later(CASE_SECONDS, exit=True)
    tracemalloc.start()
    try:
        return audio.load(path, sample_rate), "", tracemalloc.get_traced_memory()[1]
    except SpecinterpError as exc:
        return None, str(exc), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
        faulthandler.cancel_dump_traceback_later()


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def test_seeds_decode_exactly(case_dir):
    """Unmutated, every seed decodes and matches the reference: the property below has teeth."""
    for name, data in SEEDS.items():
        path = case_dir / name
        path.write_bytes(data)
        rate, expected = reference(path)
        samples, message, _ = decode(path, rate)
        assert message == "" and samples is not None, message
        np.testing.assert_allclose(samples, expected, rtol=1e-6, atol=1e-6)


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, print_blob=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=mutated(), resample=st.booleans())
def test_mutated_files_decode_exactly_or_are_refused(case_dir, case, resample):
    name, data = case
    path = case_dir / name
    path.write_bytes(data)
    expected = reference(path)
    rate = audio.SAMPLE_RATE if resample or expected is None else expected[0]
    samples, message, peak = decode(path, rate)
    assert peak < CASE_BYTES, f"{peak / 2**20:.0f} MiB allocated for a {len(data)}-byte file"
    if samples is None:
        assert message.startswith(f"{path}: ") and "\n" not in message, message
        return
    assert samples.dtype == np.float32 and samples.ndim == 1 and len(samples) > 0
    assert np.isfinite(samples).all() and np.abs(samples).max() <= 1.5 * audio.MAX_ABS_SAMPLE
    if Path(name).suffix in audio.FALLBACK_SUFFIXES:
        return
    assert expected is not None, "decoded a file soundfile cannot read"
    if rate == expected[0]:  # same rate: no resampling between the two decodes
        reference_samples = expected[1]
        if len(reference_samples) == REFERENCE_FRAMES:
            samples = samples[:REFERENCE_FRAMES]
        assert samples.shape == reference_samples.shape
        np.testing.assert_allclose(samples, reference_samples, rtol=1e-6, atol=1e-6)


def test_memory_of_the_whole_run_stays_bounded(case_dir):
    """libsndfile's own allocations are invisible to tracemalloc: the process's peak RSS bounds them."""
    rng = np.random.default_rng(5)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for i in range(40):
        name = NAMES[i % len(NAMES)]
        data = bytearray(SEEDS[name])
        for _ in range(4):
            data[int(rng.integers(0, min(len(data), 96)))] = 0xFF
        path = case_dir / f"rss{i}{Path(name).suffix}"
        path.write_bytes(bytes(data))
        decode(path, audio.SAMPLE_RATE)
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 512 * 1024, f"peak RSS grew by {grown_kib / 1024:.0f} MiB"


def test_mutated_files_through_explain(tmp_path):
    """A few mutated files in one ``explain`` run: one line per failure, no traceback, no decoder chatter."""
    rng = np.random.default_rng(9)
    paths = []
    for i, name in enumerate(NAMES):
        data = bytearray(SEEDS[name])
        if i % 2:  # every other one damaged in its header, the rest in their body
            data[int(rng.integers(8, 64))] ^= 0xFF
        else:
            for _ in range(20):
                data[int(rng.integers(len(data) // 4, len(data)))] ^= int(rng.integers(1, 256))
        path = tmp_path / "in" / f"m{i}{Path(name).suffix}"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(bytes(data))
        paths.append(path)
    command = [sys.executable, "-m", "specinterp", "explain", "--explainer", "cam", "--render", "png",
               "--out", str(tmp_path / "out"), *map(str, paths)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=600)
    assert done.returncode in (0, 1, 2), done.stderr
    assert "Traceback" not in done.stderr and not CHATTER.search(done.stderr), done.stderr
    explained = [p for p in paths if f"{p}: " in done.stdout]
    refused = [p for p in paths if p not in explained]
    for path in refused:
        assert sum(f"{path}: " in line for line in done.stderr.splitlines()) == 1, (path, done.stderr)
    assert done.returncode == (0 if not refused else 2 if not explained else 1)
