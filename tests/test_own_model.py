"""Bring your own model: the example in docs/own-model.md runs as written, with a module that is no plugin."""

from __future__ import annotations

import re
import wave
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import specinterp
from specinterp.frontend import FrontendConfig
from specinterp.interfaces import SpecinterpError

DOC = Path(__file__).resolve().parents[1] / "docs" / "own-model.md"


def test_the_documented_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
    assert blocks, "docs/own-model.md has no python example"
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(blocks[0], str(DOC), "exec"), scope)
    explanation = scope["explanation"]
    assert explanation.prediction.multilabel
    assert explanation.prediction.probabilities.shape == (4,)
    assert set(explanation.maps) == {"gradcam", "cam"}
    assert explanation.target_name == "voice"
    assert explanation.spectrogram.shape[0] == 64
    assert explanation.sample_rate == 16000
    names = sorted(p.name for p in (tmp_path / "own-model-out").iterdir())
    assert "waveform.gradcam+cam.png" in names and "waveform.gradcam+cam.html" in names
    with wave.open(str(tmp_path / "own-model-out" / "waveform.gradcam+cam.gradcam.wav")) as w:
        assert w.getframerate() == 16000
        assert abs(w.getnframes() / 16000 - 8.0) < 0.01  # the input's duration on the model's grid
    assert "voice" in capsys.readouterr().out


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 6, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(6, 3)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(windows).mean(dim=(2, 3)))


FRONT = FrontendConfig(sample_rate=8000, n_fft=512, hop_length=128, n_mels=40, window_frames=32, window_hop=16)


def test_a_single_label_module_with_named_layers_and_refusals() -> None:
    torch.manual_seed(1)
    net = Net()
    audio = np.random.default_rng(0).standard_normal(8000 * 3).astype(np.float32) * 0.1
    explanation = specinterp.explain(audio, model=net, frontend=FRONT, classes=["a", "b", "c"], explainer="gradcam",
                                     options={"layer": "body.2"})
    assert not explanation.prediction.multilabel
    assert abs(explanation.prediction.probabilities.sum() - 1) < 1e-5
    assert explanation.maps["gradcam"].shape == explanation.spectrogram.shape == (40, 3 * 8000 // 128 + 1)
    with pytest.raises(SpecinterpError, match="lacks gap-linear-head"):
        specinterp.explain(audio, model=net, frontend=FRONT, classes=["a", "b", "c"], explainer="cam")
    with pytest.raises(SpecinterpError, match="classes"):
        specinterp.explain(audio, model=net, frontend=FRONT, explainer="gradcam")
    with pytest.raises(SpecinterpError, match=r"expected \(windows, 2\)"):
        specinterp.predict(audio, model=net, frontend=FRONT, classes=["a", "b"])
    with pytest.raises(SpecinterpError, match="unknown field"):
        specinterp.predict(audio, model=net, frontend={"sample_rate": 8000, "mels": 40}, classes=["a", "b", "c"])
