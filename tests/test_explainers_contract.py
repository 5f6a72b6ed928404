"""The explainer contract: declared options checked once by the core, layers by name or module, the
shared helpers of specinterp.explaining, a Captum method declared in a few lines, multi-label scores,
and built-in explainers that import no other explainer module."""

import ast
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from captum.attr import InputXGradient, LayerGradCam
from torch import nn

from conftest import REPO
from specinterp import frontend
from specinterp.explaining import (
    CaptumExplainer,
    class_probabilities,
    find_layer,
    layer_name,
    mel_frequencies,
    target_scores,
)
from specinterp.interfaces import Explainer
from specinterp.plugins import registry
from specinterp_plugins.explainers.scorecam import channel_weights


class TinyNet(nn.Module):
    """Windows (N, 1, 16, 16) -> 3 logits through two conv layers, GAP and a dense layer."""

    capabilities = frozenset({"gradients"})

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(4, 6, 3, padding=1)
        self.relu2 = nn.ReLU()
        self.pool = nn.MaxPool2d(2)
        self.dense = nn.Linear(6, 3)

    @property
    def explainable_layers(self) -> dict[str, nn.Module]:
        return {"conv1": self.conv1, "features": self.conv2}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.relu2(self.conv2(self.pool(self.relu1(self.conv1(x / 10.0)))))
        return self.dense(maps.mean(dim=(2, 3)))


class TinyTagger(TinyNet):
    multilabel = True


@pytest.fixture
def tiny() -> TinyNet:
    return TinyNet().eval()


@pytest.fixture
def windows() -> torch.Tensor:
    torch.manual_seed(1)
    return torch.randn(2, 1, 16, 16) * 10 - 40


TARGET = torch.tensor([0, 2])


# ---------------------------------------------------------------- layers

def test_find_layer_takes_a_name_or_the_submodule_itself(tiny):
    assert find_layer(tiny, "features") is tiny.conv2
    assert find_layer(tiny, tiny.conv2) is tiny.conv2
    assert find_layer(tiny, tiny.relu1) is tiny.relu1  # any submodule, named or not
    assert layer_name(tiny, tiny.conv2) == "features" and layer_name(tiny, tiny.relu1) == "relu1"
    with pytest.raises(ValueError, match=r"^unknown layer 'conv9' \(available: conv1, features\)$"):
        find_layer(tiny, "conv9")
    foreign = r"^layer Conv2d is not a submodule of the model \(its layers: conv1, features\)$"
    with pytest.raises(ValueError, match=foreign):
        find_layer(tiny, nn.Conv2d(4, 6, 3))  # a foreign module
    with pytest.raises(ValueError, match="unknown layer 3"):
        find_layer(tiny, 3)


@pytest.mark.parametrize("name, options", [
    ("gradcam", {}), ("guided-gradcam", {}), ("scorecam", {}), ("layercam", {}), ("gradcam++", {}),
    ("filtermaps", {"filters": [1, 3]}), ("deconvolution", {"filters": [2]}),
])
def test_every_layer_taking_explainer_accepts_the_module_object(tiny, windows, name, options):
    method = registry().explainers[name]
    by_name = method.explain(tiny, windows, TARGET, layer="conv1", **options)
    by_module = method.explain(tiny, windows, TARGET, layer=tiny.conv1, **options)
    assert list(by_name) == list(by_module) and list(by_name)
    for key in by_name:
        assert by_name[key].shape == (2, 16, 16)
        torch.testing.assert_close(by_module[key], by_name[key])
    with pytest.raises(ValueError, match="not a submodule"):
        method.explain(tiny, windows, TARGET, layer=nn.Conv2d(1, 4, 3), **options)


def test_gradcam_by_module_object_is_captum_layergradcam(tiny, windows):
    got = registry().explainers["gradcam"].explain(tiny, windows, TARGET, layer=tiny.conv2)["gradcam"]
    direct = LayerGradCam(tiny, tiny.conv2).attribute(windows, target=TARGET, relu_attributions=True).detach()
    torch.testing.assert_close(got, F.interpolate(direct, size=(16, 16), mode="bilinear", align_corners=False)[:, 0])


# ---------------------------------------------------------------- options

class Recorder(Explainer):
    name = "recorder"
    options = {"alpha": 1, "layer": "features"}

    def attribute(self, model, windows, target, **options):
        self.seen = options
        return {"recorder": windows[:, 0]}


def test_explain_resolves_declared_options_once_and_attribute_gets_them_all(tiny, windows):
    recorder = Recorder()
    recorder.explain(tiny, windows, TARGET, alpha=5)
    assert recorder.seen == {"alpha": 5, "layer": "features"}
    recorder.explain(tiny, windows, TARGET)
    assert recorder.seen == {"alpha": 1, "layer": "features"}
    assert Recorder.options == {"alpha": 1, "layer": "features"}  # the declaration is left alone


def test_resolve_options_names_undeclared_options_and_what_is_taken():
    with pytest.raises(ValueError, match=r"^unknown option 'beta', 'gamma' \(takes alpha, layer\)$"):
        Recorder().resolve_options({"beta": 1, "gamma": 2, "alpha": 3})
    with pytest.raises(ValueError, match=r"^unknown option 'layer' \(takes no options\)$"):
        registry().explainers["cam"].resolve_options({"layer": "conv1"})
    assert registry().explainers["gradcam"].resolve_options({"relu": False}) == {"layer": "features", "relu": False}


def test_attribute_is_the_one_method_to_write():
    class OnlyExplain(Explainer):
        name = "old-style"

        def explain(self, model, windows, target, **options):
            return {}

    with pytest.raises(TypeError, match="attribute"):
        OnlyExplain()


# ---------------------------------------------------------------- CaptumExplainer

class InputTimesGradient(CaptumExplainer):
    name = "input-x-gradient"
    requires = frozenset({"gradients"})
    attribution = InputXGradient
    sign = "positive"


class ScaledGradCAM(CaptumExplainer):
    """A layer method with an option of its own, passed to Captum by attribute_kwargs."""

    name = "scaled-gradcam"
    options = {"layer": "features", "relu": False}
    attribution = LayerGradCam
    layer_method = True
    sign = "raw"

    def attribute_kwargs(self, windows, target, options):
        return {"relu_attributions": options["relu"]}


@pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients")
def test_a_captum_method_is_a_few_declarations(tiny, windows):
    before = tiny(windows).detach()
    maps = InputTimesGradient().explain(tiny, windows, TARGET)
    direct = InputXGradient(tiny).attribute(windows, target=TARGET).detach()
    assert list(maps) == ["input-x-gradient"]
    torch.testing.assert_close(maps["input-x-gradient"], direct.clamp(min=0)[:, 0])
    assert not tiny.training and all(p.grad is None for p in tiny.parameters())
    torch.testing.assert_close(tiny(windows), before)
    with pytest.raises(ValueError, match="unknown option 'layer' \\(takes no options\\)"):
        InputTimesGradient().explain(tiny, windows, TARGET, layer="conv1")

    low = LayerGradCam(tiny, tiny.conv1).attribute(windows, target=TARGET).detach()
    layered = ScaledGradCAM().explain(tiny, windows, TARGET, layer=tiny.conv1)["scaled-gradcam"]
    torch.testing.assert_close(layered, low[:, 0])  # conv1 is on the window grid: no upsampling
    pooled = ScaledGradCAM().explain(tiny, windows, TARGET, relu=True)["scaled-gradcam"]
    assert pooled.shape == (2, 16, 16) and (pooled >= 0).all()


def test_captum_declarations_are_checked_when_the_class_is_made():
    with pytest.raises(TypeError, match="sign must be one of abs, positive, raw"):
        type("Bad", (CaptumExplainer,), {"name": "bad", "attribution": InputXGradient, "sign": "negative"})
    with pytest.raises(TypeError, match="takes a layer"):
        type("NoLayer", (CaptumExplainer,), {"name": "nolayer", "attribution": LayerGradCam, "layer_method": True})


def test_the_captum_builtins_are_declarations():
    for name in ("gradcam", "guided-backprop", "guided-gradcam", "integrated-gradients", "saliency", "smoothgrad",
                 "occlusion"):
        assert isinstance(registry().explainers[name], CaptumExplainer), name


# ---------------------------------------------------------------- scores

def test_target_scores_are_softmax_or_sigmoid_as_the_model_declares(windows):
    single, tagger = TinyNet().eval(), TinyTagger().eval()
    logits = single(windows).detach()
    torch.testing.assert_close(target_scores(single, windows, TARGET).detach(),
                               logits.softmax(dim=1)[torch.arange(2), TARGET])
    torch.testing.assert_close(target_scores(tagger, windows, TARGET).detach(),
                               logits.sigmoid()[torch.arange(2), TARGET])
    torch.testing.assert_close(class_probabilities(tagger, windows).detach(), logits.sigmoid())


def test_scorecam_weighs_a_tagger_by_sigmoid_scores(windows):
    tagger = TinyTagger().eval()
    with torch.no_grad():
        activations = tagger.relu1(tagger.conv1(windows / 10.0))
        weights = channel_weights(tagger, windows, TARGET, activations, batch_size=3)
        floor = windows.amin(dim=(1, 2, 3), keepdim=True)
        masks = activations - activations.amin(dim=(2, 3), keepdim=True)
        masks = masks / (masks.amax(dim=(2, 3), keepdim=True)).clamp_min(1e-12)
        for n in range(2):
            masked = floor[n] + (windows[n] - floor[n]) * masks[n][:, None]
            silent = tagger(floor[n].expand(1, 1, 16, 16)).sigmoid()[0, TARGET[n]]
            expected = tagger(masked).sigmoid()[:, TARGET[n]] - silent
            torch.testing.assert_close(weights[n], expected, rtol=1e-4, atol=1e-6)


# ---------------------------------------------------------------- lime-music on a model's own front end

HIGH_ROWS = torch.from_numpy(np.flatnonzero(frontend.mel_band_hz() >= 4000.0))


class HighBandTagger(nn.Module):
    """Tag 0 is always on (logit +40); tag 1 rises with the level of 4-11 kHz in frames 64-96."""

    capabilities = frozenset()
    explainable_layers: dict[str, nn.Module] = {}

    def __init__(self, multilabel: bool) -> None:
        super().__init__()
        self.multilabel = multilabel

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        level = (x[:, 0, HIGH_ROWS, 64:96] + 100.0).mean(dim=(1, 2))
        return torch.stack([torch.full_like(level, 40.0), 0.2 * level - 6.0], dim=1)


def test_lime_music_explains_a_tag_by_its_sigmoid():
    window = torch.full((1, 1, 128, 128), -80.0)
    window[0, 0, HIGH_ROWS[:, None], torch.arange(0, 128, 4)] = 0.0
    lime = registry().explainers["lime-music"]
    tagged = lime.explain(HighBandTagger(multilabel=True), window, torch.tensor([1]), samples=40)
    assert max(m.max() for m in tagged.values()) > 0.05  # the tag's own probability moves
    single = lime.explain(HighBandTagger(multilabel=False), window, torch.tensor([1]), samples=40)
    assert max(m.max() for m in single.values()) < 1e-6  # a softmax against logit 40 never does


class SixteenKilohertz(nn.Module):
    capabilities = frozenset()
    explainable_layers: dict[str, nn.Module] = {}
    frontend = replace(frontend.DEFAULT, sample_rate=16000, n_fft=512, hop_length=256, n_mels=64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([x.mean(dim=(1, 2, 3)), -x.mean(dim=(1, 2, 3))], dim=1)


def test_mel_frequencies_follow_the_models_front_end():
    model = SixteenKilohertz()
    np.testing.assert_array_equal(mel_frequencies(model, 64), frontend.mel_band_hz(model.frontend))
    assert mel_frequencies(model, 64).max() < 8000
    default = mel_frequencies(nn.Identity(), 64)
    np.testing.assert_array_equal(default, frontend.mel_band_hz(replace(frontend.DEFAULT, n_mels=64)))
    assert default.max() > 10000
    with pytest.raises(ValueError, match="front end has 64 mel bands, the maps 128"):
        mel_frequencies(model, 128)
    # lime-music's bands are on the model's axis: at 16 kHz nothing lies above 8 kHz
    windows = torch.rand(1, 1, 64, 32) * -60
    with pytest.raises(ValueError, match="band 8-11 kHz holds no mel band"):
        registry().explainers["lime-music"].explain(model, windows, torch.tensor([0]), bands=[0, 8000, 11025],
                                                    samples=8)
    maps = registry().explainers["lime-music"].explain(model, windows, torch.tensor([0]), bands=[0, 2000, 8000],
                                                       samples=8)
    assert maps["harmonic"].shape == (1, 64, 32)


def test_lime_music_describes_on_the_explanations_front_end():
    config = replace(frontend.DEFAULT, sample_rate=16000, n_fft=512, hop_length=256, n_mels=64, window_frames=100)
    hz = frontend.mel_band_hz(config)
    harmonic, percussive = np.zeros((64, 400)), np.zeros((64, 400))
    percussive[(hz >= 2000) & (hz < 4000), 125:150] = 1.0  # the 6th span of 25 frames: 2.0-2.4 s at 16 ms
    explanation = SimpleNamespace(maps={"harmonic": harmonic, "percussive": percussive}, options={},
                                  target_name="rock", frontend=config, hop_length=256, sample_rate=16000)
    text = registry().explainers["lime-music"].describe(explanation)
    assert text == "The percussive part of 2-4 kHz in 0:02-0:03 drove 'rock' most."


# ---------------------------------------------------------------- independence

def test_no_explainer_module_imports_another():
    folder = REPO / "plugins" / "explainers"
    own = {path.stem for path in folder.glob("*.py")} - {"__init__"}
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] if node.level == 0 else ["." * node.level + (node.module or "")]
                names += [f"{names[0]}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                assert not name.startswith("."), f"{path.name} imports {name} (relative)"
                parts = name.split(".")
                assert not (parts[:2] == ["specinterp_plugins", "explainers"] and len(parts) > 2
                            and parts[2] in own), f"{path.name} imports {name}"
    assert not (folder / "common.py").exists()
