"""The sanity verdict travels with the explanation: PNG caption, HTML report, notebook view, `specinterp plugins`.

The verdicts are written to a temporary file the way ``scripts/record_verdicts.py`` does (never to the
package's ``verdicts.json``): gradcam failed both checks on camcnn and passed on basecnn, cam passed on camcnn.
"""

from __future__ import annotations

import dataclasses
import io
import json

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from PIL import Image

from conftest import SR, tone_mix
from specinterp import api, assessment_report, verdicts
from specinterp.cli import cli
from specinterp.interfaces import Explanation
from specinterp_plugins.renderers import html, png

FAILED = {"randomization.top": {"mean": 0.81}, "class-sensitivity.similarity": {"mean": 0.9}}
PASSED = {"randomization.top": {"mean": 0.12}, "class-sensitivity.similarity": {"mean": 0.3}}


def assessment(model: str, values: dict[str, dict]) -> dict:
    """An ``assessment.json`` as `specinterp assess` writes it, reduced to what is recorded."""
    return {"model": model, "weights": f"/w/{model}-random.safetensors",
            "command": f"specinterp assess --model {model}",
            "split": "fault-filtered", "clips": 10, "sanity_clips": 10,
            "verdicts": {name: assessment_report.verdict(v, model) for name, v in values.items()}}


@pytest.fixture
def recorded(tmp_path, monkeypatch) -> dict:
    """A temporary verdicts file in place of the package's, recorded as the script does."""
    path = tmp_path / "verdicts.json"
    monkeypatch.setattr(verdicts, "verdicts_path", lambda: path)
    for model, values in [("camcnn", {"gradcam": FAILED, "cam": PASSED, "random-baseline": FAILED}),
                          ("basecnn", {"gradcam": PASSED})]:
        path.write_text(json.dumps(verdicts.record(assessment(model, values), {"date": "2026-01-01"})))
    verdicts.recorded.cache_clear()
    yield json.loads(path.read_text())
    verdicts.recorded.cache_clear()


@pytest.fixture(scope="module")
def both(tmp_path_factory) -> Explanation:
    path = tmp_path_factory.mktemp("in") / "song.wav"
    sf.write(path, tone_mix(4.0, (220.0, 330.0, 1760.0), seed=1), SR)
    return api.explain(str(path), "camcnn", "cam,gradcam")


def only(explanation: Explanation, name: str, explainer: str | None = None, model: str | None = None) -> Explanation:
    """One explainer's map of ``explanation``, optionally as if made by another explainer or model."""
    explainer = explainer or name
    return dataclasses.replace(explanation, explainer=explainer, maps={explainer: explanation.maps[name]},
                               model=model or explanation.model)


def captions(explanation: Explanation) -> list:
    """The caption texts of the explanation's figure (its texts but the title)."""
    figure = png.draw(explanation)
    return [t for t in figure.texts if t.get_text() != figure.get_suptitle()]


def red_pixels(data: bytes) -> int:
    """Pixels of the warning's red (its text and frame) in a PNG."""
    rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)
    return int(np.sum((rgb[..., 0] > 140) & (rgb[..., 1] < 60) & (rgb[..., 2] < 80)))


def test_recorded_verdicts_are_read(recorded, both):
    assert "random-baseline" not in recorded["models"]["camcnn-random"]["explainers"]
    assert [v.status for v in png.verdicts(both)] == ["passed", "failed"]
    assert verdicts.verdict("basecnn", "gradcam").status == "passed"


def test_failed_verdict_is_a_warning_box_in_the_page_and_the_notebook(recorded, both, tmp_path):
    text = verdicts.verdict("camcnn", "gradcam").text
    assert "read it as a picture of the input" in text
    html.HtmlRenderer().render(only(both, "gradcam"), tmp_path)
    page = (tmp_path / "song.gradcam.html").read_text()
    box = page[page.index('<div class="verdict failed"'):]
    assert "sanity check failed" in box[:200] and text.replace("'", "&#x27;") in box
    assert page.index('class="verdict failed"') < page.index("<img")  # near the top, above the figure
    assert 'class="verdict failed"' in html.notebook_html(only(both, "gradcam"))


def test_passed_verdict_is_a_note_without_warning(recorded, both, tmp_path):
    html.HtmlRenderer().render(only(both, "cam"), tmp_path)
    page = (tmp_path / "song.cam.html").read_text()
    assert "cam passed the sanity checks on camcnn" in page
    assert "verdict failed" not in page and "WARNING" not in page and "failed the sanity check" not in page
    on_basecnn = dataclasses.replace(only(both, "gradcam", model="basecnn"), weights="/w/basecnn-random.safetensors")
    gradcam_on_basecnn = html.notebook_html(on_basecnn)  # the verdict is per model and weights
    assert "gradcam passed the sanity checks on basecnn" in gradcam_on_basecnn
    assert "verdict failed" not in gradcam_on_basecnn


@pytest.mark.parametrize("explainer, model", [("echo", "camcnn"), ("cam", "mynet")])
def test_third_party_explainer_or_own_model_is_not_assessed(recorded, both, explainer, model):
    explanation = only(both, "cam", explainer=explainer, model=model)
    page = html.notebook_html(explanation)
    assert "not assessed" in page and "verdict failed" not in page and "passed the sanity" not in page
    [caption] = [t.get_text() for t in captions(explanation)]
    assert caption.startswith("Sanity checks not assessed") and f"on {model}" in caption


def test_png_caption_per_explainer_red_when_failed(recorded, both):
    passed, failed = captions(both)
    assert (passed.get_text().split()[0], failed.get_text().split()[0]) == ("cam", "WARNING,")
    assert failed.get_bbox_patch() is not None and passed.get_bbox_patch() is None  # only the failure is boxed
    assert failed.get_fontweight() == "bold"
    width = failed.figure.get_size_inches()[0] * png.CAPTION_CHARS_PER_INCH
    lines = failed.get_text().splitlines()
    assert len(lines) > 1 and all(len(line) <= width for line in lines)
    assert "rank correlation 0.81" in failed.get_text().replace("\n", " ")


def test_png_renders_for_every_verdict_and_only_the_failure_is_red(recorded, both):
    images = {name: png.png_bytes(e) for name, e in [
        ("failed", only(both, "gradcam")), ("passed", only(both, "cam")),
        ("unassessed", only(both, "cam", model="mynet"))]}
    assert all(data.startswith(b"\x89PNG\r\n\x1a\n") for data in images.values())
    sizes = {name: Image.open(io.BytesIO(data)).size for name, data in images.items()}
    assert sizes["failed"][1] > sizes["passed"][1] == sizes["unassessed"][1]  # the wrapped warning takes lines
    red = {name: red_pixels(data) for name, data in images.items()}
    assert red["failed"] > 2000 and red["passed"] < 200 and red["unassessed"] < 200, red


def test_plugins_lists_descriptions_and_verdicts(recorded):
    text = CliRunner().invoke(cli, ["plugins"]).output
    lines = {line.split(":")[0].strip(): line for line in text.splitlines() if line.startswith("  ")}
    assert lines["gradcam"].endswith("| camcnn-random failed (randomization, class), basecnn-random passed")
    assert "Grad-CAM" in lines["gradcam"]
    assert lines["cam"].endswith("| camcnn-random passed") and lines["occlusion"].endswith("| not assessed")
    listed = {p["name"]: p for p in json.loads(CliRunner().invoke(cli, ["plugins", "--json"]).output)}
    gradcam = listed["gradcam"]["verdicts"]["gradcam"]
    assert gradcam["camcnn-random"]["status"] == "failed" and gradcam["basecnn-random"]["status"] == "passed"
    assert listed["occlusion"]["verdicts"] == {"occlusion": {}}
    assert "verdicts" not in listed["png"]  # plugins without explainers keep their fields


def test_a_verdict_holds_only_for_the_weights_it_was_measured_on(recorded, both):
    other = dataclasses.replace(only(both, "gradcam"), weights="/mine/camcnn-finetuned.safetensors")
    assert verdicts.verdict("camcnn", "gradcam", other.weights).status == "not assessed"
    assert "has not been assessed on camcnn with these weights (camcnn-finetuned)" in html.notebook_html(other)
    assert verdicts.verdict("camcnn", "gradcam").status == "failed"  # no weights named: the model's recorded ones


def test_shipped_verdicts_warn_for_guided_backprop_and_not_for_gradcam(both):
    """The package's own verdicts (measured by benchmarks/assess_all.sh, docs/quality.md) reach the report."""
    verdicts.recorded.cache_clear()
    failed = html.notebook_html(dataclasses.replace(only(both, "gradcam", explainer="guided-backprop")))
    passed = html.notebook_html(only(both, "gradcam"))
    assert 'class="verdict failed"' in failed and "guided-backprop failed the sanity check on camcnn" in failed
    assert 'class="verdict failed"' not in passed and "gradcam passed the sanity checks on camcnn" in passed
