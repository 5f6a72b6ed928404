import json

import numpy as np
import pytest
import torch

from specinterp import weights
from specinterp.interfaces import Explainer, IncompatibleExplainer, SpecinterpError
from specinterp.plugins import registry
from specinterp_plugins.explainers.cam import class_activation_maps


@pytest.fixture
def camcnn():
    torch.manual_seed(0)
    model = registry().models["camcnn"].build({"classes": 10})
    # make BatchNorm statistics non-trivial, then freeze
    model.train()
    with torch.no_grad():
        model(torch.randn(16, 1, 128, 128) * 10 - 30)
    return model.eval()


def test_camcnn_shapes_and_layers(camcnn):
    assert camcnn(torch.randn(3, 1, 128, 128)).shape == (3, 10)
    assert {"conv1", "conv2", "features"} <= set(camcnn.explainable_layers)
    assert camcnn.features(torch.randn(2, 1, 128, 128)).shape[-2:] == (8, 8)


def test_cam_mean_is_the_logit_minus_bias(camcnn):
    """GAP + one dense layer: the spatial mean of CAM_c is exactly logit_c - b_c (Zhou et al. 2016)."""
    x = torch.randn(4, 1, 128, 128) * 10 - 30
    target = torch.tensor([0, 3, 7, 9])
    low = class_activation_maps(camcnn, x, target)
    logits = camcnn(x)
    expected = logits[torch.arange(4), target] - camcnn.classifier.bias[target]
    torch.testing.assert_close(low.mean(dim=(1, 2)), expected, rtol=1e-4, atol=1e-4)
    full = registry().explainers["cam"].explain(camcnn, x, target)["cam"]
    assert full.shape == (4, 128, 128)
    assert torch.corrcoef(torch.stack([full.flatten(), torch.nn.functional.interpolate(
        low[:, None], size=(128, 128), mode="nearest")[:, 0].flatten()]))[0, 1] > 0.9


def test_cam_refuses_a_model_without_a_gap_dense_head():
    plain = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(128 * 128, 10))
    with pytest.raises(IncompatibleExplainer) as info:
        registry().explainers["cam"].check(plain, "plainnet")
    assert "'cam'" in str(info.value) and "'plainnet'" in str(info.value) and "gap-linear-head" in str(info.value)


def test_layer_requirements_are_checked(camcnn):
    class NeedsConv9(Explainer):
        name = "needs-conv9"
        requires = frozenset({"layer:conv9"})

        def attribute(self, model, windows, target, **options):
            return {}

    with pytest.raises(IncompatibleExplainer, match="layer:conv9"):
        NeedsConv9().check(camcnn, "camcnn")


def test_weights_round_trip_and_refusals(tmp_path, camcnn):
    path = weights.save(camcnn, "camcnn", {"classes": 10}, tuple("abcdefghij"), tmp_path / "m", {"seed": 5})
    assert path.suffix == ".safetensors" and path.with_suffix(".json").is_file()
    loaded = weights.resolve("camcnn", path)
    x = torch.randn(2, 1, 128, 128)
    torch.testing.assert_close(loaded.module(x), camcnn(x))
    assert loaded.classes == tuple("abcdefghij") and loaded.meta == {"seed": 5}
    pickled = tmp_path / "m.pt"
    torch.save(camcnn.state_dict(), pickled)
    with pytest.raises(SpecinterpError, match="pickled checkpoints are refused"):
        weights.resolve("camcnn", pickled)
    doc = json.loads(path.with_suffix(".json").read_text())
    doc["config"]["channels"] = [8, 8, 8, 8, 8]
    path.with_suffix(".json").write_text(json.dumps(doc))
    with pytest.raises(SpecinterpError, match="do not fit"):
        weights.resolve("camcnn", path)


@pytest.mark.parametrize("model", ["camcnn", "basecnn", "maskedcnn"])
def test_shipped_weights_are_small_safetensors_with_provenance(model):
    shipped = registry().models[model].weights()
    extra = {"camcnn": {"synthetic"}}.get(model, set())  # the synthetic set's model (docs/synthetic.md)
    assert set(shipped) == {"random", "filtered"} | extra
    for variant, path in shipped.items():
        if variant in extra:
            continue
        assert path.stat().st_size <= 5 * 1024 * 1024
        loaded = weights.resolve(model, path)
        assert loaded.classes[:3] == ("blues", "classical", "country") and len(loaded.classes) == 10
        assert loaded.meta["split"] == variant and loaded.meta["seed"] == 0 and loaded.meta["split_digest"]
        assert np.isfinite(loaded.module(torch.zeros(1, 1, 128, 128) - 50).detach().numpy()).all()
