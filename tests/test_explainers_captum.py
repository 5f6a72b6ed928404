"""The Captum-based explainers on small random models: shapes, numbers against direct computations,
and models left as they were found."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from captum.attr import IntegratedGradients, LayerGradCam
from torch import nn

from conftest import tone_mix
from specinterp import api
from specinterp.interfaces import SpecinterpError
from specinterp.plugins import registry
from specinterp.weights import LoadedModel
from specinterp_plugins.explainers.cam import class_activation_maps

# fast options for the shape tests; the defaults are exercised through the API test
FAST = {
    "gradcam": {}, "filtermaps": {"filters": [1, 2]}, "deconvolution": {}, "guided-backprop": {},
    "guided-gradcam": {}, "integrated-gradients": {"n_steps": 8}, "saliency": {}, "smoothgrad": {"samples": 4},
    "occlusion": {"patch": [32, 32], "stride": [32, 32]},
}
MAP_NAMES = {"filtermaps": {"conv1-filter1", "conv1-filter2"}}
LAYERED = ("gradcam", "filtermaps", "deconvolution", "guided-gradcam")


def settled(name: str, config: dict) -> nn.Module:
    """A small random model with non-trivial batch-norm statistics, in eval mode."""
    torch.manual_seed(0)
    model = registry().models[name].build(config)
    model.train()
    with torch.no_grad():
        model(torch.randn(4, 1, 128, 128) * 10 - 30)
    return model.eval()


@pytest.fixture(scope="module")
def camcnn() -> nn.Module:
    return settled("camcnn", {"channels": [4, 8, 8, 8, 8]})


@pytest.fixture(scope="module")
def basecnn() -> nn.Module:
    return settled("basecnn", {"channels": [4, 8, 8], "hidden": 16})


@pytest.fixture(scope="module")
def windows() -> torch.Tensor:
    torch.manual_seed(1)
    return torch.randn(2, 1, 128, 128) * 10 - 30


@pytest.fixture(scope="module")
def target() -> torch.Tensor:
    return torch.tensor([3, 7])


def hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks)
               + len(m._backward_pre_hooks) for m in model.modules())


def run(name: str, model: nn.Module, x: torch.Tensor, target: torch.Tensor, **options) -> dict[str, torch.Tensor]:
    return registry().explainers[name].explain(model, x, target, **options)


@pytest.mark.parametrize("model_name", ["camcnn", "basecnn"])
@pytest.mark.parametrize("name", list(FAST))
def test_maps_have_the_window_grid_and_the_model_is_left_alone(request, model_name, name, windows, target):
    model = request.getfixturevalue(model_name)
    before = model(windows).detach()
    maps = run(name, model, windows, target, **FAST[name])
    assert set(maps) == MAP_NAMES.get(name, {name})
    for value in maps.values():
        assert value.shape == (2, 128, 128) and not value.requires_grad
        assert torch.isfinite(value).all() and (value >= 0).all() and value.std() > 0
    assert hook_count(model) == 0 and not model.training
    assert all(p.grad is None for p in model.parameters())
    torch.testing.assert_close(model(windows), before)


@pytest.mark.parametrize("name", list(FAST))
def test_unknown_options_and_layers_are_value_errors(camcnn, name, windows, target):
    with pytest.raises(ValueError, match="unknown option 'colour'"):
        run(name, camcnn, windows, target, colour=1)
    if name in LAYERED:
        with pytest.raises(ValueError, match="unknown layer 'conv9' .*available: conv1"):
            run(name, camcnn, windows, target, layer="conv9")


def test_bad_option_values_are_value_errors(camcnn, windows, target):
    for name, options in [("gradcam", {"relu": "yes"}), ("integrated-gradients", {"n_steps": 0}),
                          ("smoothgrad", {"noise": -1}), ("occlusion", {"patch": [16]}),
                          ("occlusion", {"stride": [8, 200]})]:
        with pytest.raises(ValueError, match="option"):
            run(name, camcnn, windows, target, **options)


def test_filtermaps_number_filters_from_one(camcnn, basecnn, windows, target):
    captured = []
    handle = camcnn.convs[1].register_forward_hook(lambda m, i, o: captured.append(o.detach()))
    camcnn(windows)
    handle.remove()
    conv2 = run("filtermaps", camcnn, windows, target, layer="conv2", filters=[1, 8])
    expected = F.interpolate(captured[0], size=(128, 128), mode="bilinear", align_corners=False)
    torch.testing.assert_close(conv2["conv2-filter1"], expected[:, 0])
    torch.testing.assert_close(conv2["conv2-filter8"], expected[:, 7])
    conv1 = camcnn.convs[0](camcnn.input_norm(windows)).detach()  # conv1 is on the window grid
    torch.testing.assert_close(run("filtermaps", camcnn, windows, target, filters=1)["conv1-filter1"], conv1[:, 0])
    with pytest.raises(ValueError, match="filter 5 out of range: layer conv1 has filters 1..4"):
        run("filtermaps", camcnn, windows, target, filters=[1, 5])
    with pytest.raises(ValueError, match="filter 0 out of range"):
        run("filtermaps", camcnn, windows, target, filters=[0])
    assert set(run("filtermaps", camcnn, windows, target)) == {"conv1-filter1"}  # the study's that exist
    wide = settled("basecnn", {"channels": [32, 8, 8], "hidden": 16})
    assert set(run("filtermaps", wide, windows, target)) == {f"conv1-filter{n}" for n in (1, 8, 16, 32)}


def test_gradcam_is_captum_layergradcam(basecnn, windows, target):
    for layer, relu in [("features", True), ("conv2", False)]:
        direct = LayerGradCam(basecnn, basecnn.explainable_layers[layer]).attribute(
            windows, target=target, relu_attributions=relu)
        expected = F.interpolate(direct, size=(128, 128), mode="bilinear", align_corners=False)[:, 0]
        got = run("gradcam", basecnn, windows, target, layer=layer, relu=relu)["gradcam"]
        torch.testing.assert_close(got, expected.detach())


def test_rectified_cam_is_gradcam_times_the_grid_size(camcnn, windows, target):
    """GAP + one dense layer: Grad-CAM's weights are W[c] / (h w), so relu(CAM) = h w GradCAM."""
    cam = class_activation_maps(camcnn, windows, target).detach()
    h, w = cam.shape[-2:]
    assert (cam < 0).any() and (cam > 0).any()
    for relu, low in [(True, cam.clamp(min=0)), (False, cam)]:
        expected = F.interpolate(low[:, None], size=(128, 128), mode="bilinear", align_corners=False)[:, 0]
        gradcam = run("gradcam", camcnn, windows, target, relu=relu)["gradcam"]
        torch.testing.assert_close(gradcam * (h * w), expected, rtol=1e-4, atol=1e-5)


def test_guided_gradcam_is_guided_backprop_times_gradcam(camcnn, windows, target):
    guided = run("guided-backprop", camcnn, windows, target)["guided-backprop"]
    gradcam = run("gradcam", camcnn, windows, target)["gradcam"]
    product = run("guided-gradcam", camcnn, windows, target)["guided-gradcam"]
    torch.testing.assert_close(product, guided * gradcam)


def test_saliency_is_the_gradient_magnitude_and_smoothgrad_without_noise_is_saliency(basecnn, windows, target):
    x = windows.clone().requires_grad_()
    basecnn(x).gather(1, target[:, None]).sum().backward()
    saliency = run("saliency", basecnn, windows, target)["saliency"]
    torch.testing.assert_close(saliency, x.grad.abs()[:, 0])
    smooth = run("smoothgrad", basecnn, windows, target, samples=2, noise=0)["smoothgrad"]
    torch.testing.assert_close(smooth, saliency)


def test_deconvolution_passes_through_relu_hooks(camcnn, windows, target):
    layer = camcnn.explainable_layers["conv2"]
    captured = []
    handle = layer.register_forward_hook(lambda m, i, o: captured.append(o))
    x = windows.clone().requires_grad_()
    camcnn(x)
    handle.remove()
    peaks = captured[0].amax(dim=(2, 3))
    peaks.gather(1, peaks.argmax(dim=1, keepdim=True)).sum().backward()
    deconv = run("deconvolution", camcnn, windows, target)["deconvolution"]
    assert deconv.shape == x.grad[:, 0].shape and not torch.allclose(deconv, x.grad.abs()[:, 0])
    # from conv1 (3 x 3 kernels), one filter's peak reaches only the 3 x 3 cells around it
    single = run("deconvolution", camcnn, windows[:1], target[:1], layer="conv1", filters=[2])["conv1-filter2"][0]
    activation = camcnn.convs[0](camcnn.input_norm(windows[:1])).detach()[0, 1]
    row, col = divmod(int(activation.argmax()), 128)
    rows, cols = single.nonzero(as_tuple=True)
    assert len(rows) and (rows - row).abs().max() <= 1 and (cols - col).abs().max() <= 1
    with pytest.raises(ValueError, match="filter 9 out of range: layer conv2 has filters 1..8"):
        run("deconvolution", camcnn, windows, target, filters=[9])


def test_integrated_gradients_start_from_each_windows_silence(camcnn, windows, target):
    got = run("integrated-gradients", camcnn, windows, target, n_steps=8)["integrated-gradients"]
    for i in range(len(windows)):
        direct = IntegratedGradients(camcnn).attribute(
            windows[i : i + 1], baselines=float(windows[i].min()), target=int(target[i]), n_steps=8)
        torch.testing.assert_close(got[i], direct.detach()[0, 0].clamp(min=0), rtol=1e-4, atol=1e-7)


def test_occlusion_is_the_positive_drop_when_a_patch_is_silenced(camcnn, windows, target):
    got = run("occlusion", camcnn, windows, target, patch=[32, 64], stride=[32, 64])["occlusion"]
    scores = camcnn(windows).detach().gather(1, target[:, None])[:, 0]
    for band, frame in [(0, 0), (96, 64)]:
        hidden = windows.clone()
        hidden[:, :, band : band + 32, frame : frame + 64] = windows.amin(dim=(1, 2, 3), keepdim=True)
        drop = scores - camcnn(hidden).detach().gather(1, target[:, None])[:, 0]
        cell = got[:, band : band + 32, frame : frame + 64]
        torch.testing.assert_close(cell, drop.clamp(min=0)[:, None, None].expand_as(cell), rtol=1e-4, atol=1e-6)


def test_through_the_api(camcnn):
    loaded = LoadedModel("camcnn", camcnn, tuple(f"genre{i}" for i in range(10)), {})
    song = tone_mix(4.0, (220.0, 660.0, 2500.0), seed=3)
    for name, options in [("gradcam", None), ("filtermaps", {"layer": "conv2", "filters": [1, 3]}),
                          ("guided-backprop", None)]:
        explanation = api.explain(song, model=loaded, explainer=name, options=options)
        assert explanation.explainer == name and explanation.maps
        for value in explanation.maps.values():
            assert value.shape == explanation.spectrogram.shape
            assert np.isfinite(value).all() and value.min() == 0 and value.max() == 1
    assert set(explanation.maps) == {"guided-backprop"}
    with pytest.raises(SpecinterpError, match="^explainer 'gradcam' on model '[a-z]+': unknown layer 'conv9'"):
        api.explain(song, model=loaded, explainer="gradcam", options={"layer": "conv9"})
    assert hook_count(camcnn) == 0
