"""Our front end against musicnn's extractor, and the whole pipeline against the original taggrams.

The fixtures (scripts/musicnn_reference.py) hold musicnn's extractor output on two clips: librosa at
16 kHz, n_fft 512, hop 256, 96 Slaney mels, the power cast to float16, then ``log10(10000 x + 1)``
evaluated in float16. Our front end rounds the power to float16 as the extractor does but takes the
product and log in float32 (the extractor's float16 product overflows on loud music), so the two
agree to one float16 step; the extractor's own float16 arithmetic applied to our mel power gives its
values bin for bin. The clips are scaled below the overflow, where both are defined.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from specinterp import api, audio, frontend, weights

FIXTURES = Path(__file__).parent / "fixtures" / "musicnn"
REPO = Path(__file__).resolve().parents[1]


@cache
def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def clip(name: str) -> np.ndarray:
    """The fixture's audio at 16 kHz, as the extractor read it."""
    if name == "synthetic":
        return audio.load(FIXTURES / "synthetic.wav", 16000)
    data, rate = sf.read(REPO / "examples" / "example.ogg", dtype="float32", always_2d=True)
    excerpt = data.mean(axis=1)[: 12 * rate] * fixture(name)["gain"]
    return audio.resample(excerpt, rate, 16000)


def extractor_logmel(name: str) -> np.ndarray:
    """The extractor's log-mel ``(96, frames)``."""
    return np.asarray(fixture(name)["logmel"], dtype=np.float32).T


CONFIG = weights.resolve("musicnn-msd").frontend


def test_the_ported_front_end_is_musicnns() -> None:
    assert (CONFIG.sample_rate, CONFIG.n_fft, CONFIG.hop_length, CONFIG.n_mels) == (16000, 512, 256, 96)
    assert (CONFIG.mel_scale, CONFIG.mel_norm, CONFIG.log, CONFIG.log_multiplier, CONFIG.dtype) == (
        "slaney", "slaney", "log10p", 10000.0, "float16")
    assert (CONFIG.window_frames, CONFIG.window_hop) == (187, 187)


@pytest.mark.parametrize("name", ["synthetic", "example"])
def test_front_end_matches_the_extractor(name: str) -> None:
    expected = extractor_logmel(name)
    x = clip(name)
    ours = frontend.log_mel(x, CONFIG)
    assert ours.shape[0] == 96 and ours.shape[1] >= expected.shape[1]
    ours = ours[:, : expected.shape[1]]
    # the extractor rounds in float16 the product 10000 x (relative 2^-11: at most 2^-11 / ln 10 = 2.12e-4
    # after the log) and the log itself (one float16 step of the value); where our power and librosa's
    # (equal to ~1e-6) fall on two sides of a float16 boundary, the power's rounding adds one more 2.12e-4
    step = np.spacing(np.abs(expected).astype(np.float16)).astype(np.float32)
    assert np.all(np.abs(ours - expected) <= step + 2 * 2.12e-4), "further from the extractor than its float16 rounding"
    with torch.no_grad():
        power = frontend.LogMel(CONFIG).mel(torch.from_numpy(x)).numpy()[:, : expected.shape[1]]
    emulated = np.log10(10000 * power.astype(np.float16) + 1)  # the extractor's float16 arithmetic
    assert emulated.dtype == np.float16
    assert np.mean(emulated == expected.astype(np.float16)) >= 0.995


@pytest.mark.parametrize("name", ["synthetic", "example"])
@pytest.mark.parametrize("model", ["musicnn-msd", "musicnn-mtt", "vgg-msd", "vgg-mtt"])
def test_whole_pipeline_matches_the_original_taggram(name: str, model: str) -> None:
    """Audio -> our front end -> port: within 1e-3 of TensorFlow on the extractor's float16 input."""
    expected = np.asarray(fixture(name)["models"][model]["taggram"])
    prediction = api.predict(clip(name), model=model, sample_rate=16000)
    assert prediction.multilabel and len(prediction.classes) == 50
    assert list(prediction.classes) == fixture(name)["models"][model]["tags"]
    assert np.abs(prediction.window_probabilities[: len(expected)] - expected).max() <= 1e-3
