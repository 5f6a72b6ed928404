"""Tagging models end to end: tags printed, --target TAG, a taggram in the PNG and the HTML, audio on the
model's 16 kHz grid with the input's duration."""

from __future__ import annotations

import dataclasses

import numpy as np
import soundfile as sf
from click.testing import CliRunner

from conftest import tone_mix
from specinterp import api
from specinterp.cli import cli
from specinterp_plugins.renderers import png


def run(*args):
    return CliRunner().invoke(cli, list(map(str, args)))


def test_cli_explains_a_tag_of_a_tagger(tmp_path):
    song = tmp_path / "song.wav"
    sf.write(song, tone_mix(7.0, (110.0, 220.0, 3000.0), seed=3, noise=0.1), 22050)
    out = tmp_path / "out"
    result = run("explain", "--model", "musicnn-msd", "--explainer", "gradcam", "--target", "heavy metal", "--out", out,
                 song)
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert first.startswith(f"{song}: tags: ") and len(first.split(", ")) == 5
    wav, rate = sf.read(out / "song.gradcam.wav")
    assert rate == 16000 and abs(len(wav) / 16000 - 7.0) < 1 / 16000 + 1e-9
    page = (out / "song.gradcam.html").read_text()
    assert "Taggram" in page and "Top-10 tags" in page and "heavy metal" in page
    assert "Explained: <b>heavy metal</b>" in page


def test_unknown_tag_is_a_one_line_error(tmp_path):
    song = tmp_path / "song.wav"
    sf.write(song, tone_mix(4.0, (440.0,), seed=4), 22050)
    result = run("explain", "--model", "vgg-mtt", "--explainer", "saliency", "--target", "polka", "--out", tmp_path,
                 song)
    assert result.exit_code == 2
    assert "unknown tag 'polka'" in result.output and "Traceback" not in result.output


def test_png_strip_is_a_taggram_of_the_top_tags_with_the_target_bold():
    explanation = api.explain(tone_mix(6.0, (220.0, 2000.0), seed=5), model="musicnn-mtt", explainer="gradcam",
                              target="piano", sample_rate=22050)
    assert explanation.prediction.multilabel
    figure = png.draw(explanation)
    strips = [ax for ax in figure.axes if ax.get_ylabel() == "taggram"]
    assert len(strips) == 1 and not [ax for ax in figure.axes if ax.get_ylabel() == "genre"]
    strip = strips[0]
    labels = [label.get_text() for label in strip.get_yticklabels()]
    expected, grid = explanation.prediction.taggram(png.TAGGRAM_TAGS)
    assert labels == expected and grid.shape == (10, len(explanation.prediction.window_starts))
    weights = {label.get_text(): label.get_fontweight() for label in strip.get_yticklabels()}
    if "piano" in weights:
        assert weights["piano"] == "bold"
    # the per-window probabilities are independent sigmoids, the song's their mean
    np.testing.assert_allclose(explanation.prediction.probabilities,
                               explanation.prediction.window_probabilities.mean(axis=0), rtol=1e-6)
    single = dataclasses.replace(explanation.prediction, multilabel=False)
    assert single.taggram(3)[0] == expected[:3]
