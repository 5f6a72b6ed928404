"""Score-CAM, LayerCAM, Grad-CAM++ and lime-music: shapes, option errors, and cases with known answers."""

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import tone_mix
from specinterp import frontend
from specinterp.api import explain
from specinterp.interfaces import Explanation, Prediction, SpecinterpError
from specinterp.plugins import registry
from specinterp.weights import LoadedModel
from specinterp_plugins.explainers.layercam import gradcam_pp, gradcam_pp_weights, layer_cam, maps_and_gradients
from specinterp_plugins.explainers.lime_music import (
    DEFAULT_BANDS,
    component_mask,
    remix,
    split_parts,
    window_weights,
)
from specinterp_plugins.explainers.scorecam import channel_weights, score_cam

CAMS = ("scorecam", "layercam", "gradcam++")
GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")
HIGH_ROWS = torch.from_numpy(np.flatnonzero(frontend.mel_band_hz() >= 4000.0))
LOW_ROWS = torch.from_numpy(np.flatnonzero(frontend.mel_band_hz() < 1000.0))


def small_camcnn() -> nn.Module:
    """A random CAMCNN (8 x 8 x 16 features) with non-trivial batch-norm statistics, in eval mode."""
    torch.manual_seed(0)
    model = registry().models["camcnn"].build({"classes": 10, "channels": [4, 8, 8, 16, 16]})
    model.train()
    with torch.no_grad():
        model(torch.randn(16, 1, 128, 128) * 10 - 40)
    return model.eval()


@pytest.fixture(scope="module")
def camcnn() -> nn.Module:
    return small_camcnn()


@pytest.fixture(scope="module")
def windows() -> torch.Tensor:
    torch.manual_seed(1)
    return torch.randn(2, 1, 128, 128) * 10 - 40


def hooks(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) for m in model.modules())


# ---------------------------------------------------------------- all CAMs

@pytest.mark.parametrize("name", CAMS)
def test_cams_give_finite_non_negative_varying_maps_and_leave_no_hooks(name, camcnn, windows):
    camcnn.train()
    try:  # classes the random model scores lower on silence than on these windows, so Score-CAM has gains
        maps = registry().explainers[name].explain(camcnn, windows, torch.tensor([1, 6]))
    finally:
        restored = camcnn.training
        camcnn.eval()
    assert restored and hooks(camcnn) == 0
    assert list(maps) == [name] and maps[name].shape == (2, 128, 128)
    assert torch.isfinite(maps[name]).all() and (maps[name] >= 0).all()
    assert (maps[name].flatten(1).std(dim=1) > 0).all()


@pytest.mark.parametrize("name", CAMS)
@pytest.mark.parametrize("options, message", [
    ({"bogus": 1}, "unknown option 'bogus'"),
    ({"layer": "conv9"}, "unknown layer 'conv9'"),
])
def test_cams_refuse_unknown_options_and_layers(name, options, message, camcnn, windows):
    with pytest.raises(ValueError, match=message) as info:
        registry().explainers[name].explain(camcnn, windows, torch.tensor([0, 0]), **options)
    assert "\n" not in str(info.value)


def test_scorecam_refuses_a_bad_batch_size(camcnn, windows):
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        registry().explainers["scorecam"].explain(camcnn, windows, torch.tensor([0, 0]), batch_size=0)


# ---------------------------------------------------------------- Score-CAM

class CellMaps(nn.Module):
    """Channel k of 64 holds the mean level (dB above -100) of 16 x 16 cell k, at that cell only."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x + 100.0, 16) * torch.eye(64).view(64, 8, 8)


class RegionNet(nn.Module):
    """Class 1's logit rises with the level of the cells in rows 6-7, columns 0-1 (high bands, first 0.7 s)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = CellMaps()
        self.register_buffer("region", torch.zeros(8, 8))
        self.region[6:, :2] = 1.0

    @property
    def explainable_layers(self) -> dict[str, nn.Module]:
        return {"features": self.features}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        level = (self.features(x).sum(dim=1) * self.region).sum(dim=(1, 2)) / self.region.sum()
        return torch.stack([torch.zeros_like(level), 0.2 * level - 8.0], dim=1)


def test_scorecam_finds_the_only_region_the_model_reads():
    torch.manual_seed(2)
    x = torch.rand(3, 1, 128, 128) * -80.0
    model, target = RegionNet(), torch.ones(3, dtype=torch.long)
    with torch.no_grad():
        low = score_cam(model, "features", x, target, batch_size=50)
        weights = channel_weights(model, x, target, model.features(x), batch_size=50)
    region = model.region.bool()
    assert (low[:, region].amin(dim=1) > low[:, ~region].amax(dim=1)).all()
    assert weights[:, 7].abs().max() < 1e-6  # a far cell's mask leaves the region silent: no gain over silence
    full = registry().explainers["scorecam"].explain(model, x, target, batch_size=50)["scorecam"]
    assert (full[:, 96:, :32].mean(dim=(1, 2)) > 10 * full[:, :64, 64:].mean(dim=(1, 2))).all()


# ---------------------------------------------------------------- LayerCAM and Grad-CAM++

def test_layercam_of_a_gap_linear_head_is_the_positive_weight_cam(camcnn, windows):
    """GAP + one dense layer: d logit_c / d A_k = W[c, k] / (h w) everywhere, so
    LayerCAM = ReLU(sum_k ReLU(W[c, k]) A_k) / (h w)."""
    target = torch.tensor([3, 7])
    maps, gradients = maps_and_gradients(camcnn, "features", windows, target)
    h, w = maps.shape[-2:]
    weight = camcnn.classifier.weight[target].detach()
    torch.testing.assert_close(gradients, (weight / (h * w))[:, :, None, None].expand_as(gradients))
    expected = torch.relu(torch.einsum("nk,nkhw->nhw", torch.relu(weight), maps)) / (h * w)
    torch.testing.assert_close(layer_cam(maps, gradients), expected)
    full = registry().explainers["layercam"].explain(camcnn, windows, target)["layercam"]
    torch.testing.assert_close(full, F.interpolate(expected[:, None], size=(128, 128), mode="bilinear")[:, 0])


def test_gradcam_pp_weights_by_hand():
    """A = [[1, 2], [3, 4]] (sum 10), g = [[1, 0], [-1, 2]]: alpha = 1/12 at g = 1 and 4/88 at g = 2;
    g = 0 gives 0 and g = -1 is cut by ReLU(g): w = 1/12 * 1 + 1/22 * 2 = 23/132."""
    maps = torch.tensor([[1.0, 2.0], [3.0, 4.0]]).view(1, 1, 2, 2)
    gradients = torch.tensor([[1.0, 0.0], [-1.0, 2.0]]).view(1, 1, 2, 2)
    torch.testing.assert_close(gradcam_pp_weights(maps, gradients), torch.tensor([[23 / 132]]))


def test_gradcam_pp_of_a_gap_linear_head_in_closed_form(camcnn, windows):
    """With g = W / (h w) everywhere, alpha = 1 / (2 + W mean(A)) and w_k = ReLU(W_k) / (2 + W_k mean(A_k))."""
    target = torch.tensor([3, 7])
    maps, gradients = maps_and_gradients(camcnn, "features", windows, target)
    weight = camcnn.classifier.weight[target].detach()
    expected = torch.relu(weight) / (2 + weight * maps.mean(dim=(2, 3)))
    torch.testing.assert_close(gradcam_pp_weights(maps, gradients), expected)
    cam = gradcam_pp(maps, gradients)
    assert (cam >= 0).all() and cam.max() > 0


# ---------------------------------------------------------------- lime-music

def test_default_components_are_two_parts_by_six_bands_by_four_segments():
    mask = component_mask(DEFAULT_BANDS, 4, frontend.mel_band_hz(), 128)
    assert mask.shape == (2, 128, 128) and torch.equal(mask.unique(), torch.arange(48))
    assert set(mask[0].unique().tolist()) == set(range(24))
    assert (mask[:, :, 32] - mask[:, :, 31] == 1).all()  # the next segment starts at frame 32
    hz = frontend.mel_band_hz()
    assert (mask[1, hz >= 4000] // 4 == 11).all()  # the percussive part of 4-11 kHz


def test_removing_components_fades_to_the_window_minimum():
    torch.manual_seed(3)
    window = torch.rand(128, 128) * -70.0 - 10.0
    parts = split_parts(window)
    floor = float(window.min())
    torch.testing.assert_close(remix(torch.ones(1, 2, 128, 128), parts, floor)[0, 0], window, atol=1e-3, rtol=0)
    assert (remix(torch.zeros(1, 2, 128, 128), parts, floor) == floor).all()


class BandWatcher(nn.Module):
    """Class 1's logit rises with the level of 4-11 kHz in frames 64-96 (the third segment) only."""

    capabilities = frozenset()
    explainable_layers: dict[str, nn.Module] = {}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        level = (x[:, 0, HIGH_ROWS, 64:96] + 100.0).mean(dim=(1, 2))
        return torch.stack([torch.zeros_like(level), 0.2 * level - 6.0], dim=1)


def clicks_and_tones() -> torch.Tensor:
    """A window at -80 dB with steady tones below 1 kHz, one steady tone and clicks every 4 frames above 4 kHz."""
    window = torch.full((128, 128), -80.0)
    window[LOW_ROWS[::6]] = 0.0
    window[HIGH_ROWS[5]] = -10.0
    window[HIGH_ROWS[:, None], torch.arange(0, 128, 4)] = 0.0
    return window


def test_lime_music_points_at_the_percussive_high_band_the_model_reads():
    window = clicks_and_tones()[None, None]
    maps = registry().explainers["lime-music"].explain(BandWatcher(), window, torch.tensor([1]), samples=120)
    assert set(maps) == {"harmonic", "percussive"} and maps["percussive"].shape == (1, 128, 128)
    watched = maps["percussive"][0, HIGH_ROWS, 64:96]
    assert watched.min() == watched.max() == max(maps["percussive"].max(), maps["harmonic"].max()) > 0
    assert maps["harmonic"][0, HIGH_ROWS, 64:96].max() < 0.5 * watched.max()
    assert maps["percussive"][0, :, :64].max() < 0.1 * watched.max()


def test_lime_music_is_seeded():
    window = clicks_and_tones()
    mask = component_mask(DEFAULT_BANDS, 4, frontend.mel_band_hz(), 128)
    with torch.no_grad():
        runs = [window_weights(BandWatcher(), window, 1, mask, 30, seed) for seed in (5, 5, 6)]
    assert torch.equal(runs[0], runs[1]) and not torch.equal(runs[0], runs[2])


@pytest.mark.parametrize("options, message", [
    ({"bogus": 1}, "unknown option 'bogus'"),
    ({"samples": 0}, "samples must be a positive integer"),
    ({"segments": 200}, "segments must be at most 128"),
    ({"bands": [500]}, "at least two Hz edges"),
    ({"bands": [0, 1000, 500]}, "must increase"),
    ({"bands": [0, 1, 11025]}, "band 0-1 Hz holds no mel band"),
    ({"seed": "x"}, "seed must be an integer"),
])
def test_lime_music_refuses_bad_options(options, message):
    with pytest.raises(ValueError, match=message) as info:
        registry().explainers["lime-music"].explain(BandWatcher(), clicks_and_tones()[None, None],
                                                    torch.tensor([1]), **options)
    assert "\n" not in str(info.value)


def explanation_with(maps: dict[str, np.ndarray]) -> Explanation:
    frames = next(iter(maps.values())).shape[1]
    prediction = Prediction(GENRES, np.full(10, 0.1), np.full((1, 10), 0.1), np.zeros(1))
    return Explanation(source="song", model="toy", explainer="lime-music", target=GENRES.index("disco"),
                       prediction=prediction, spectrogram=np.zeros((128, frames)), maps=maps,
                       waveform=np.zeros(1, np.float32), frontend=frontend.DEFAULT)


def test_describe_names_part_band_span_and_genre():
    hz = frontend.mel_band_hz()
    harmonic, percussive = np.zeros((128, 700)), np.zeros((128, 700))
    percussive[(hz >= 2000) & (hz < 4000), 512:544] = 1.0  # 11.9-12.6 s
    harmonic[(hz >= 250) & (hz < 500), 96:128] = 0.5  # 2.2-3.0 s
    explanation = explanation_with({"harmonic": harmonic, "percussive": percussive})
    text = registry().explainers["lime-music"].describe(explanation)
    assert text == ("The percussive part of 2-4 kHz in 0:11-0:13 drove 'disco' most; "
                    "then the harmonic part of 250-500 Hz in 0:02-0:03.")
    silent = {"harmonic": np.zeros((128, 700)), "percussive": np.zeros((128, 700))}
    assert "'disco'" in registry().explainers["lime-music"].describe(explanation_with(silent))


def test_lime_music_through_the_api_answers_in_words():
    loaded = LoadedModel("camcnn", small_camcnn(), GENRES, {})
    waveform = tone_mix(4.0, (220.0, 330.0, 1760.0), seed=4)
    result = explain(waveform, model=loaded, explainer="lime-music", options={"samples": 24})
    assert set(result.maps) == {"harmonic", "percussive"}
    assert result.maps["percussive"].shape == result.spectrogram.shape
    pattern = r"The (harmonic|percussive) part of [\d.]+( k?Hz)?-[\d.]+ k?Hz in \d+:\d\d-\d+:\d\d drove '(\w+)' most"
    match = re.match(pattern, result.summary)
    assert match and match.group(3) == result.target_name, result.summary
    with pytest.raises(SpecinterpError, match="explainer 'lime-music' on model '[a-z]+': unknown option 'bogus'"):
        explain(waveform, model=loaded, explainer="lime-music", options={"bogus": 1})
