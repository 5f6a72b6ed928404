"""A synthetic dataset whose events have known positions in time and frequency, and so a ground truth.

Each clip is seeded noise plus harmonic tone bursts; the class sets the burst's frequency band (class c
is centred on ``BAND_HZ[c]``), and each burst's onset is drawn at random. Clips may also carry
distractors that do not decide the class: broadband clicks and pure tones between the class bands,
placed at random in every clip whatever its class. Every event is kept exactly (:class:`Event`), so
:func:`truth_mask` and :func:`distractor_mask` give, for any front end, the cells of the log-mel grid
that hold the class-deciding and the distracting energy. Generated in memory or written to a folder
(``write``: a WAV and a JSON of events per clip); no recorded audio involved. See docs/synthetic.md.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from specinterp import hookimpl
from specinterp.frontend import DEFAULT, FrontendConfig, hz_to_mel, mel_to_hz
from specinterp.interfaces import Clip, Dataset, DatasetPlugin, SpecinterpError, Split
from specinterp.outputs import TEMP_SUFFIX

SAMPLE_RATE = 22050
BAND_HZ = (150.0, 300.0, 600.0, 1200.0, 2400.0)
CLASSES = tuple(f"band{int(hz)}" for hz in BAND_HZ)
JITTER = 0.06  # a burst's fundamental is BAND_HZ[c] times uniform(1 - JITTER, 1 + JITTER)
HARMONICS = (1, 2, 3)  # partials of a class burst, amplitude 1 / k
# Pure distractor tones are drawn from these ranges (Hz), which meet no class band's partials (any
# jitter) on the default front end's grid: see docs/synthetic.md.
DISTRACTOR_HZ = ((1400.0, 1520.0), (2750.0, 3150.0), (5400.0, 6400.0), (8000.0, 10000.0))
CLICK_SECONDS = (0.01, 0.04)  # a click's length: uniform in this range
TONE_SECONDS = (0.2, 0.6)  # a distractor tone's length
GAP_SECONDS = 0.1  # clicks keep this far from every class burst (>= n_fft / sample_rate of the front end)
DISTRACTOR_LEVEL = 0.3  # peak of a click / a distractor tone (a class burst's partials peak at 0.5)
CLIP_SECONDS = 127 * 512 / SAMPLE_RATE  # the dataset's clips: exactly 128 frames, one window of camcnn
DATASET_EVENTS = {"bursts": 1, "clicks": 2, "tones": 1}  # events per clip of the dataset on disk
KINDS = ("burst", "click", "tone")


@dataclass(frozen=True)
class Event:
    """One sound event of a clip, exactly as it was synthesized.

    Parameters
    ----------
    kind : "burst", "click" or "tone"
        ``burst``: the class-deciding harmonic tone; ``click``: broadband noise; ``tone``: a pure
        distractor tone between the class bands.
    onset, duration : float [s]
        The event's first sample over the sample rate, and its number of samples over the rate.
    hz : float [Hz]
        Fundamental (0 for a click).
    harmonics : tuple of int
        Multiples of ``hz`` that sound (``()`` for a click, which covers every frequency).
    """

    kind: str
    onset: float
    duration: float
    hz: float = 0.0
    harmonics: tuple[int, ...] = ()

    @property
    def distractor(self) -> bool:
        return self.kind != "burst"

    @classmethod
    def from_dict(cls, values: dict) -> Event:
        if values.get("kind") not in KINDS:
            raise ValueError(f"event kind must be one of {', '.join(KINDS)}, got {values.get('kind')!r}")
        return cls(str(values["kind"]), float(values["onset"]), float(values["duration"]), float(values.get("hz", 0.0)),
                   tuple(int(k) for k in values.get("harmonics", ())))


@dataclass(frozen=True)
class SyntheticClip:
    """A generated clip: samples at :data:`SAMPLE_RATE`, its class, and its events exactly."""

    audio: np.ndarray
    label: int
    bursts: tuple[Event, ...]  # the class-deciding events
    distractors: tuple[Event, ...] = ()
    seed: int = 0

    @property
    def events(self) -> tuple[tuple[float, float], ...]:
        """Landmarks of the class bursts: ``(onset + half the burst [s], fundamental [Hz])``."""
        return tuple((e.onset + e.duration / 2, e.hz) for e in self.bursts)

    def to_dict(self) -> dict:
        """Everything but the audio, as JSON-ready values."""
        return {"class": CLASSES[self.label], "label": self.label, "seed": self.seed, "sample_rate": SAMPLE_RATE,
                "samples": len(self.audio), "bursts": [asdict(e) for e in self.bursts],
                "distractors": [asdict(e) for e in self.distractors]}


def make_clip(label: int, seed: int, seconds: float = 3.0, bursts: int = 1, burst_seconds: float = 0.4,
              clicks: int = 0, tones: int = 0) -> SyntheticClip:
    """Pink-ish noise, ``bursts`` harmonic tone bursts in the class's band at random onsets, then
    ``clicks`` broadband clicks (never within :data:`GAP_SECONDS` of a burst) and ``tones`` pure tones
    from :data:`DISTRACTOR_HZ` at random onsets. Without distractors the audio is that of earlier
    versions (the distractors' draws come after the bursts')."""
    rng = np.random.default_rng(seed)
    n = round(seconds * SAMPLE_RATE)
    noise = np.cumsum(rng.standard_normal(n)) * 0.002
    noise -= np.convolve(noise, np.ones(2048) / 2048, mode="same")  # drop the random walk's drift
    audio = 0.05 * noise / (np.abs(noise).max() + 1e-9)
    length = int(burst_seconds * SAMPLE_RATE)
    if length >= n:
        raise SpecinterpError(f"synthetic clip: a burst of {burst_seconds} s does not fit in {seconds} s")
    class_events, spans = [], []
    for _ in range(bursts):
        start = int(rng.integers(0, n - length))
        hz = BAND_HZ[label] * float(rng.uniform(1 - JITTER, 1 + JITTER))
        audio[start : start + length] += 0.5 * _envelope(length, burst_seconds) * _partials(hz, HARMONICS, length)
        class_events.append(Event("burst", start / SAMPLE_RATE, length / SAMPLE_RATE, hz, HARMONICS))
        spans.append((start, start + length))
    distractors = []
    for _ in range(clicks):
        size = int(rng.uniform(*CLICK_SECONDS) * SAMPLE_RATE)
        start = _free_start(rng, n, size, spans, int(GAP_SECONDS * SAMPLE_RATE))
        audio[start : start + size] += DISTRACTOR_LEVEL * _envelope(size, size / SAMPLE_RATE) * rng.uniform(-1, 1, size)
        distractors.append(Event("click", start / SAMPLE_RATE, size / SAMPLE_RATE))
    for _ in range(tones):
        size = int(rng.uniform(*TONE_SECONDS) * SAMPLE_RATE)
        start = int(rng.integers(0, n - size))
        hz = float(rng.uniform(*DISTRACTOR_HZ[rng.integers(len(DISTRACTOR_HZ))]))
        envelope = DISTRACTOR_LEVEL * _envelope(size, size / SAMPLE_RATE)
        audio[start : start + size] += envelope * _partials(hz, (1,), size)
        distractors.append(Event("tone", start / SAMPLE_RATE, size / SAMPLE_RATE, hz, (1,)))
    return SyntheticClip(audio.astype(np.float32), label, tuple(class_events), tuple(distractors), seed)


def _envelope(length: int, seconds: float) -> np.ndarray:
    """``sin^2(pi t / seconds)`` over ``length`` samples: zero at the start and (nearly) at the end."""
    return np.sin(np.pi * (np.arange(length) / SAMPLE_RATE) / seconds) ** 2


def _partials(hz: float, harmonics: tuple[int, ...], length: int) -> np.ndarray:
    t = np.arange(length) / SAMPLE_RATE
    return sum(np.sin(2 * np.pi * hz * k * t) / k for k in harmonics)


def _free_start(rng: np.random.Generator, n: int, size: int, busy: list[tuple[int, int]], gap: int) -> int:
    """A uniform start in ``[0, n - size)`` whose ``size`` samples stay ``gap`` away from every busy span."""
    allowed = [(0, n - size)]
    for first, last in busy:
        cut = (first - gap - size + 1, last + gap)  # starts in [cut) would come within gap
        allowed = [piece for lo, hi in allowed for piece in ((lo, min(hi, cut[0])), (max(lo, cut[1]), hi))
                   if piece[1] > piece[0]]
    total = sum(hi - lo for lo, hi in allowed)
    if total <= 0:
        raise SpecinterpError(f"synthetic clip: no room for a click {GAP_SECONDS} s away from the bursts")
    pick = int(rng.integers(0, total))
    for lo, hi in allowed:
        if pick < hi - lo:
            return lo + pick
        pick -= hi - lo
    raise AssertionError("unreachable")


def make_set(per_class: int, seed: int = 0, **kwargs) -> list[SyntheticClip]:
    """``per_class`` clips of every class, seeded (clip ``i`` of class ``c``: seed ``seed * 100003 + c * 1009 + i``)."""
    return [make_clip(label, seed * 100_003 + label * 1009 + i, **kwargs)
            for label in range(len(BAND_HZ)) for i in range(per_class)]


def event_mask(event: Event, config: FrontendConfig = DEFAULT, frames: int | None = None) -> np.ndarray:
    """The cells ``(n_mels, frames)`` of ``config``'s log-mel grid that hold ``event``'s energy.

    Frame ``f`` (its Hann window spans ``f * hop +- n_fft / 2`` samples, centred frames) is in when that
    span meets the event's ``[onset, onset + duration]``. Band ``b`` (its triangle spans the centres of
    bands ``b - 1`` to ``b + 1`` on the config's mel scale) is in when that span meets
    ``[k hz - d, k hz + d]`` for a harmonic ``k``, with ``d = 2 sample_rate / n_fft`` the Hann window's
    main-lobe half width; a click takes every band. ``frames`` defaults to the frames of a clip that ends
    with the event.
    """
    rate = config.sample_rate
    half = config.n_fft / 2 / rate
    if frames is None:
        frames = config.frames(int(np.ceil((event.onset + event.duration) * rate)))
    times = np.arange(frames) * config.hop_length / rate
    in_time = (times - half < event.onset + event.duration) & (times + half > event.onset)
    if not event.harmonics:
        in_freq = np.ones(config.n_mels, dtype=bool)
    else:
        low, high = hz_to_mel(config.f_min, config.mel_scale), hz_to_mel(config.top_hz, config.mel_scale)
        edges = mel_to_hz(np.linspace(low, high, config.n_mels + 2), config.mel_scale)
        lo, hi = edges[:-2], edges[2:]
        lobe = 2 * rate / config.n_fft
        in_freq = np.zeros(config.n_mels, dtype=bool)
        for k in event.harmonics:
            in_freq |= (lo < k * event.hz + lobe) & (hi > k * event.hz - lobe)
    return in_freq[:, None] & in_time[None, :]


def _events(source: SyntheticClip | Iterable[Event]) -> list[Event]:
    return list(source.bursts + source.distractors) if isinstance(source, SyntheticClip) else list(source)


def _union(events: list[Event], config: FrontendConfig, frames: int) -> np.ndarray:
    mask = np.zeros((config.n_mels, frames), dtype=bool)
    for event in events:
        mask |= event_mask(event, config, frames)
    return mask


def truth_mask(source: SyntheticClip | Iterable[Event], config: FrontendConfig = DEFAULT,
               frames: int | None = None) -> np.ndarray:
    """Union of the class bursts' :func:`event_mask` ``(n_mels, frames)`` bool: where the class is decided.

    Parameters
    ----------
    source : SyntheticClip or iterable of Event
        A clip, or its events (distractors among them are left out).
    config : FrontendConfig
        The front end whose grid the mask is on.
    frames : int or None
        Frames of the log-mel; default: those of the clip's samples (a clip is needed then).
    """
    frames = _frames(source, config, frames)
    return _union([e for e in _events(source) if not e.distractor], config, frames)


def distractor_mask(source: SyntheticClip | Iterable[Event], config: FrontendConfig = DEFAULT,
                    frames: int | None = None) -> np.ndarray:
    """Union of the distractors' :func:`event_mask`, less the cells of :func:`truth_mask` (where the two
    meet, the class's energy is there too, so highlighting the cell is not wrong). On the default front
    end they never meet: clicks keep :data:`GAP_SECONDS` from bursts, tones stay in :data:`DISTRACTOR_HZ`."""
    frames = _frames(source, config, frames)
    events = _events(source)
    return _union([e for e in events if e.distractor], config, frames) & ~truth_mask(events, config, frames)


def _frames(source: SyntheticClip | Iterable[Event], config: FrontendConfig, frames: int | None) -> int:
    if frames is not None:
        return frames
    if not isinstance(source, SyntheticClip):
        raise SpecinterpError("truth mask: pass frames when giving events rather than a clip")
    return config.frames(round(len(source.audio) * config.sample_rate / SAMPLE_RATE))


def read_events(path: Path) -> tuple[list[Event], int]:
    """A clip's JSON (written beside its WAV): its events and its length in samples at :data:`SAMPLE_RATE`."""
    try:
        document = json.loads(Path(path).read_text())
        return ([Event.from_dict(e) for e in document["bursts"] + document["distractors"]], int(document["samples"]))
    except FileNotFoundError:
        raise SpecinterpError(
            f"{path}: no events file beside the clip (dataset written by an older version?)") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise SpecinterpError(f"{path}: not a synthetic clip's events ({type(exc).__name__}: {exc})") from None


class SyntheticDataset(Dataset):
    """The generated clips under a folder as ``<class>/<class>.NNNNN.wav`` plus ``.json`` events (made on first open).

    ``per_class`` clips of every class, :data:`CLIP_SECONDS` long, each with :data:`DATASET_EVENTS`.
    """

    name = "synthetic"
    classes = CLASSES

    def __init__(self, root: Path, per_class: int = 100, seed: int = 0) -> None:
        self.root = Path(root)
        if not self.root.exists():
            write(self.root, per_class, seed)
        self._clips = [Clip(f"{c}/{p.stem}", p, i) for i, c in enumerate(CLASSES)
                       for p in sorted((self.root / c).glob("*.wav"))]
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

    def truth(self, clip: Clip, config: FrontendConfig = DEFAULT,
              frames: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """``(truth_mask, distractor_mask)`` of a clip on ``config``'s grid, from its JSON of events.

        ``frames`` defaults to the frames of the clip's samples at the front end's rate.
        """
        path = Path(clip.path)
        events, samples = read_events(path.parent / f"{path.stem}.json")
        if frames is None:
            frames = config.frames(round(samples * config.sample_rate / SAMPLE_RATE))
        return truth_mask(events, config, frames), distractor_mask(events, config, frames)


def write(root: Path, per_class: int, seed: int = 0, **kwargs) -> None:
    """``make_set(per_class, seed)`` with :data:`CLIP_SECONDS` and :data:`DATASET_EVENTS` (``kwargs``
    override them) as float WAVs (exact samples, no clipping) and JSONs of events.

    The set is made in a hidden ``.part`` folder beside ``root`` and moved onto it whole, as
    :func:`specinterp.outputs.atomic_write` does for a file: a run stopped half-way leaves no partial
    set, and of two processes making it at once the first to finish provides it.
    """
    options = {"seconds": CLIP_SECONDS, **DATASET_EVENTS, **kwargs}
    staging = root.parent / f".{root.name}.{os.getpid()}{TEMP_SUFFIX}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        for i, clip in enumerate(make_set(per_class, seed, **options)):
            folder = staging / CLASSES[clip.label]
            folder.mkdir(exist_ok=True)
            stem = f"{CLASSES[clip.label]}.{i:05d}"
            sf.write(folder / f"{stem}.wav", clip.audio, SAMPLE_RATE, subtype="FLOAT")
            (folder / f"{stem}.json").write_text(json.dumps(clip.to_dict(), indent=1))
        _move_into_place(staging, root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _move_into_place(staging: Path, root: Path) -> None:
    """Rename ``staging`` onto ``root``, unless another process has made ``root`` meanwhile."""
    try:
        os.replace(staging, root)
    except OSError:
        if not root.is_dir():
            raise


@hookimpl
def register_datasets(register) -> None:
    register(DatasetPlugin(
        name="synthetic", open=SyntheticDataset,
        description="tone bursts and distractors at known time/frequency positions (made on first open)"))
