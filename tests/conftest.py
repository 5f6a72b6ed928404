"""Shared fixtures: seeded synthetic audio and a tiny fake GTZAN folder. No network, no real data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

SR = 22050
REPO = Path(__file__).resolve().parents[1]
SHARED_GTZAN = Path(os.environ.get("SPECINTERP_GTZAN", REPO.parent / "shared" / "gtzan"))


def tone_mix(seconds: float, freqs: tuple[float, ...], seed: int, noise: float = 0.02, sr: int = SR) -> np.ndarray:
    """Seeded sum of sines with a little noise and a rhythmic envelope, float32 in [-1, 1]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = sum(np.sin(2 * np.pi * f * t + rng.uniform(0, 2 * np.pi)) for f in freqs)
    envelope = 0.6 + 0.4 * (np.sin(2 * np.pi * 2.0 * t) > 0)
    x = x * envelope / len(freqs) + noise * rng.standard_normal(len(t))
    return (0.5 * x / np.abs(x).max()).astype(np.float32)


@pytest.fixture
def song(tmp_path: Path) -> Path:
    """A 7-second synthetic WAV."""
    path = tmp_path / "song.wav"
    sf.write(path, tone_mix(7.0, (220.0, 330.0, 1760.0), seed=1), SR)
    return path


GENRE_TONES = {"blues": (110.0, 165.0), "classical": (880.0, 1320.0), "rock": (3000.0, 4500.0)}


def make_fake_gtzan(root: Path) -> Path:
    """A GTZAN-shaped folder: three genres of 8 distinct 4-second clips each (other genres absent)."""
    for g, (genre, freqs) in enumerate(GENRE_TONES.items()):
        (root / genre).mkdir(parents=True)
        for i in range(8):
            jitter = 1.0 + 0.03 * i
            sf.write(root / genre / f"{genre}.{i:05d}.wav",
                     tone_mix(4.0, tuple(f * jitter for f in freqs), seed=100 * g + i, noise=0.05), SR)
    return root


@pytest.fixture
def fake_gtzan(tmp_path: Path) -> Path:
    return make_fake_gtzan(tmp_path / "gtzan")


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private feature cache for the test."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("SPECINTERP_CACHE", str(folder))
    return folder


def default_sigint() -> None:
    """``preexec_fn`` for a child that must see Ctrl-C: a shell's background job ignores SIGINT, and its
    children would inherit that (Python then installs no KeyboardInterrupt handler)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
