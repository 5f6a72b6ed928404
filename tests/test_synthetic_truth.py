"""The synthetic dataset's ground truth: masks hold the events' energy and little else, distractors stay
apart from the class, events survive the JSON beside each WAV, and the shipped camcnn-synthetic is right."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

import specinterp
from specinterp import audio, frontend
from specinterp.frontend import DEFAULT, FrontendConfig
from specinterp.interfaces import SpecinterpError
from specinterp_plugins.datasets import synthetic as syn

MUSICNN_LIKE = FrontendConfig(sample_rate=16000, n_fft=512, hop_length=256, n_mels=96, mel_scale="slaney",
                              mel_norm="slaney")


def power(samples: np.ndarray, config: FrontendConfig) -> np.ndarray:
    """Mel power (before the log) of samples at the synthetic rate, resampled to the front end's."""
    samples = audio.resample(samples.astype(np.float32), syn.SAMPLE_RATE, config.sample_rate)
    with torch.no_grad():
        return frontend.LogMel(config).mel(torch.from_numpy(samples)).numpy()


def parts(label: int, seed: int) -> tuple[syn.SyntheticClip, np.ndarray, np.ndarray]:
    """A dataset clip, its class bursts alone and its distractors alone (differences of seeded clips:
    the noise is drawn first, the bursts next, the distractors last)."""
    kwargs = {"seconds": syn.CLIP_SECONDS}
    full = syn.make_clip(label, seed, **kwargs, **syn.DATASET_EVENTS)
    with_bursts = syn.make_clip(label, seed, **kwargs, bursts=syn.DATASET_EVENTS["bursts"])
    noise = syn.make_clip(label, seed, **kwargs, bursts=0)
    return full, with_bursts.audio - noise.audio.astype(np.float64), full.audio - with_bursts.audio.astype(np.float64)


@pytest.mark.parametrize("config", [DEFAULT, MUSICNN_LIKE], ids=["camcnn", "musicnn-like"])
@pytest.mark.parametrize("label", range(len(syn.CLASSES)))
def test_masks_hold_their_events_energy_on_a_small_area(label, config):
    clip, bursts, distractors = parts(label, seed=11)
    p, q = power(bursts, config), power(distractors, config)
    truth, other = syn.truth_mask(clip, config), syn.distractor_mask(clip, config)
    assert truth.shape == other.shape == p.shape
    assert p[truth].sum() / p.sum() > 0.995
    assert q[other].sum() / q.sum() > 0.995
    assert truth.mean() < 0.03  # one 0.4 s burst, three partials: a few % of a 3 s clip's grid
    burst = clip.bursts[0]
    frames = np.flatnonzero(truth.any(axis=0))
    span = (burst.duration + config.n_fft / config.sample_rate) * config.sample_rate / config.hop_length
    assert len(frames) <= np.ceil(span) + 1 and np.all(np.diff(frames) == 1)
    fundamental = np.argmin(np.abs(frontend.mel_band_hz(config) - burst.hz))
    assert truth[fundamental, frames].all()


def test_frames_outside_the_truth_hold_no_burst_energy():
    clip, bursts, _ = parts(3, seed=5)
    p = power(bursts, DEFAULT)
    outside = ~syn.truth_mask(clip).any(axis=0)
    assert outside.sum() > 64 and p[:, outside].max() < 1e-9 * p.max()


def bands(low: float, high: float, harmonics: tuple[int, ...] = (1,)) -> np.ndarray:
    """Mel bands (default grid) that a tone of any fundamental in ``[low, high]`` Hz reaches."""
    grid = [syn.Event("tone", 0.0, 0.1, hz, harmonics) for hz in np.linspace(low, high, 200)]
    return np.any([syn.event_mask(e, DEFAULT, 1)[:, 0] for e in grid], axis=0)


def test_distractors_never_meet_the_class_on_the_default_grid():
    """Clicks keep GAP_SECONDS from every burst; tones stay in DISTRACTOR_HZ, whose bands meet no
    class partial's for any jitter."""
    for clip in syn.make_set(6, seed=3, seconds=syn.CLIP_SECONDS, **syn.DATASET_EVENTS):
        assert [e.kind for e in clip.distractors] == ["click"] * 2 + ["tone"]
        raw = np.zeros_like(syn.truth_mask(clip))
        for event in clip.distractors:
            raw |= syn.event_mask(event, DEFAULT, raw.shape[1])
        assert raw.any() and not (raw & syn.truth_mask(clip)).any()
        for click in clip.distractors[:2]:
            for burst in clip.bursts:
                gap = max(burst.onset - click.onset - click.duration, click.onset - burst.onset - burst.duration)
                assert gap >= syn.GAP_SECONDS - 1 / syn.SAMPLE_RATE
    class_bands = np.any([bands(b * (1 - syn.JITTER), b * (1 + syn.JITTER), syn.HARMONICS) for b in syn.BAND_HZ],
                         axis=0)
    for low, high in syn.DISTRACTOR_HZ:
        assert not (bands(low, high) & class_bands).any()


def test_where_a_distractor_meets_the_class_the_class_wins():
    burst = syn.Event("burst", 1.0, 0.4, 600.0, (1, 2, 3))
    click = syn.Event("click", 1.3, 0.02)  # inside the burst: not how clips are made, but events may be given
    truth, other = syn.truth_mask([burst, click], DEFAULT, 128), syn.distractor_mask([burst, click], DEFAULT, 128)
    click_alone = syn.event_mask(click, DEFAULT, 128)
    assert (truth & click_alone).any() and not (truth & other).any()
    assert np.array_equal(other, click_alone & ~truth)


def test_clips_are_deterministic_by_seed_and_old_clips_unchanged():
    a = syn.make_clip(1, 42, seconds=syn.CLIP_SECONDS, **syn.DATASET_EVENTS)
    b = syn.make_clip(1, 42, seconds=syn.CLIP_SECONDS, **syn.DATASET_EVENTS)
    c = syn.make_clip(1, 43, seconds=syn.CLIP_SECONDS, **syn.DATASET_EVENTS)
    assert np.array_equal(a.audio, b.audio) and a.bursts == b.bursts and a.distractors == b.distractors
    assert not np.array_equal(a.audio, c.audio) and a.distractors != c.distractors
    assert len(a.audio) == 127 * 512 and DEFAULT.frames(len(a.audio)) == DEFAULT.window_frames
    old = syn.make_clip(2, 5)  # the defaults: 3 s, one burst, no distractors, as before distractors existed
    assert old.events == ((1.8349206349206348, 593.2184612021397),) and old.distractors == ()
    assert float(old.audio.astype(np.float64).sum()) == pytest.approx(22.182134357907962, rel=1e-6)


def test_dataset_on_disk_carries_its_truth(tmp_path):
    dataset = syn.SyntheticDataset(tmp_path / "synthetic", per_class=2, seed=9)
    clips = dataset.clips()
    assert len(clips) == 10 and all(c.path.with_name(c.path.stem + ".json").is_file() for c in clips)
    made = syn.make_set(2, seed=9, seconds=syn.CLIP_SECONDS, **syn.DATASET_EVENTS)
    for clip, original in zip(clips, made, strict=True):
        assert clip.label == original.label
        samples, rate = sf.read(clip.path, dtype="float32")
        assert rate == syn.SAMPLE_RATE and np.array_equal(samples, original.audio)  # float WAV: exact
        events, count = syn.read_events(clip.path.with_name(clip.path.stem + ".json"))
        assert events == list(original.bursts + original.distractors) and count == len(original.audio)
        for config in (DEFAULT, MUSICNN_LIKE):
            truth, other = dataset.truth(clip, config)
            assert truth.shape[1] == frontend.log_mel(audio.load(clip.path, config.sample_rate), config).shape[1]
            assert np.array_equal(truth, syn.truth_mask(original, config))
            assert np.array_equal(other, syn.distractor_mask(original, config))
    clips[0].path.with_name(clips[0].path.stem + ".json").unlink()
    with pytest.raises(SpecinterpError, match="no events file"):
        dataset.truth(clips[0])


def test_shipped_camcnn_synthetic_classifies_fresh_clips():
    loaded = specinterp.load_model("camcnn", variant="synthetic")
    assert loaded.classes == syn.CLASSES and loaded.path.stat().st_size < 1.5 * 2**20
    clips = syn.make_set(10, seed=2024, seconds=syn.CLIP_SECONDS, **syn.DATASET_EVENTS)  # training used seed 0
    with torch.no_grad():
        windows = frontend.LogMel(loaded.frontend)(torch.from_numpy(np.stack([c.audio for c in clips])))[:, None]
        predicted = loaded.module(windows).argmax(dim=1).numpy()
    assert windows.shape[-1] == loaded.frontend.window_frames  # one window covers the clip
    assert (predicted == np.array([c.label for c in clips])).mean() >= 0.9
