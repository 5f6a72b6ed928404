"""The conformance kit (specinterp.testing): every registered plugin passes it, the example package
included; deliberately broken plugins fail it with a message that names the rule they break."""

from __future__ import annotations

import importlib.util
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from conftest import REPO, make_fake_gtzan, tone_mix
from specinterp import plugins
from specinterp.explaining import evaluating
from specinterp.interfaces import (
    Clip,
    Dataset,
    DatasetPlugin,
    Explainer,
    ModelPlugin,
    Renderer,
    SpecinterpError,
    Split,
)
from specinterp.outputs import atomic_write
from specinterp.testing import (
    ConformanceError,
    check_dataset,
    check_explainer,
    check_model,
    check_plugin,
    check_renderer,
    rules,
)

EXAMPLE = REPO / "examples" / "specinterp-loudness"
KINDS = {"models": "model", "explainers": "explainer", "renderers": "renderer", "datasets": "dataset"}
CHEAP = {  # the costly methods made cheap on the kit's 32 x 32 windows
    "lime-music": {"samples": 8},
    "occlusion": {"patch": [8, 8], "stride": [8, 8]},
    "integrated-gradients": {"n_steps": 4},
    "smoothgrad": {"samples": 2},
    "scorecam": {"channels": 4},
}
MAY_SKIP = {  # rules that do not apply to every plugin
    "model": {"capabilities", "weights"},
    "explainer": {"declared-options", "one-line-errors"},
    "renderer": {"declared-options"},
    "dataset": {"truth"},
}


# ---------------------------------------------------------------- the example package, registered as pip would

def _install_example(site: Path) -> None:
    """The example's module and a .dist-info naming its entry point, as ``pip install`` lays them out."""
    site.mkdir(parents=True)
    (site / "specinterp_loudness.py").write_text((EXAMPLE / "specinterp_loudness.py").read_text())
    info = site / "specinterp_loudness-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: specinterp-loudness\nVersion: 0.1.0\n")
    (info / "entry_points.txt").write_text("[specinterp]\nloudness = specinterp_loudness\n")


@pytest.fixture(scope="module")
def example_registered(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The registry with the example package's ``loudness`` (installed here unless it already is)."""
    if "loudness" in plugins.registry().explainers:
        yield
        return
    site = tmp_path_factory.mktemp("site") / "site-packages"
    _install_example(site)
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(site))
        plugins.reset()
        yield
    plugins.reset()


KNOWN: dict[tuple[str, str], str] = {}  # rules that built-ins break today, and why


def registered() -> list:
    """(kind, name) of every registered model, explainer, renderer and dataset, and the example's explainer."""
    reg = plugins.registry()
    found = {(kind, name) for kind in KINDS for name in getattr(reg, kind)} | {("explainers", "loudness")}
    return [pytest.param(kind, name, id=f"{KINDS[kind]}:{name}",
                         marks=[pytest.mark.xfail(reason=KNOWN[kind, name], raises=ConformanceError, strict=True)]
                         if (kind, name) in KNOWN else [])
            for kind, name in sorted(found)]


def dataset_root(name: str, folder: Path) -> Path:
    """A small copy of a built-in dataset."""
    if name == "gtzan":
        return make_fake_gtzan(folder / "gtzan")
    if name == "synthetic":
        from specinterp_plugins.datasets import synthetic

        synthetic.write(folder / "synthetic", per_class=2)
        return folder / "synthetic"
    pytest.skip(f"no sample folder for dataset '{name}' in this test")


# ---------------------------------------------------------------- every registered plugin passes

@pytest.mark.parametrize("kind, name", registered())
def test_registered_plugin_passes_the_kit(kind: str, name: str, example_registered: None, tmp_path: Path) -> None:
    if kind == "datasets":
        report = check_dataset(name, dataset_root(name, tmp_path))
    elif kind == "explainers":
        report = check_explainer(name, options=CHEAP.get(name))
    else:
        report = {"models": check_model, "renderers": check_renderer}[kind](name)
    every = rules(KINDS[kind])
    assert set(report.passed) | set(report.skipped) == set(every)
    assert set(report.skipped) <= MAY_SKIP[KINDS[kind]], report.skipped


def test_the_example_package_passes_by_distribution_name(example_registered: None) -> None:
    reports = check_plugin("specinterp-loudness")
    assert [r.subject for r in reports] == ["explainer 'loudness' on model 'camcnn'"]
    assert "batch-independence" in reports[0].passed and str(reports[0]).endswith("13 rules passed")


def test_the_example_package_runs_its_own_conformance_tests(example_registered: None) -> None:
    spec = importlib.util.spec_from_file_location("example_conformance", EXAMPLE / "test_conformance.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    tests = [getattr(module, name) for name in dir(module) if name.startswith("test_")]
    assert tests
    for test in tests:
        test()


def test_an_explainer_that_refuses_the_model_given_is_skipped_with_the_reason() -> None:
    report = check_explainer("cam", model=TinyPlugin().build({}))
    assert report.passed == () and set(report.skipped) == set(rules("explainer"))
    refusal = "explainer 'cam' cannot explain model 'TinyNet': the model lacks gap-linear-head"
    assert set(report.skipped.values()) == {refusal}


def test_a_plain_module_is_wrapped_as_the_api_wraps_it() -> None:
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    report = check_explainer("saliency", model=net, window=(16, 16))
    assert str(report) == ("explainer 'saliency' on model 'Sequential': 11 rules passed; "
                           "skipped: declared-options, one-line-errors (declares no options)")
    assert not hasattr(net, "frontend")  # the kit worked on a copy


def test_check_plugin_names_what_it_does_not_know() -> None:
    unknown = "^no model, explainer, renderer, dataset or distribution named 'nonesuch'$"
    with pytest.raises(SpecinterpError, match=unknown):
        check_plugin("nonesuch")
    with pytest.raises(ValueError, match="dataset 'gtzan' is checked at a folder: pass root="):
        check_plugin("gtzan")


def test_docs_explain_every_rule_and_their_sample_runs(example_registered: None, capsys, monkeypatch) -> None:
    text = (REPO / "docs" / "plugins.md").read_text()
    section = text[text.index("## Test your plugin with the conformance kit"):]
    section = section[: section.find("\n## ", 3) if "\n## " in section[3:] else None]
    for kind in KINDS.values():
        for name in rules(kind):
            assert f"`{name}`" in section, f"docs/plugins.md does not explain {kind} rule '{name}'"
    samples = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert samples
    monkeypatch.chdir(tempfile.mkdtemp())
    for sample in samples:
        exec(compile(sample, "docs/plugins.md", "exec"), {})
    printed = capsys.readouterr().out
    assert "explainer 'loudness' on model 'camcnn': 13 rules passed" in printed
    assert "rule 'batch-independence': explainer 'loudness' on model 'camcnn': window 0 explained alone" in printed


# ---------------------------------------------------------------- broken explainers

class Echo(Explainer):
    """Each window's log-mel as its map: model-free and conforming; broken variants below change one thing."""

    name = "echo"
    options = {"scale": 1.0}

    def attribute(self, model, windows, target, **options):
        scale = options["scale"]
        if isinstance(scale, bool) or not isinstance(scale, (int, float)):
            raise ValueError(f"option scale must be a number, got {scale!r}")
        return {"echo": windows[:, 0] * scale}


class BatchDependent(Echo):
    def attribute(self, model, windows, target, **options):
        return {"echo": windows[:, 0] - windows.mean()}  # centred on the batch's mean


class FirstTargetOnly(Echo):
    def attribute(self, model, windows, target, **options):
        return {"echo": windows[:, 0] * (1.0 + target[0])}  # every window explained for window 0's target


class IgnoresUnknownOptions(Echo):
    def explain(self, model, windows, target, **options):
        return self.attribute(model, windows, target, **{k: options.get(k, v) for k, v in self.options.items()})


class LeavesAHook(Echo):
    def attribute(self, model, windows, target, **options):
        model.explainable_layers["features"].register_forward_hook(lambda module, args, output: None)
        return super().attribute(model, windows, target, **options)


class LeavesGradients(Echo):
    def attribute(self, model, windows, target, **options):
        with evaluating(model):
            model(windows).gather(1, target[:, None]).sum().backward()  # fills the parameters' .grad
        return super().attribute(model, windows, target, **options)


class WrongShape(Echo):
    def attribute(self, model, windows, target, **options):
        return {"echo": windows}  # (N, 1, n_mels, frames): the channel axis kept


class Float64(Echo):
    def attribute(self, model, windows, target, **options):
        return {"echo": windows[:, 0].double()}


class NotFinite(Echo):
    def attribute(self, model, windows, target, **options):
        return {"echo": windows[:, 0] / 0.0}


class Unseeded(Echo):
    def attribute(self, model, windows, target, **options):
        noise = np.random.default_rng().random(windows[:, 0].shape)  # its own generator, not seeded
        return {"echo": windows[:, 0] + torch.from_numpy(noise).float()}


class TrainingMode(Echo):
    def attribute(self, model, windows, target, **options):
        return {"echo": windows[:, 0] * model(windows).softmax(1).gather(1, target[:, None])[:, :, None].detach()}


class TypeErrorOnBadValue(Echo):
    def attribute(self, model, windows, target, **options):
        return {"echo": windows[:, 0] * options["scale"]}  # a string: TypeError, not ValueError


class MultiLineError(Echo):
    def attribute(self, model, windows, target, **options):
        if not isinstance(options["scale"], (int, float)):
            raise ValueError("option scale is wrong\nexpected a number")
        return super().attribute(model, windows, target, **options)


class RequiresButNeverChecks(Echo):
    requires = frozenset({"gradients"})

    def check(self, model, model_name):
        return None


class DescribesOnTwoLines(Echo):
    def describe(self, explanation):
        return "first line\nsecond line"


@pytest.mark.parametrize("broken, rule, detail", [
    (BatchDependent(), "batch-independence", "window 0 explained alone differs from it explained in a batch of 3"),
    (FirstTargetOnly(), "batch-independence", "window 2 explained alone differs from it explained in a batch of 3"),
    (IgnoresUnknownOptions(), "unknown-options",
     "explain with undeclared option conformance_unknown_option=1 was accepted"),
    (LeavesAHook(), "no-state-leak", "after explain: 1 convs.4 (forward hook) left registered"),
    (LeavesGradients(), "no-state-leak", "after explain: gradient of input_norm.weight"),
    (WrongShape(), "shapes", "map 'echo' has shape (3, 1, 32, 32) for windows (3, 1, 32, 32), expected (3, 32, 32)"),
    (Float64(), "dtypes", "map 'echo' is torch.float64, the windows torch.float32"),
    (NotFinite(), "value-ranges", "map 'echo' holds 3072 NaN or infinite values"),
    (Unseeded(), "determinism", "the same call (batch of 3, seeded) made twice differs"),
    (TrainingMode(), "eval-mode", "window 0 explained with the model in training mode differs"),
    (TypeErrorOnBadValue(), "one-line-errors", "explain with option scale='not a valid value' raised TypeError"),
    (MultiLineError(), "one-line-errors", "raised ValueError with a message of 2 lines"),
    (RequiresButNeverChecks(), "requires-enforced", "check() of a model without capabilities or layers was accepted"),
    (DescribesOnTwoLines(), "describe", "describe returned 2 lines, expected one"),
], ids=lambda value: type(value).__name__ if isinstance(value, Explainer) else None)
def test_a_broken_explainer_fails_the_rule_it_breaks(broken: Explainer, rule: str, detail: str) -> None:
    with pytest.raises(ConformanceError) as caught:
        check_explainer(broken)
    message = str(caught.value)
    assert message.startswith(f"rule '{rule}': explainer 'echo' on model 'camcnn': "), message
    assert detail in message and "\n" not in message
    assert isinstance(caught.value, AssertionError) and caught.value.rule == rule


def test_a_conforming_explainer_passes() -> None:
    report = check_explainer(Echo())
    assert set(report.passed) == set(rules("explainer"))


# ---------------------------------------------------------------- broken models

class TinyNet(nn.Module):
    """Windows (N, 1, 16, 16) -> 3 logits: conv, ReLU, global average pooling, dense."""

    capabilities = frozenset({"gradients"})

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.dense = nn.Linear(4, 3)

    @property
    def explainable_layers(self) -> dict[str, nn.Module]:
        return {"features": self.conv}

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return self.dense(torch.relu(self.conv(windows / 10.0)).mean(dim=(2, 3)))


class TinyPlugin(ModelPlugin):
    name = "tiny"
    module = TinyNet

    def build(self, config: dict[str, Any]) -> nn.Module:
        return self.module()

    def default_config(self) -> dict[str, Any]:
        return {"classes": 3}

    def default_frontend(self) -> dict[str, Any]:
        return {"n_mels": 16, "window_frames": 16, "window_hop": 8}


class OneOutputPerBatch(TinyNet):
    def forward(self, windows):
        return super().forward(windows).mean(dim=0, keepdim=True)  # (1, classes) whatever the batch


class BatchStatistics(TinyNet):
    def forward(self, windows):
        return super().forward(F.batch_norm(windows, None, None, training=True))  # normalized by the batch


class UnusedLayer(TinyNet):
    def __init__(self) -> None:
        super().__init__()
        self.spare = nn.Conv2d(1, 2, 3)

    @property
    def explainable_layers(self):
        return {"features": self.conv, "spare": self.spare}


class ForeignLayer(TinyNet):
    @property
    def explainable_layers(self):
        return {"features": nn.Conv2d(1, 4, 3)}  # not the model's own


class NoGradients(TinyNet):
    def forward(self, windows):
        return super().forward(windows * 0.0)


class SwitchesToTraining(TinyNet):
    def forward(self, windows):
        self.train()
        return super().forward(windows)


def model_plugin(module: type[nn.Module], **attributes: Any) -> ModelPlugin:
    return type("Broken", (TinyPlugin,), {"module": module, **attributes})()


@pytest.mark.parametrize("broken, rule, detail", [
    (model_plugin(OneOutputPerBatch), "shapes",
     "forward gives (1, 3) for windows (3, 1, 16, 16), expected (3, classes)"),
    (model_plugin(BatchStatistics), "batch-independence", "window 0 alone gives other logits than in a batch of 3"),
    (model_plugin(UnusedLayer), "explainable-layers", "layer 'spare' does not run in the forward pass"),
    (model_plugin(ForeignLayer), "builds", "explainable_layers['features'] is not a submodule of the model"),
    (model_plugin(NoGradients), "capabilities", "declares 'gradients' but the gradient w.r.t. the windows is all zero"),
    (model_plugin(SwitchesToTraining), "no-state-leak", "the model left in training mode (was eval)"),
    (model_plugin(TinyNet, default_config=lambda self: {"classes": 3, "bands": {1, 2}}), "declarations",
     "json.dumps(default_config()) raised TypeError"),
    (model_plugin(TinyNet, default_config=lambda self: {"classes": 4}), "shapes",
     "forward gives 3 outputs per window, the config says 4 classes"),
], ids=["output-shape", "batch-statistics", "unused-layer", "foreign-layer", "no-gradients", "switches-to-training",
        "config-not-json", "classes-mismatch"])
def test_a_broken_model_fails_the_rule_it_breaks(broken: ModelPlugin, rule: str, detail: str) -> None:
    with pytest.raises(ConformanceError) as caught:
        check_model(broken)
    message = str(caught.value)
    assert message.startswith(f"rule '{rule}': model 'tiny': "), message
    assert detail in message


def test_a_conforming_tiny_model_passes() -> None:
    report = check_model(TinyPlugin())
    assert "weights" in report.skipped and "batch-independence" in report.passed


# ---------------------------------------------------------------- broken renderers

class Text(Renderer):
    """One text file per explanation: conforming; broken variants below change one thing."""

    name = "text"
    suffix = ".txt"
    options = {"stem": None}

    def render(self, explanation, out_dir, stem=None):
        target = Path(out_dir) / f"{stem or explanation.stem}.{explanation.explainer}{self.suffix}"
        return [atomic_write(target, lambda tmp: tmp.write_text(explanation.prediction.label))]


class WritesBesideOutDir(Text):
    def render(self, explanation, out_dir, stem=None):
        (Path(out_dir).parent / "stray.txt").write_text("x")
        return super().render(explanation, out_dir, stem)


class WritesInWorkingFolder(Text):
    def render(self, explanation, out_dir, stem=None):
        Path("relative.txt").write_text("x")
        return super().render(explanation, out_dir, stem)


class LeavesATemporaryFile(Text):
    def render(self, explanation, out_dir, stem=None):
        os.close(tempfile.mkstemp(suffix=".scratch")[0])
        return super().render(explanation, out_dir, stem)


class WritesBesideTheInput(Text):
    def render(self, explanation, out_dir, stem=None):
        Path(explanation.source).with_suffix(".txt").write_text("x")
        return super().render(explanation, out_dir, stem)


class UnreportedFile(Text):
    def render(self, explanation, out_dir, stem=None):
        (Path(out_dir) / "extra.txt").write_text("x")
        return super().render(explanation, out_dir, stem)


class ReturnsNothing(Text):
    def render(self, explanation, out_dir, stem=None):
        super().render(explanation, out_dir, stem)
        return []


class ScalesMapsInPlace(Text):
    def render(self, explanation, out_dir, stem=None):
        for value in explanation.maps.values():
            value *= 0.5
        return super().render(explanation, out_dir, stem)


class DeclaresAnOptionItLacks(Text):
    options = {"stem": None, "dpi": 100}


@pytest.mark.parametrize("broken, rule, detail", [
    (WritesBesideOutDir(), "nothing-outside-out-dir", "render touched stray.txt outside out_dir"),
    (WritesInWorkingFolder(), "nothing-outside-out-dir", "render touched cwd/relative.txt outside out_dir"),
    (LeavesATemporaryFile(), "nothing-outside-out-dir", ".scratch outside out_dir"),
    (WritesBesideTheInput(), "nothing-outside-out-dir", "render touched input/conformance.txt outside out_dir"),
    (UnreportedFile(), "writes-files", "render wrote extra.txt in out_dir without returning it"),
    (ReturnsNothing(), "writes-files", "render returned [], expected a non-empty list of the paths it wrote"),
    (ScalesMapsInPlace(), "no-state-leak", "render changed the explanation's maps"),
    (DeclaresAnOptionItLacks(), "declared-options", "render(explanation, out_dir) raised TypeError"),
], ids=lambda value: type(value).__name__ if isinstance(value, Renderer) else None)
def test_a_broken_renderer_fails_the_rule_it_breaks(broken: Renderer, rule: str, detail: str) -> None:
    with pytest.raises(ConformanceError) as caught:
        check_renderer(broken)
    message = str(caught.value)
    assert message.startswith(f"rule '{rule}': renderer 'text': "), message
    assert detail in message


def test_a_conforming_renderer_passes_and_the_sandbox_is_gone() -> None:
    before = set(Path(tempfile.gettempdir()).glob("specinterp-conformance-*"))
    report = check_renderer(Text())
    assert set(report.passed) == set(rules("renderer"))
    assert set(Path(tempfile.gettempdir()).glob("specinterp-conformance-*")) == before


# ---------------------------------------------------------------- broken datasets

class Folder(Dataset):
    """Every WAV under ``<class>/`` of the root: conforming; broken variants below change one thing."""

    name = "folder"
    classes = ("a", "b")

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._clips = [Clip(f"{c}/{p.stem}", p, i) for i, c in enumerate(self.classes)
                       for p in sorted((self.root / c).glob("*.wav"))]
        if not self._clips:
            raise SpecinterpError(f"{self.root}: no clips")

    def clips(self) -> list[Clip]:
        return list(self._clips)

    def split_names(self) -> tuple[str, ...]:
        return ("halves",)

    def split(self, name: str, seed: int = 0) -> Split:
        if name != "halves":
            raise SpecinterpError(f"unknown split '{name}' (available: halves)")
        return Split(name, {"train": self._clips[::2], "test": self._clips[1::2]})


class MissingClips(Folder):
    def clips(self):
        return [Clip(c.id, c.path.with_name("gone.wav"), c.label) for c in self._clips]


class ClipInTwoParts(Folder):
    def split(self, name, seed=0):
        return Split(name, {"train": self._clips, "test": self._clips[:1]})


class KeyErrorForUnknownSplit(Folder):
    def split(self, name, seed=0):
        return {"halves": super().split}[name](name, seed)


class LabelOutOfRange(Folder):
    def clips(self):
        return [Clip(c.id, c.path, 7) for c in self._clips]


@pytest.fixture
def two_classes(tmp_path: Path) -> Path:
    import soundfile as sf

    for c, hz in (("a", 220.0), ("b", 880.0)):
        (tmp_path / c).mkdir()
        for i in range(3):
            sf.write(tmp_path / c / f"{c}{i}.wav", tone_mix(0.5, (hz * (1 + 0.1 * i),), seed=i), 22050)
    return tmp_path


@pytest.mark.parametrize("broken, rule, detail", [
    (MissingClips, "clips-exist", "6 of 6 clips have no file, e.g. 'a/a0' at"),
    (ClipInTwoParts, "splits", "split('halves') puts clip 'a/a0' in parts 'train' and 'test'"),
    (KeyErrorForUnknownSplit, "one-line-errors", "split('conformance-no-such-split') raised KeyError"),
    (LabelOutOfRange, "clips", "clip 'a/a0' has label 7, expected an int in 0..1"),
], ids=lambda value: value.__name__ if isinstance(value, type) else None)
def test_a_broken_dataset_fails_the_rule_it_breaks(broken: type[Dataset], rule: str, detail: str,
                                                   two_classes: Path) -> None:
    check_dataset(DatasetPlugin("folder", Folder), two_classes)  # the unbroken one passes
    with pytest.raises(ConformanceError) as caught:
        check_dataset(DatasetPlugin("folder", broken), two_classes)
    message = str(caught.value)
    assert message.startswith(f"rule '{rule}': dataset 'folder': "), message
    assert detail in message
