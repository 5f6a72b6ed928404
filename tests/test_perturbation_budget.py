"""The perturbation explainers' default cost (windows through the model per explained window) and the
cheaper defaults' agreement with the old ones: Score-CAM over 64 channels vs all, occlusion at stride
[8, 16] vs [8, 8] (rank correlation of the maps). No wall-clock assertions."""

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr
from torch import nn

from conftest import REPO, tone_mix
from specinterp import api, audio, frontend, inference
from specinterp.plugins import registry

EXAMPLE = REPO / "examples" / "example.ogg"


def windows_of(waveform: np.ndarray, loaded) -> tuple[torch.Tensor, torch.Tensor]:
    """A waveform's windows and, per window, the song's predicted class."""
    prediction, windows = inference.predict(loaded.module, frontend.log_mel(waveform, loaded.frontend),
                                            loaded.classes, None, loaded.frontend)
    x = torch.from_numpy(windows.data)
    return x, torch.full((len(x),), prediction.index)


def rank_agreement(a: torch.Tensor, b: torch.Tensor) -> list[float]:
    """Spearman's rho between two explainers' maps, window by window."""
    return [float(spearmanr(m.ravel(), n.ravel()).statistic) for m, n in zip(a.numpy(), b.numpy(), strict=True)]


@pytest.fixture(scope="module")
def camcnn():
    return api.load_model("camcnn")


def wide_cheap_camcnn() -> nn.Module:
    """A random CAMCNN with camcnn's 128 feature channels but thin early layers (fast forwards)."""
    torch.manual_seed(0)
    return registry().models["camcnn"].build({"classes": 10, "channels": [2, 4, 4, 8, 128]}).eval()


@pytest.mark.parametrize("name, per_window", [
    ("occlusion", 1 + 15 * 8),  # the unoccluded window, then 15 x 8 patch positions
    ("scorecam", 1 + 1 + 64),  # the layer's maps, the silent window, 64 masked windows
    ("lime-music", 100),  # one per LIME sample
])
def test_default_cost_in_windows_through_the_model(name, per_window):
    model, seen = wide_cheap_camcnn(), []
    hook = model.register_forward_pre_hook(lambda module, args: seen.append(len(args[0])))
    x = torch.from_numpy(np.stack([frontend.log_mel(tone_mix(3.2, (220.0, 3000.0), seed=s))[None, :, :128]
                                   for s in range(2)]))
    try:
        registry().explainers[name].explain(model, x, torch.tensor([3, 3]))
    finally:
        hook.remove()
    assert sum(seen) == per_window * len(x)


def test_scorecam_refuses_a_bad_channel_count():
    with pytest.raises(ValueError, match="option channels must be a positive integer"):
        registry().explainers["scorecam"].explain(wide_cheap_camcnn(), torch.zeros(1, 1, 128, 128), torch.tensor([0]),
                                                  channels=0)


def test_scorecam_default_channels_rank_like_all_channels(camcnn):
    x, target = windows_of(tone_mix(4.5, (220.0, 330.0, 1760.0, 5000.0), seed=0), camcnn)
    x, target = x[:2], target[:2]
    scorecam = registry().explainers["scorecam"]
    every = scorecam.explain(camcnn.module, x, target, channels=128)["scorecam"]
    default = scorecam.explain(camcnn.module, x, target)["scorecam"]
    assert min(rank_agreement(every, default)) >= 0.9  # measured 0.93-0.98
    assert not torch.equal(every, default)


def test_occlusion_default_stride_ranks_like_the_old_one(camcnn):
    x, target = windows_of(audio.load(EXAMPLE)[: 22050 * 3], camcnn)
    x, target = x[:1], target[:1]  # the example's first window
    occlusion = registry().explainers["occlusion"]
    old = occlusion.explain(camcnn.module, x, target, stride=[8, 8])["occlusion"]
    default = occlusion.explain(camcnn.module, x, target)["occlusion"]
    assert rank_agreement(old, default)[0] >= 0.9  # measured 0.93 (the song's maps: 0.95)


@pytest.mark.slow
def test_new_defaults_rank_like_the_old_on_the_whole_example():
    """The figures in docs/explainers.md: song maps of the bundled example, old vs new defaults."""
    old_options = {"occlusion": {"stride": [8, 8]}, "scorecam": {"channels": 128}}
    for name, options in old_options.items():
        old = api.explain(EXAMPLE, "camcnn", name, options=options).maps[name]
        new = api.explain(EXAMPLE, "camcnn", name).maps[name]
        assert spearmanr(old.ravel(), new.ravel()).statistic >= 0.9, name
