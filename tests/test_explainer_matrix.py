"""Every registered explainer on every registered model with shipped weights, on a short clip.

Each pair either gives maps on the model's own grid (its mel bands x the clip's frames on its front
end), finite and in [0, 1], or refuses in one line that names the explainer (and, for a missing
capability, the model). Options only shrink the costly methods (fewer samples, larger patches).
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from conftest import tone_mix
from specinterp import api
from specinterp.interfaces import SpecinterpError
from specinterp.plugins import registry

SECONDS = 3.5  # two windows for the study's models, one to two for musicnn's
CHEAP = {
    "lime-music": {"samples": 12},
    "occlusion": {"patch": [32, 32], "stride": [32, 32]},
    "integrated-gradients": {"n_steps": 4},
    "smoothgrad": {"samples": 2},
}
MUSICNN = ("musicnn-msd", "musicnn-mtt", "musicnn-genre")
LAYER_FOR = {  # musicnn names no conv1 / conv2; its layers with a frequency axis are temporal128/64/32
    "scorecam": dict.fromkeys(MUSICNN, "midend3"),
    "filtermaps": dict.fromkeys(MUSICNN, "temporal128"),
    "deconvolution": dict.fromkeys(MUSICNN, "midend1"),
}


def models() -> list[str]:
    return sorted(name for name, plugin in registry().models.items() if plugin.weights())


def explainers() -> list[str]:
    return sorted(registry().explainers)


@cache
def loaded(name: str):
    return api.load_model(name)


CLIP = tone_mix(SECONDS, (110.0, 440.0, 2500.0), seed=11, noise=0.05)


def test_the_matrix_covers_the_ports_and_the_study() -> None:
    assert {"camcnn", "basecnn", "maskedcnn", "musicnn-msd", "musicnn-mtt", "vgg-msd", "vgg-mtt"} <= set(models())
    assert len(explainers()) >= 14


@pytest.mark.parametrize("model", models())
@pytest.mark.parametrize("explainer", explainers())
def test_explainer_on_model(explainer: str, model: str) -> None:
    options = dict(CHEAP.get(explainer, {}))
    if model in LAYER_FOR.get(explainer, {}):
        options["layer"] = LAYER_FOR[explainer][model]
    target = loaded(model)
    try:
        explanation = api.explain(CLIP, model=target, explainer=explainer, options=options, sample_rate=22050)
    except SpecinterpError as refusal:
        text = str(refusal)
        assert "\n" not in text and f"'{explainer}'" in text and f"'{model}'" in text
        return
    grid = (target.frontend.n_mels, target.frontend.frames(int(round(SECONDS * target.frontend.sample_rate))))
    assert explanation.maps
    for name, value in explanation.maps.items():
        assert value.shape[0] == grid[0] and abs(value.shape[1] - grid[1]) <= 1, name
        assert np.isfinite(value).all() and value.min() >= 0.0 and value.max() <= 1.0, name
    assert explanation.prediction.multilabel == target.multilabel
