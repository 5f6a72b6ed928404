"""The PNG, WAV and HTML renderers, the Explanation's save / to_png / notebook views, and the CLI's --render."""

from __future__ import annotations

import base64
import dataclasses
import io
import re
from itertools import pairwise

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from PIL import Image

from conftest import SR, tone_mix
from specinterp import api, frontend
from specinterp.cli import cli
from specinterp.interfaces import Explanation, Prediction
from specinterp.outputs import MANIFEST
from specinterp.rendering import listen
from specinterp_plugins.renderers import html, png, wav

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
GENRES = ("blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock")
LSB = 1 / 32768


@pytest.fixture(scope="module")
def song(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("in") / "song.wav"
    sf.write(path, tone_mix(7.0, (220.0, 330.0, 1760.0), seed=1), SR)
    return str(path)


@pytest.fixture(scope="module")
def explanation(song) -> Explanation:
    return api.explain(song, "camcnn", "cam")


def several_maps(explanation: Explanation, count: int = 4) -> Explanation:
    """The same song as if a filter explainer had given ``count`` maps."""
    cam = explanation.maps["cam"]
    maps = {f"conv1-filter{k}": np.roll(cam, 9 * k, axis=0) for k in (1, 8, 16, 32)[:count]}
    return dataclasses.replace(explanation, explainer="filtermaps", maps=maps)


def hour_long(seed: int = 0) -> Explanation:
    """A synthetic one-hour explanation (no model) whose top genre changes every few windows."""
    rng = np.random.default_rng(seed)
    frames = 3600 * SR // 512 + 1
    starts = np.arange(0, 3600 - 2.0, 64 * 512 / SR)
    genres = np.repeat(rng.integers(0, 10, len(starts)), rng.integers(1, 250, len(starts)))[: len(starts)]
    probabilities = np.full((len(starts), 10), 0.02)
    probabilities[np.arange(len(starts)), genres] = rng.uniform(0.3, 0.9, len(starts))
    prediction = Prediction(GENRES, np.full(10, 0.1), probabilities, starts)
    spectrogram = rng.standard_normal((128, frames), dtype=np.float32)
    return Explanation("hour.wav", "camcnn", "cam", 0, prediction, spectrogram, {"cam": rng.random((128, frames))},
                       np.zeros(1, np.float32), frontend.DEFAULT)


def time_labels(ax) -> list[str]:
    """The x tick labels drawn (those inside the axis limits)."""
    low, high = ax.get_xlim()
    return [t.get_text() for t in ax.get_xticklabels() if low <= t.get_position()[0] <= high]


def decode_data_uri(uri: str) -> bytes:
    return base64.b64decode(uri.split(",", 1)[1])


# ---------------------------------------------------------------- WAV

def test_explanation_and_complement_sum_to_the_input(explanation, song, tmp_path):
    paths = wav.WavRenderer().render(explanation, tmp_path, complement=True)
    assert [p.name for p in paths] == ["song.cam.wav", "song.cam.complement.wav"]
    original, rate = sf.read(song, dtype="float32")
    used, ignored = (sf.read(p, dtype="float32")[0] for p in paths)
    for path in paths:
        assert sf.info(path).samplerate == rate and sf.info(path).frames == len(original)
    assert np.abs(used + ignored - original).max() <= 2 * LSB  # each file rounds to 16 bits once
    in_memory = listen(explanation, "cam") + listen(explanation, "cam", complement=True)
    assert np.abs(in_memory - explanation.waveform).max() < 1e-5
    rms = lambda x: float(np.sqrt(np.mean(x ** 2)))  # noqa: E731
    assert 0 < rms(used) < rms(original) and 0 < rms(ignored) < rms(original)


def test_complement_only_when_asked(explanation, tmp_path):
    assert [p.name for p in wav.WavRenderer().render(explanation, tmp_path)] == ["song.cam.wav"]
    assert not list(tmp_path.glob("*complement*"))


def test_listen_limits_to_the_start(explanation):
    assert len(listen(explanation, "cam", complement=True, samples=SR)) == SR


# ---------------------------------------------------------------- PNG

def test_one_grid_png_for_several_maps(explanation, tmp_path):
    [path] = png.PngRenderer().render(several_maps(explanation), tmp_path)
    assert path.name == "song.filtermaps.png"
    fig = png.draw(several_maps(explanation))
    panels = [ax for ax in fig.axes if len(ax.images) == 2]
    assert [ax.get_title() for ax in panels] == ["conv1-filter1", "conv1-filter8", "conv1-filter16", "conv1-filter32"]
    assert len(fig.axes) == 1 + 4 + 4  # one timeline strip, a colour bar per panel
    grid = Image.open(path)
    assert grid.width == 2 * 12 * png.DPI and np.asarray(grid.convert("L")).std() > 20  # two columns of panels


def test_single_map_layout_and_title(explanation):
    fig = png.draw(explanation)
    title = fig.get_suptitle()
    p = explanation.prediction
    for part in ("song.wav", "camcnn", "cam", f"target {explanation.target_name} p=", f"predicted {p.genre}"):
        assert part in title
    assert len(fig.axes) == 3  # panel, its colour bar, timeline strip


def test_time_axis_in_minutes_and_seconds(explanation):
    fig = png.draw(explanation)
    fig.canvas.draw()
    labels = time_labels(fig.axes[0])
    assert labels[:3] == ["0:00", "0:01", "0:02"] and all(re.fullmatch(r"\d+:\d\d", t) for t in labels)
    assert png.clock(3600) == "60:00" and png.clock(187.4) == "3:07"


def test_hour_long_timeline_stays_readable():
    long = hour_long()
    fig = png.draw(long)
    fig.canvas.draw()
    strip = fig.axes[0]
    labels = [t for t in strip.texts if t.get_text()]
    assert 0 < len(labels) <= 24
    boxes = sorted((t.get_window_extent().x0, t.get_window_extent().x1) for t in labels)
    assert all(right <= left for (_, right), (left, _) in pairwise(boxes))  # names never overlap
    assert time_labels(strip) == [f"{m}:00" for m in range(0, 61, 10)]
    image = Image.open(io.BytesIO(long.to_png()))
    assert image.width <= 1400 and image.height <= 700  # pooled for display, not an hour wide


# ---------------------------------------------------------------- HTML

def test_html_report_is_self_contained(explanation, tmp_path):
    explanation = dataclasses.replace(explanation, command="specinterp explain --explainer cam song.wav",
                                      summary="It listened to <the 1.7 kHz tone> & little else.")
    paths = html.HtmlRenderer().render(explanation, tmp_path)
    assert [p.name for p in paths] == ["song.cam.wav", "song.cam.complement.wav", "song.cam.html"]
    page = paths[-1].read_text()
    assert re.findall(r"<script[^>]*>", page) == ["<script>"]  # one inline script, nothing loaded
    assert "http://" not in page and "https://" not in page
    [image] = re.findall(r'<img [^>]*src="(data:image/png;base64,[^"]+)"', page)
    assert decode_data_uri(image).startswith(PNG_SIGNATURE)
    audio = re.findall(r'<audio [^>]*src="(data:audio/ogg;base64,[^"]+)"', page)
    assert len(audio) == 3 and "data:audio/wav" not in page
    heard = [sf.read(io.BytesIO(decode_data_uri(uri)), dtype="float32") for uri in audio]
    assert all(rate == SR and len(samples) == len(explanation.waveform) for samples, rate in heard)
    complement, _ = sf.read(paths[1], dtype="float32")
    assert np.corrcoef(heard[2][0], complement)[0, 1] > 0.95  # the complement, lossy
    for genre, p in explanation.prediction.top(3):
        assert f"<td>{genre}</td><td class=\"num\">{p:.3f}</td>" in page
    assert page.count("<tr><td class=\"num\">0:0") == len(explanation.prediction.window_starts)
    assert "It listened to &lt;the 1.7 kHz tone&gt; &amp; little else." in page
    assert "specinterp explain --explainer cam song.wav" in page and "camcnn-random.safetensors" in page


def test_the_pages_figure_is_drawn_at_display_size(explanation):
    grid = several_maps(explanation)  # two columns: 2640 pixels wide at full resolution
    shown, full = Image.open(io.BytesIO(png.display_png(grid))), Image.open(io.BytesIO(grid.to_png()))
    assert full.width == 2 * png.DISPLAY_WIDTH and shown.width == png.DISPLAY_WIDTH
    assert shown.mode == "P" and len(shown.getcolors(1024)) <= png.DISPLAY_COLOURS
    assert abs(shown.height / shown.width - full.height / full.width) < 0.01
    page = html.fragment(grid, [])
    [image] = re.findall(r'<img [^>]*src="(data:image/png;base64,[^"]+)"', page)
    assert decode_data_uri(image) == png.display_png(grid)


def test_html_escapes_every_text(explanation):
    odd = dataclasses.replace(explanation, source='<img src=x onerror="alert(1)">.wav', command="a && b <c>")
    page = html.document(odd, [html.Track('<b>"x"</b>', 'a"b.wav')])
    assert "<img src=x" not in page and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;.wav" in page
    assert "a &amp;&amp; b &lt;c&gt;" in page and "&lt;b&gt;&quot;x&quot;&lt;/b&gt;" in page
    assert 'src="a&quot;b.wav"' in page


def test_long_song_links_the_wavs_beside_the_page(explanation, tmp_path, monkeypatch):
    monkeypatch.setattr(html, "INLINE_SECONDS", 10.0)
    paths = html.HtmlRenderer().render(explanation, tmp_path)
    assert [p.name for p in paths] == ["song.original.wav", "song.cam.wav", "song.cam.complement.wav", "song.cam.html"]
    page = paths[-1].read_text()
    sources = re.findall(r'<audio [^>]*src="([^"]+)"', page)
    assert sources == ["song.original.wav", "song.cam.wav", "song.cam.complement.wav"]
    assert all((tmp_path / s).is_file() for s in sources) and "too long to inline" in page
    assert sf.info(tmp_path / "song.original.wav").frames == len(explanation.waveform)


# ---------------------------------------------------------------- Python API

def test_save_writes_what_the_cli_writes(explanation, tmp_path):
    paths = explanation.save(tmp_path)
    assert [p.name for p in paths] == ["song.cam.png", "song.cam.wav", "song.cam.complement.wav", "song.cam.html"]
    assert [p.name for p in explanation.save(tmp_path / "wav", renderers=("wav",))] == ["song.cam.wav"]


def test_png_and_html_views(explanation):
    data = explanation.to_png()
    assert data.startswith(PNG_SIGNATURE) and explanation._repr_png_()[:8] == PNG_SIGNATURE
    fragment = explanation._repr_html_()
    assert fragment.startswith('<div class="specinterp">') and "<html" not in fragment
    assert fragment.count("data:image/png;base64,") == 1 and fragment.count("<audio ") == 3


def test_notebook_audio_is_bounded_for_long_songs(explanation, monkeypatch):
    monkeypatch.setattr(html, "NOTEBOOK_SECONDS", 6.0)  # 2 s per player, the song is 7 s
    fragment = explanation._repr_html_()
    audio = re.findall(r'<audio [^>]*src="(data:audio/ogg;base64,[^"]+)"', fragment)
    assert [round(sf.info(io.BytesIO(decode_data_uri(uri))).duration, 3) for uri in audio] == [2.0] * 3
    assert "first 0:02 of 0:07" in fragment


# ---------------------------------------------------------------- CLI

def test_cli_writes_png_wav_and_html_by_default(song, tmp_path):
    result = CliRunner().invoke(cli, ["explain", "--explainer", "cam", "--out", str(tmp_path), song])
    assert result.exit_code == 0, result.output
    names = ["song.cam.png", "song.cam.wav", "song.cam.complement.wav", "song.cam.html"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names + [MANIFEST])
    assert all(f"wrote {tmp_path / n}" in result.output for n in names)
    assert "<pre><code>specinterp " in (tmp_path / "song.cam.html").read_text()


def test_cli_link_audio_links_the_wavs(song, tmp_path):
    result = CliRunner().invoke(cli, ["explain", "--explainer", "cam", "--render", "html", "--link-audio",
                                      "--out", str(tmp_path), song])
    assert result.exit_code == 0, result.output
    names = ["song.original.wav", "song.cam.wav", "song.cam.complement.wav", "song.cam.html"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names + [MANIFEST])
    page = (tmp_path / "song.cam.html").read_text()
    assert "data:audio" not in page and re.findall(r'<audio [^>]*src="([^"]+)"', page) == names[:3]


@pytest.mark.parametrize("args, names", [
    (["--render", "png,wav"], ["song.cam.png", "song.cam.wav"]),
    (["--render", "wav", "--complement"], ["song.cam.complement.wav", "song.cam.wav"]),
])
def test_cli_render_chooses(song, tmp_path, args, names):
    result = CliRunner().invoke(cli, ["explain", "--explainer", "cam", "--out", str(tmp_path), *args, song])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == [MANIFEST, *names]


def test_sparse_maps_get_a_robust_colour_scale(explanation):
    sparse = np.zeros_like(explanation.maps["cam"])
    sparse.flat[:: 997] = np.random.default_rng(0).uniform(0, 0.3, sparse.size // 997 + 1)
    sparse.flat[0] = 1.0  # one outlier would make min-max scaling draw everything else faint
    fig = png.draw(dataclasses.replace(explanation, maps={"saliency": sparse}))
    assert 0.05 <= overlay_of(fig).norm.vmax < 0.3
    assert any("colour full from" in ax.get_ylabel() for ax in fig.axes)
    assert overlay_of(png.draw(explanation)).norm.vmax > 0.8  # a dense map keeps (nearly) the full scale


def overlay_of(fig):
    """The map drawn over the log-mel in a one-panel figure."""
    [panel] = [ax for ax in fig.axes if len(ax.images) == 2]
    return panel.images[1]


def test_render_passes_each_renderer_its_declared_options(explanation, tmp_path):
    from specinterp.api import render

    written = render(explanation, tmp_path / "a", ("png", "wav"), complement=True)
    assert sorted(p.name for p in written) == ["song.cam.complement.wav", "song.cam.png", "song.cam.wav"]
    covered = render(explanation, tmp_path / "b", ("wav", "html"))
    assert sorted(p.name for p in covered) == ["song.cam.complement.wav", "song.cam.html", "song.cam.wav"]


def test_png_and_html_of_one_explanation_draw_the_figure_once(explanation, tmp_path, monkeypatch):
    drawn = []
    original = png.draw
    monkeypatch.setattr(png, "draw", lambda e: drawn.append(e) or original(e))
    one = dataclasses.replace(explanation)  # a fresh object: nothing cached for it
    api.render(one, tmp_path / "a", ("png", "html"))
    assert len(drawn) == 1
    page = (tmp_path / "a" / f"{one.stem}.{one.explainer}.html").read_text()
    shown = Image.open(io.BytesIO(decode_data_uri(re.search(r'<img[^>]+src="([^"]+)"', page).group(1))))
    full = Image.open(tmp_path / "a" / f"{one.stem}.{one.explainer}.png")
    assert shown.size == full.size and shown.mode == "P"  # the page's copy: the same figure in a palette
    changed = dataclasses.replace(one, maps={name: 1.0 - value for name, value in one.maps.items()})
    api.render(changed, tmp_path / "b", ("png",))
    assert len(drawn) == 2  # another explanation (or another map) is drawn anew
    wide = several_maps(one)
    assert Image.open(io.BytesIO(png.display_png(wide))).width == png.DISPLAY_WIDTH < Image.open(
        io.BytesIO(png.figure_png(wide))).width
