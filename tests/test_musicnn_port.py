"""The musicnn port against taggrams recorded with the original TensorFlow graphs.

``tests/fixtures/musicnn/*.json`` come from ``scripts/musicnn_reference.py``: musicnn's own log-mel
patches of two clips and, per model, the sigmoid outputs of the original TF 1 graph on those patches.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest
import torch

from specinterp import weights
from specinterp.plugins import registry

FIXTURES = Path(__file__).parent / "fixtures" / "musicnn"
MODELS = ("musicnn-msd", "musicnn-mtt", "vgg-msd", "vgg-mtt")
INPUTS = ("example", "synthetic")
TOLERANCE = 1e-4


@cache
def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


@cache
def model(name: str) -> torch.nn.Module:
    return weights.resolve(name).module


def windows(document: dict) -> torch.Tensor:
    """The fixture's patches as the port reads them: ``(N, 1, 96 mels, 187 frames)``."""
    logmel = torch.tensor(document["logmel"], dtype=torch.float32)  # (frames, 96)
    frames = document["patch_frames"]
    patches = torch.stack([logmel[s:s + frames] for s in document["patch_starts"]])  # (N, 187, 96)
    return patches.transpose(1, 2).unsqueeze(1)


@pytest.mark.parametrize("name", MODELS)
def test_port_matches_the_tensorflow_taggrams(name):
    module = model(name)
    for clip in INPUTS:
        document = fixture(clip)
        expected = np.asarray(document["models"][name]["taggram"])
        with torch.no_grad():
            got = torch.sigmoid(module(windows(document))).numpy()
        assert got.shape == expected.shape == (len(document["patch_starts"]), 50)
        assert np.abs(got - expected).max() <= TOLERANCE, f"{name} on {clip}"
        assert list(weights.resolve(name).classes) == document["models"][name]["tags"]


@pytest.mark.parametrize("name", MODELS)
def test_shipped_files_plugin_and_provenance(name):
    plugin = registry().models[name]
    shipped = plugin.weights()
    assert list(shipped) == [name.split("-")[1]]
    path = shipped[name.split("-")[1]]
    assert path.stat().st_size < 5 * 1024 * 1024
    assert (path.parent / "LICENSE-musicnn.txt").is_file()
    document = json.loads(path.with_suffix(".json").read_text())
    assert document["model"] == name and document["output"] == "multilabel" and len(document["classes"]) == 50
    assert document["frontend"]["sample_rate"] == 16000 and document["frontend"]["window_frames"] == 187
    assert document["meta"]["license"].startswith("ISC") and document["meta"]["sha256_of_checkpoint_data"]


@pytest.mark.parametrize("name", MODELS)
def test_layers_and_penultimate(name):
    module = model(name)
    assert "gradients" in module.capabilities and "features" in module.explainable_layers
    x = windows(fixture("synthetic"))
    outputs = {}
    hooks = [layer.register_forward_hook(lambda _m, _i, out, key=key: outputs.__setitem__(key, out))
             for key, layer in module.explainable_layers.items()]
    try:
        with torch.no_grad():
            module(x)
    finally:
        for hook in hooks:
            hook.remove()
    assert set(outputs) == set(module.explainable_layers)
    for key, out in outputs.items():
        assert out.dim() == 4 and out.shape[0] == 1, (key, tuple(out.shape))
        assert out.shape[2] in (1, 96) or name.startswith("vgg"), (key, tuple(out.shape))
    if name.startswith("musicnn"):
        assert outputs["features"].shape == (1, 753, 1, 187)
        assert outputs["temporal128"].shape == (1, 51, 96, 187)
        assert {f"midend{i}" for i in (1, 2, 3)} | {"timbral", "temporal"} <= set(outputs)
    else:
        assert outputs["conv1"].shape == (1, 128, 96, 187) and outputs["features"].shape == (1, 128, 6, 11)
    with torch.no_grad():
        features = module.penultimate(x)
    assert features.shape == (1, 200 if name.startswith("musicnn") else 256)


def test_musicnn_takes_other_window_lengths():
    module = model("musicnn-mtt")
    with torch.no_grad():
        assert module(torch.zeros(2, 1, 96, 64)).shape == (2, 50)


def test_gradients_reach_the_input():
    for name in ("musicnn-msd", "vgg-mtt"):
        x = windows(fixture("synthetic")).requires_grad_(True)
        model(name)(x)[:, 3].sum().backward()
        assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
