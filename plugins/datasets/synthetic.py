"""A synthetic dataset whose events have known positions in time and frequency.

Each clip is seeded noise plus tone bursts; the class sets the burst's frequency band (class c is
centred on ``BAND_HZ[c]``), and each burst's onset time is drawn at random. Every clip carries its
events as landmarks ``(seconds, hz)``, so a measure such as Zhang et al.'s location instability can
ask whether a filter fires at a fixed place relative to the events. Generated in memory or written
to a folder (``write``); no recorded audio involved.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from specinterp import hookimpl
from specinterp.interfaces import Clip, Dataset, DatasetPlugin, SpecinterpError, Split

SAMPLE_RATE = 22050
BAND_HZ = (150.0, 300.0, 600.0, 1200.0, 2400.0)
CLASSES = tuple(f"band{int(hz)}" for hz in BAND_HZ)


@dataclass(frozen=True)
class SyntheticClip:
    audio: np.ndarray
    label: int
    events: tuple[tuple[float, float], ...]  # (onset seconds + half the burst, centre hz)


def make_clip(label: int, seed: int, seconds: float = 3.0, bursts: int = 1, burst_seconds: float = 0.4) -> SyntheticClip:
    """Pink-ish noise with ``bursts`` harmonic tone bursts in the class's band at random onsets."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE)
    noise = np.cumsum(rng.standard_normal(n)) * 0.002
    noise -= np.convolve(noise, np.ones(2048) / 2048, mode="same")  # drop the random walk's drift
    audio = 0.05 * noise / (np.abs(noise).max() + 1e-9)
    events = []
    length = int(burst_seconds * SAMPLE_RATE)
    t = np.arange(length) / SAMPLE_RATE
    envelope = np.sin(np.pi * t / burst_seconds) ** 2
    for _ in range(bursts):
        start = int(rng.integers(0, n - length))
        hz = BAND_HZ[label] * float(rng.uniform(0.94, 1.06))
        tone = sum(np.sin(2 * np.pi * hz * k * t) / k for k in (1, 2, 3))
        audio[start : start + length] += 0.5 * envelope * tone
        events.append((start / SAMPLE_RATE + burst_seconds / 2, hz))
    return SyntheticClip(audio.astype(np.float32), label, tuple(events))


def make_set(per_class: int, seed: int = 0, **kwargs) -> list[SyntheticClip]:
    """``per_class`` clips of every class, seeded."""
    return [make_clip(label, seed * 100_003 + label * 1009 + i, **kwargs)
            for label in range(len(BAND_HZ)) for i in range(per_class)]


class SyntheticDataset(Dataset):
    """The generated clips written under a folder as ``<class>/<class>.NNNNN.wav`` (made on first open)."""

    name = "synthetic"
    classes = CLASSES

    def __init__(self, root: Path, per_class: int = 20, seed: int = 0) -> None:
        self.root = Path(root)
        if not self.root.exists():
            write(self.root, per_class, seed)
        self._clips = [Clip(f"{c}/{p.stem}", p, i) for i, c in enumerate(CLASSES) for p in sorted((self.root / c).glob("*.wav"))]
        if not self._clips:
            raise SpecinterpError(f"{self.root}: no synthetic clips")

    def clips(self) -> list[Clip]:
        return list(self._clips)

    def split_names(self) -> tuple[str, ...]:
        return ("random",)

    def split(self, name: str, seed: int = 0) -> Split:
        if name != "random":
            raise SpecinterpError(f"unknown split '{name}' for synthetic (available: random)")
        from specinterp.splits import random_split

        return random_split(self._clips, seed)


def write(root: Path, per_class: int, seed: int = 0) -> None:
    for i, clip in enumerate(make_set(per_class, seed)):
        folder = root / CLASSES[clip.label]
        folder.mkdir(parents=True, exist_ok=True)
        sf.write(folder / f"{CLASSES[clip.label]}.{i:05d}.wav", clip.audio, SAMPLE_RATE)


@hookimpl
def register_datasets(register) -> None:
    register(DatasetPlugin(name="synthetic", open=SyntheticDataset,
                           description="tone bursts at known time/frequency positions (made on first open)"))
