"""`specinterp assess`: each metric orders a perfect, a random and an inverted explanation correctly on
cases with known answers; the randomization cascade, bootstrap, verdicts and the command itself."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from torch import nn

from specinterp.assessment import (
    Case,
    cascade_depths,
    cascade_points,
    layers_top_down,
    randomization_cascade,
    rank_similarity,
    relevance,
)
from specinterp.assessment_report import SANITY_LIMIT, bootstrap_interval, summarize, verdict
from specinterp.interfaces import Explainer
from specinterp.weights import LoadedModel
from specinterp_plugins.metrics.listening import listening_scores
from specinterp_plugins.metrics.localisation import Localisation, distractor_mass, quantus_scores
from specinterp_plugins.metrics.perturbation import DeletionInsertion, area, relevance_order
from specinterp_plugins.metrics.sanity import ClassSensitivity, ModelRandomization

MELS, FRAMES = 16, 16
REGION = (slice(4, 8), slice(6, 12))  # where the toy model's evidence for class 1 lies


class RegionModel(nn.Module):
    """Class 1's logit grows with the level inside REGION (one weight per cell), class 0's is 0."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.fill_(1.0)
        self.head = nn.Linear(MELS * FRAMES, 2, bias=False)
        weight = torch.zeros(2, MELS, FRAMES)
        weight[1][REGION] = 4.0 / (4 * 6)
        with torch.no_grad():
            self.head.weight.copy_(weight.reshape(2, -1))
        self.explainable_layers = {"conv": self.conv}
        self.capabilities = frozenset({"gradients"})

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return self.head(self.conv(windows).flatten(1))


def perfect_map() -> np.ndarray:
    truth = np.zeros((MELS, FRAMES))
    truth[REGION] = 1.0
    return truth


class FixedMap(Explainer):
    """Returns a given map whatever the model or class: an explainer that ignores both."""

    name = "fixed"

    def __init__(self, relevance_map: np.ndarray) -> None:
        self.map = torch.from_numpy(relevance_map).float()

    def attribute(self, model: nn.Module, windows: torch.Tensor, target: torch.Tensor, **options: Any) -> dict:
        return {"fixed": self.map.expand(len(windows), -1, -1).clone()}


class InputTimesGradient(Explainer):
    """|x * d logit / dx|: depends on the weights and the class."""

    name = "input-x-gradient"

    def attribute(self, model: nn.Module, windows: torch.Tensor, target: torch.Tensor, **options: Any) -> dict:
        windows = windows.clone().requires_grad_(True)
        logits = model(windows)
        (grad,) = torch.autograd.grad(logits.gather(1, target[:, None]).sum(), windows)
        return {"ixg": (grad * windows).abs().detach()[:, 0]}


def window() -> torch.Tensor:
    return torch.full((1, 1, MELS, FRAMES), 1.0) + 0.01 * torch.rand(1, 1, MELS, FRAMES,
                                                                     generator=torch.Generator().manual_seed(0))


def case_for(explainer: Explainer, model: nn.Module | None = None, truth: np.ndarray | None = None) -> Case:
    model = model or RegionModel().eval()
    loaded = LoadedModel("toy", model, ("zero", "one"), {})
    x = window()
    return Case("toy/clip", loaded, explainer, {}, x, np.zeros(1, dtype=np.float32), 1, 0, 0.9,
                relevance(explainer, model, x, 1, {}), lambda: randomization_cascade(model, x, seed=0), 0,
                truth, None if truth is None else np.zeros_like(truth, dtype=bool))


def three_maps() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    return {"perfect": perfect_map() + 0.01 * rng.random((MELS, FRAMES)), "random": rng.random((MELS, FRAMES)),
            "inverted": 1.0 - perfect_map() + 0.01 * rng.random((MELS, FRAMES))}


# ---------------------------------------------------------------- faithfulness

def test_deletion_and_insertion_order_perfect_random_inverted():
    scores = {}
    for name, relevance_map in three_maps().items():
        scores[name] = DeletionInsertion().measure(case_for(FixedMap(relevance_map)))
    assert scores["perfect"]["deletion"] < scores["random"]["deletion"] < scores["inverted"]["deletion"]
    assert scores["perfect"]["insertion"] > scores["random"]["insertion"] > scores["inverted"]["insertion"]
    curve = scores["perfect"]["deletion_curve"]
    assert len(curve) == 33 and curve[0] > curve[-1]  # starts at the window's probability, ends at silence's


def test_area_and_relevance_order():
    assert area(np.ones(5)) == pytest.approx(1.0)
    assert area(np.linspace(0, 1, 11)) == pytest.approx(0.5)
    order = relevance_order(np.array([[0.1, 0.9], [0.5, 0.9]]), seed=0)
    assert set(order[:2]) == {1, 3} and list(order[2:]) == [2, 0]


def test_listening_scores_follow_l_mac_definitions():
    assert listening_scores(0.8, 0.4, 0.1) == pytest.approx(
        {"average_drop": 50.0, "average_increase": 0.0, "average_gain": 0.0, "complement_drop": 0.7})
    assert listening_scores(0.5, 0.75, 0.6) == pytest.approx(
        {"average_drop": 0.0, "average_increase": 100.0, "average_gain": 50.0, "complement_drop": -0.1})


# ---------------------------------------------------------------- ground truth

def test_localisation_orders_perfect_random_inverted():
    truth = perfect_map().astype(bool)
    results = {name: quantus_scores(m, truth) for name, m in three_maps().items()}
    for key in ("mass", "rank", "pointing"):  # the perfect map has 1 % noise outside the truth
        assert results["perfect"][key] == pytest.approx(1.0, abs=0.05)
        assert results["inverted"][key] == pytest.approx(0.0, abs=0.05)
    share = truth.mean()
    assert results["random"]["mass"] == pytest.approx(share, abs=0.1)
    assert 0.0 < results["random"]["rank"] < 0.6


def test_constant_map_does_not_win_the_pointing_game():
    assert quantus_scores(np.zeros((MELS, FRAMES)), perfect_map().astype(bool))["pointing"] == 0.0


def test_distractor_mass_and_metric_needs_truth():
    distractors = np.zeros((MELS, FRAMES), dtype=bool)
    distractors[0, :4] = True
    relevance_map = np.zeros((MELS, FRAMES))
    relevance_map[0, :4] = 1.0
    relevance_map[REGION] = 1.0
    assert distractor_mass(relevance_map, distractors) == pytest.approx(4 / (4 + 24))
    assert Localisation.needs_truth
    values = Localisation().measure(case_for(FixedMap(perfect_map()), truth=perfect_map().astype(bool)))
    assert values["mass"] == pytest.approx(1.0) and values["distractor_mass"] == 0.0


# ---------------------------------------------------------------- sanity checks

def test_rank_similarity():
    a = np.arange(12.0).reshape(3, 4)
    assert rank_similarity(a, a**3) == pytest.approx(1.0)
    assert rank_similarity(a, -a) == pytest.approx(-1.0)
    assert rank_similarity(np.zeros(4), np.zeros(4)) == 1.0
    assert rank_similarity(np.zeros(4), np.arange(4.0)) == 0.0


class Reordered(nn.Module):
    """Registers its layers in the opposite order to the one its forward pass calls them in."""

    def __init__(self) -> None:
        super().__init__()
        self.last = nn.Linear(8, 3)
        self.first = nn.Conv2d(1, 2, 3, padding=1)
        self.norm = nn.BatchNorm2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.last(self.norm(self.first(x)).mean(dim=(2, 3)).repeat(1, 4))


def test_cascade_goes_from_the_output_down_and_keeps_lower_layers():
    model = Reordered().eval()
    x = torch.randn(1, 1, 6, 6)
    assert [name for name, _ in layers_top_down(model, x)] == ["last", "first"]
    copies = randomization_cascade(model, x, seed=3, points=None)
    assert [name for name, _ in copies] == ["last", "first"]
    top, everything = copies[0][1], copies[1][1]
    assert not torch.equal(top.last.weight, model.last.weight)
    assert torch.equal(top.first.weight, model.first.weight)
    assert not torch.equal(everything.first.weight, model.first.weight)
    assert torch.equal(everything.last.weight, top.last.weight)  # cumulative
    again = randomization_cascade(model, x, seed=3, points=None)
    assert torch.equal(again[1][1].first.weight, everything.first.weight)  # seeded
    assert cascade_depths(6, 3) == [1, 4, 6] and cascade_depths(6, None) == [1, 2, 3, 4, 5, 6]
    assert cascade_points(model, x, None) == [name for name, _ in copies]  # the names the copies carry


def test_randomization_and_class_checks_catch_a_map_that_ignores_the_model():
    ignoring = case_for(FixedMap(perfect_map()))
    faithful = case_for(InputTimesGradient())
    assert ModelRandomization().measure(ignoring)["top"] == pytest.approx(1.0)
    assert ClassSensitivity().measure(ignoring)["similarity"] == pytest.approx(1.0)
    assert ModelRandomization().measure(faithful)["top"] < SANITY_LIMIT
    assert ClassSensitivity().measure(faithful)["similarity"] < SANITY_LIMIT


# ---------------------------------------------------------------- table and verdict

def test_bootstrap_interval_is_seeded_and_contains_the_mean():
    values = np.random.default_rng(0).normal(1.0, 1.0, size=40)
    low, high = bootstrap_interval(values, seed=0)
    assert low < values.mean() < high
    assert (low, high) == bootstrap_interval(values, seed=0)
    narrow = bootstrap_interval(np.random.default_rng(0).normal(1.0, 1.0, size=400), seed=0)
    assert narrow[1] - narrow[0] < high - low


def test_summary_and_verdicts():
    values = {"randomization.top": 0.1, "class-sensitivity.similarity": 0.2, "randomization.curve": [0.1, 0.0]}
    rows = [{"explainer": "good", "clip": str(i), "values": values} for i in range(3)]
    rows += [{"explainer": "bad", "clip": str(i), "values": {"randomization.top": 0.9}} for i in range(3)]
    rows += [{"explainer": "bad", "clip": "x", "error": "x: cannot decode"}]
    summary = summarize(rows, seed=0)
    assert summary["good"]["values"]["randomization.top"]["mean"] == pytest.approx(0.1)
    assert summary["good"]["curves"]["randomization.curve"] == pytest.approx([0.1, 0.0])
    assert summary["bad"]["errors"] == ["x: cannot decode"]
    assert verdict(summary["good"]["values"], "toy")["status"] == "passed"
    failed = verdict(summary["bad"]["values"], "toy")
    assert failed["status"] == "failed" and failed["failed"] == ["randomization"] and "random weights" in failed["text"]
    assert verdict({}, "toy")["status"] == "not assessed"
    close = verdict({"randomization.top": {"mean": 0.4, "low": 0.1, "high": 0.7}}, "toy")
    assert close["status"] == "passed" and close["borderline"] == ["randomization"] and "narrowly" in close["text"]


# ---------------------------------------------------------------- the command

def test_assess_command_on_synthetic_writes_table_and_resumes(tmp_path):
    from specinterp.cli import cli
    from specinterp_plugins.datasets.synthetic import SyntheticDataset

    SyntheticDataset(tmp_path / "out" / "synthetic-data", per_class=3)  # small: made before assess opens it
    args = ["assess", "--model", "camcnn", "--explainer", "cam,filtermaps",
            "--data", "synthetic", "--split", "random", "--part", "test", "--limit", "2", "--sanity-clips", "1",
            "--out", str(tmp_path / "out")]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    document = json.loads((tmp_path / "out" / "assessment.json").read_text())
    assert set(document["summary"]) == {"cam", "filtermaps", "random-map"}
    cam = document["summary"]["cam"]["values"]
    assert cam["localisation.mass"]["n"] == 2 and cam["randomization.top"]["n"] == 1
    sanity = [r["clip"] for r in document["rows"] if r["explainer"] == "cam" and "randomization.top" in r["values"]]
    assert sanity == [document["rows"][0]["clip"]]  # one sanity clip: the first of the two
    assert document["verdicts"]["filtermaps"]["status"] == "failed"  # conv1 activations ignore the class
    assert (tmp_path / "out" / "curves.png").stat().st_size > 10_000
    assert "explainer,value,mean,low,high,clips" in (tmp_path / "out" / "assessment.csv").read_text()
    lines = (tmp_path / "out" / "cache.jsonl").read_text().splitlines()
    assert len(lines) == 6
    second = CliRunner().invoke(cli, args)
    assert second.exit_code == 0, second.output
    assert (tmp_path / "out" / "cache.jsonl").read_text().splitlines() == lines  # everything came from the cache
    assert json.loads((tmp_path / "out" / "assessment.json").read_text())["summary"] == document["summary"]


@pytest.mark.parametrize("extra, message", [
    (["--data", "/no/such/folder"], "/no/such/folder: GTZAN folder not found"),
    (["--data", "synthetic", "--metrics", "nope"], "unknown metric 'nope'"),
    (["--data", "synthetic", "--part", "holdout"], "has no part 'holdout'"),
    (["--data", "synthetic", "--explainer", "nope"], "unknown explainer 'nope'"),
])
def test_assess_bad_input_is_one_line(tmp_path, extra, message):
    from specinterp.cli import cli
    from specinterp_plugins.datasets.synthetic import SyntheticDataset

    SyntheticDataset(tmp_path / "out" / "synthetic-data", per_class=3)
    args = ["assess", "--explainer", "cam", "--out", str(tmp_path / "out"), *extra]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out" / "assessment.json").exists()


def test_the_whole_pipeline_hears_the_window_that_was_explained(tmp_path):
    """The excerpt's audio through WAV -> front end -> window gives the explained window's probability
    (an all-ones mask is the identity), and the truth masks are cut to the same window."""
    from specinterp import api
    from specinterp.assessment import Job, cases
    from specinterp.plugins import registry
    from specinterp_plugins.datasets.synthetic import SyntheticDataset
    from specinterp_plugins.metrics.listening import heard_probability

    dataset = SyntheticDataset(tmp_path / "synthetic", per_class=2)
    model = api.load_model("camcnn", variant="synthetic")
    cam = registry().get("explainers", "cam")
    job = Job(model, [(cam, {})], dataset.clips()[:1], dataset, [], 0, None)
    [(_, _, make)] = list(cases(job, dataset.clips()[0], job.explainers))
    case = make()
    assert case.window.shape == (1, 1, 128, 128) and case.truth.shape == (128, 128) and case.truth.any()
    assert heard_probability(case, np.ones((128, 128))) == pytest.approx(case.probability, abs=0.02)
    assert case.probability > 0.9  # the synthetic model is sure of its class
    assert heard_probability(case, np.zeros((128, 128))) < 0.5  # silence does not sound like the class


def test_spread_takes_clips_from_the_whole_list():
    from specinterp.assessment import spread

    assert spread(10, 4) == [0, 3, 6, 9] and spread(3, 5) == [0, 1, 2] and spread(7, None) == list(range(7))
    assert len(spread(67, 50)) == 50 and spread(67, 50)[-1] == 66


def test_a_third_party_metric_as_docs_plugins_shows_it(tmp_path):
    """The example of docs/plugins.md: a Metric subclass is all assess needs (registered by a plugin's hook)."""
    import re
    from pathlib import Path

    text = Path(__file__).resolve().parent.parent.joinpath("docs", "plugins.md").read_text()
    source = re.search(r"```python\n(from specinterp import hookimpl\nfrom specinterp.interfaces import Metric\n"
                       r".*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(compile(source, "plugins.md", "exec"), namespace)
    metric = namespace["LowEnd"]()
    relevance_map = np.zeros((MELS, FRAMES))
    relevance_map[:2] = 1.0  # all relevance in the lowest eighth of the bands
    assert metric.measure(case_for(FixedMap(relevance_map))) == {"share": 1.0}
    registered = []
    namespace["register_metrics"](registered.append)
    assert registered and registered[0].name == "low-end"
