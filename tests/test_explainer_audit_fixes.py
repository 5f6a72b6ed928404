"""What the audit of the built-in explainers asked for (issue 12): every explainer runs a model left in
training mode as in eval mode and restores it; SmoothGrad's noise is a share of each window's range;
deconvolution picks the filter with the most evidence for the target."""

import copy

import pytest
import torch
from captum.attr import NoiseTunnel, Saliency
from torch import nn

from specinterp.interfaces import CamHead
from specinterp.plugins import registry


def run(name: str, model: nn.Module, windows: torch.Tensor, target: torch.Tensor, **options) -> dict[str, torch.Tensor]:
    return registry().explainers[name].explain(model, windows, target, **options)


# ---------------------------------------------------------------- eval mode

class DropoutCAMNet(nn.Module):
    """Batch norm and dropout inside the maps CAM reads, GAP and one dense layer."""

    capabilities = frozenset({"gradients", "gap-linear-head"})

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.Dropout(0.5))
        self.dense = nn.Linear(6, 3)

    @property
    def explainable_layers(self) -> dict[str, nn.Module]:
        return {"conv1": self.body[0], "features": self.body}

    def cam_head(self) -> CamHead:
        return CamHead(features=self.body, weight=self.dense.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dense(self.body(x).mean(dim=(2, 3)))


def settled_camcnn() -> nn.Module:
    """A small camcnn whose batch-norm running statistics differ from any one batch's."""
    torch.manual_seed(0)
    model = registry().models["camcnn"].build({"channels": [4, 8, 8, 8, 8]})
    with torch.no_grad():
        model(torch.randn(4, 1, 128, 64) * 10 - 30)
    return model


def test_cam_of_a_model_in_training_mode_is_its_eval_mode_cam():
    model = DropoutCAMNet()
    with torch.no_grad():
        model(torch.randn(8, 1, 16, 16) * 4 + 3)  # running statistics far from the windows'
    torch.manual_seed(1)
    windows, target = torch.randn(2, 1, 16, 16) * 10 - 40, torch.tensor([0, 2])
    expected = run("cam", model.eval(), windows, target)["cam"]
    state = copy.deepcopy(model.state_dict())
    model.train()
    with torch.no_grad():
        trained = torch.einsum("nk,nkhw->nhw", model.dense.weight[target], model.body(windows))
    assert model.body[1].running_mean.ne(state["body.1.running_mean"]).any()  # a training pass moves them ...
    model.load_state_dict(state)
    got = run("cam", model, windows, target)["cam"]
    assert model.training and all(m.training for m in model.modules())
    for key, value in model.state_dict().items():  # ... CAM's does not
        assert torch.equal(value, state[key]), key
    torch.testing.assert_close(got, expected)
    low = torch.nn.functional.interpolate(trained[:, None], size=(16, 16), mode="bilinear")[:, 0]
    assert not torch.allclose(got, low)  # batch statistics and dropout would have changed it


CHEAP = {
    "lime-music": {"samples": 8}, "occlusion": {"patch": [32, 32], "stride": [32, 32]},
    "integrated-gradients": {"n_steps": 4}, "smoothgrad": {"samples": 4}, "scorecam": {"batch_size": 32},
}


@pytest.mark.parametrize("name", sorted(registry().explainers))
def test_every_explainer_runs_a_training_mode_model_as_in_eval_mode_and_restores_it(name):
    model = settled_camcnn()
    torch.manual_seed(2)
    windows, target = torch.randn(1, 1, 128, 64) * 10 - 40, torch.tensor([4])
    options = CHEAP.get(name, {})
    torch.manual_seed(3)
    expected = run(name, model.eval(), windows, target, **options)
    state = copy.deepcopy(model.state_dict())
    model.train()
    torch.manual_seed(3)
    got = run(name, model, windows, target, **options)
    assert all(m.training for m in model.modules()), name
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), f"{name} changed {key}"
    assert list(got) == list(expected)
    for key in got:
        torch.testing.assert_close(got[key], expected[key], msg=f"{name}: {key}")


# ---------------------------------------------------------------- SmoothGrad

CENTRE = -40.0


class HalfSquare(nn.Module):
    """Logit 0 = sum(w relu(x - CENTRE)^2) / 2: its gradient w relu(x - CENTRE) doubles when the window
    does around CENTRE; logit 1 its negative."""

    capabilities = frozenset({"gradients"})
    explainable_layers: dict[str, nn.Module] = {}

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(5)
        self.w = nn.Parameter(torch.rand(1, 1, 16, 16) + 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        score = (self.w * torch.relu(x - CENTRE) ** 2).sum(dim=(1, 2, 3)) / 2
        return torch.stack([score, -score], dim=1)


@pytest.fixture
def window() -> torch.Tensor:
    torch.manual_seed(4)
    x = torch.randn(1, 1, 16, 16) * 6
    return x - x.mean() + CENTRE  # mean CENTRE, range ~30 dB


def test_smoothgrad_defaults_follow_the_paper():
    assert registry().explainers["smoothgrad"].options == {"samples": 50, "noise": 0.15, "seed": 0}


def test_smoothgrad_noise_scales_with_the_windows_range(window):
    model, target = HalfSquare(), torch.tensor([0])
    doubled = CENTRE + 2 * (window - CENTRE)  # twice the dB range around the same mean
    torch.manual_seed(0)
    single = run("smoothgrad", model, window, target, samples=8)["smoothgrad"]
    torch.manual_seed(0)
    double = run("smoothgrad", model, doubled, target, samples=8)["smoothgrad"]
    torch.testing.assert_close(double, 2 * single)  # the same map up to the gradient's scale
    assert not torch.allclose(single, run("smoothgrad", model, window, target, noise=0)["smoothgrad"])
    tunnel = NoiseTunnel(Saliency(model))  # noise of a fixed number of dB would not scale so
    sigma = 0.15 * float(window.max() - window.min())
    torch.manual_seed(0)
    fixed = tunnel.attribute(window, target=0, nt_samples=8, stdevs=sigma, abs=False).abs()[:, 0]
    torch.manual_seed(0)
    fixed_double = tunnel.attribute(doubled, target=0, nt_samples=8, stdevs=sigma, abs=False).abs()[:, 0]
    torch.testing.assert_close(fixed, single)
    assert not torch.allclose(fixed_double, 2 * fixed, rtol=1e-2, atol=1e-3)


def test_smoothgrad_is_captums_noise_tunnel_with_each_windows_sigma(window):
    model = HalfSquare()
    windows = torch.cat([window, CENTRE + 3 * (window - CENTRE)])
    target = torch.tensor([0, 1])
    got = run("smoothgrad", model, windows, target, samples=70, noise=0.2, seed=7)["smoothgrad"]
    tunnel = NoiseTunnel(Saliency(model))
    expected = []
    for i in range(2):  # each window's noise drawn after seeding with the option's seed
        torch.manual_seed(7)
        expected.append(tunnel.attribute(windows[i : i + 1], target=int(target[i]), nt_type="smoothgrad",
                                         nt_samples=70, nt_samples_batch_size=64, abs=False,
                                         stdevs=0.2 * float(windows[i].max() - windows[i].min())))
    torch.testing.assert_close(got, torch.cat(expected).abs()[:, 0])


def test_smoothgrad_is_deterministic_under_its_seed_and_leaves_torchs_generator_alone(window):
    model, target = HalfSquare(), torch.tensor([0])
    maps = []
    for seed in (11, 11, 12):
        torch.manual_seed(seed * 100)  # the global generator does not matter
        maps.append(run("smoothgrad", model, window, target, samples=6, seed=seed)["smoothgrad"])
    assert torch.equal(maps[0], maps[1]) and not torch.equal(maps[0], maps[2])
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    run("smoothgrad", model, window, target, samples=6)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("options, message", [
    ({"noise": -0.1}, "option noise must be a non-negative share"),
    ({"noise": "0.1"}, "option noise must be a non-negative share"),
    ({"noise": True}, "option noise must be a non-negative share"),
    ({"noise": float("nan")}, "option noise must be a non-negative share"),
    ({"noise": float("inf")}, "option noise must be a non-negative share"),
    ({"samples": 0}, "option samples must be a positive integer"),
    ({"samples": 2.5}, "option samples must be a positive integer"),
    ({"stdev": 3.0}, "unknown option 'stdev'"),
])
def test_smoothgrad_refuses_bad_options(window, options, message):
    with pytest.raises(ValueError, match=message):
        run("smoothgrad", HalfSquare(), window, torch.tensor([0]), **options)


# ---------------------------------------------------------------- deconvolution

class TwoFilters(nn.Module):
    """Filter 1 (the strongest everywhere) is class 0's evidence, filter 2 class 1's."""

    capabilities = frozenset({"gradients"})

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3, padding=1, bias=False)
        self.relu = nn.ReLU()
        with torch.no_grad():
            self.conv.weight.zero_()
            self.conv.weight[0, 0, 1, 1] = 2.0  # twice the cell itself
            self.conv.weight[1, 0, 0, 0] = 1.0  # the cell up and left

    @property
    def explainable_layers(self) -> dict[str, nn.Module]:
        return {"conv2": self.relu}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x)).mean(dim=(2, 3))


def test_deconvolution_projects_the_filter_with_most_evidence_for_the_target():
    model = TwoFilters()
    torch.manual_seed(8)
    windows = torch.rand(2, 1, 12, 12)
    by_target = [run("deconvolution", model, windows, torch.tensor([c, c]))["deconvolution"] for c in (0, 1)]
    chosen = run("deconvolution", model, windows, torch.tensor([0, 0]), filters=[1, 2])
    torch.testing.assert_close(by_target[0], chosen["conv2-filter1"])
    torch.testing.assert_close(by_target[1], chosen["conv2-filter2"])
    assert not torch.allclose(by_target[0], by_target[1])
    mixed = run("deconvolution", model, windows, torch.tensor([1, 0]))["deconvolution"]
    torch.testing.assert_close(mixed, torch.stack([by_target[1][0], by_target[0][1]]))
    # the strongest filter's peak, as before, would give class 1 filter 1's map
    assert (model.relu(model.conv(windows)).amax(dim=(2, 3)).argmax(dim=1) == 0).all()


def test_explicit_deconvolution_filters_ignore_the_target():
    model = TwoFilters()
    torch.manual_seed(9)
    windows = torch.rand(2, 1, 12, 12)
    first = run("deconvolution", model, windows, torch.tensor([0, 0]), filters=[1, 2])
    second = run("deconvolution", model, windows, torch.tensor([1, 1]), filters=[1, 2])
    assert list(first) == ["conv2-filter1", "conv2-filter2"]
    for key in first:
        torch.testing.assert_close(first[key], second[key])
    row, col = divmod(int(windows[1, 0].argmax()), 12)  # filter 1 is 2x: its peak is the window's
    cells = first["conv2-filter1"][1].nonzero().tolist()
    assert cells == [[row, col]]


def test_deconvolution_evidence_is_activation_times_the_target_logits_gradient():
    model = settled_camcnn().eval()
    torch.manual_seed(10)
    windows, target = torch.randn(3, 1, 128, 64) * 10 - 40, torch.tensor([1, 5, 8])
    captured = []
    handle = model.convs[1].register_forward_hook(lambda m, i, o: captured.append(o))
    logits = model(windows)
    handle.remove()
    (gradient,) = torch.autograd.grad(logits.gather(1, target[:, None]).sum(), captured[0])
    best = (captured[0] * gradient).sum(dim=(2, 3)).argmax(dim=1).tolist()
    got = run("deconvolution", model, windows, target)["deconvolution"]
    for n, k in enumerate(best):
        single = run("deconvolution", model, windows[n : n + 1], target[n : n + 1], filters=[k + 1])
        torch.testing.assert_close(got[n], single[f"conv2-filter{k + 1}"][0])
