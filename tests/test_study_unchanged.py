"""The study's three models give the same predictions and maps as before front ends moved into models.

tests/fixtures/study_reference.npz was recorded by tests/fixtures/make_study_reference.py at the
commit it names (before the change). On a CPU of the same SIMD capability the outputs must be
bit-identical; elsewhere (different kernels) equal to float rounding.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import specinterp
from fixtures.make_study_reference import CASES, reference_clip

REFERENCE = np.load(Path(__file__).parent / "fixtures" / "study_reference.npz")
SAME_CPU = str(REFERENCE["meta/cpu"]) == torch.backends.cpu.get_cpu_capability()


def same(actual: np.ndarray, expected: np.ndarray) -> None:
    if SAME_CPU:
        assert actual.dtype == expected.dtype and np.array_equal(actual, expected)
    else:
        np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("model", sorted(CASES))
def test_study_model_outputs_are_unchanged(model: str) -> None:
    explanation = specinterp.explain(reference_clip(), model=model, explainer=CASES[model])
    same(explanation.spectrogram, REFERENCE["spectrogram"])
    same(explanation.prediction.probabilities, REFERENCE[f"{model}/probabilities"])
    same(explanation.prediction.window_probabilities, REFERENCE[f"{model}/window_probabilities"])
    same(explanation.prediction.window_starts, REFERENCE[f"{model}/window_starts"])
    stored = {key.split("/map/", 1)[1] for key in REFERENCE.files if key.startswith(f"{model}/map/")}
    assert set(explanation.maps) == stored
    for name in stored:
        same(explanation.maps[name], REFERENCE[f"{model}/map/{name}"])
    assert explanation.sample_rate == 22050 and explanation.hop_length == 512
