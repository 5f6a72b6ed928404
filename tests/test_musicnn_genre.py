"""musicnn-genre: a genre head on the frozen musicnn-msd body (no GTZAN needed, except the slow test)."""

from __future__ import annotations

from functools import lru_cache

import pytest
import torch

from conftest import SHARED_GTZAN
from specinterp import weights
from specinterp.plugins import registry

GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")


@lru_cache(maxsize=1)
def plugin():
    return registry().get("models", "musicnn-genre")


def windows(n: int = 3, seed: int = 0) -> torch.Tensor:
    """Random windows on musicnn's grid (96 mels x 187 frames), roughly its log10(1 + 10000 x) range."""
    return 2.0 * torch.rand(n, 1, 96, 187, generator=torch.Generator().manual_seed(seed))


def test_builds_with_the_frozen_msd_body_and_a_trainable_head():
    module = plugin().build(plugin().default_config())
    assert module(windows()).shape == (3, 10)
    assert module.multilabel is False and "gradients" in module.capabilities
    assert not any(p.requires_grad for p in module.body.parameters())
    trainable = [name for name, p in module.named_parameters() if p.requires_grad]
    assert trainable and all(name.startswith("head.") for name in trainable)
    assert set(module.explainable_layers) >= {"timbral", "temporal", "midend1", "features"}
    assert all(any(layer is m for m in module.body.modules()) for layer in module.explainable_layers.values())
    msd = weights.resolve("musicnn-msd").module  # the body is musicnn-msd's, weights and all
    with torch.no_grad():
        torch.testing.assert_close(module.eval().penultimate(windows()), msd.penultimate(windows()))
    frontend = plugin().default_frontend()
    assert (frontend["sample_rate"], frontend["n_mels"], frontend["window_frames"]) == (16000, 96, 187)
    assert frontend["window_hop"] == 93


def test_one_training_step_moves_the_head_only():
    module = plugin().build({"classes": 10})
    body = {k: v.clone() for k, v in module.body.state_dict().items()}  # parameters and BN running stats
    head = {k: v.clone() for k, v in module.head.state_dict().items()}
    module.train()
    assert module.training and module.head.training and not module.body.training
    assert not any(m.training for m in module.body.modules())
    optimizer = torch.optim.AdamW(module.parameters(), lr=1e-2, weight_decay=1e-3)  # as the trainer: all parameters
    loss = torch.nn.functional.cross_entropy(module(windows(8, seed=1)), torch.arange(8) % 10)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    for key, value in module.body.state_dict().items():  # weights, BN running means / variances / counts
        assert torch.equal(value, body[key]), key
    assert any(not torch.equal(v, head[k]) for k, v in module.head.state_dict().items())
    assert all(p.grad is None for p in module.body.parameters())


def test_gradients_reach_the_input_through_the_frozen_body():
    module = plugin().build({}).eval()
    x = windows(2).requires_grad_(True)
    module(x)[:, 3].sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


@pytest.mark.parametrize("split", ["random", "filtered"])
def test_shipped_weights_load(split):
    loaded = weights.resolve("musicnn-genre", variant=split)
    assert loaded.classes == GENRES and not loaded.multilabel
    assert loaded.frontend.sample_rate == 16000 and loaded.frontend.window_frames == 187
    assert loaded.meta["split"] == split and loaded.meta["dataset"] == "gtzan"
    assert weights.resolve("musicnn-genre").path.name == "musicnn-genre-random.safetensors"  # the default variant
    assert not any(p.requires_grad for p in loaded.module.body.parameters())
    with torch.no_grad():
        assert loaded.module(windows()).shape == (3, 10)
    assert loaded.path.stat().st_size < 5_000_000


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_GTZAN / "classical" / "classical.00000.ogg").is_file(),
                    reason="real GTZAN copy not present (../shared/gtzan)")
def test_predicts_and_explains_a_real_clip():
    from specinterp import api

    explanation = api.explain(SHARED_GTZAN / "classical" / "classical.00000.ogg", model="musicnn-genre",
                              explainer="gradcam")
    assert explanation.prediction.label == "classical"
    assert explanation.frontend.sample_rate == 16000
    (gradcam,) = explanation.maps.values()
    assert gradcam.shape == explanation.spectrogram.shape and gradcam.max() > gradcam.min()
