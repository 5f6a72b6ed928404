import re

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from PIL import Image

from conftest import REPO, SHARED_GTZAN, tone_mix
from specinterp.cli import cli


def run(*args):
    return CliRunner().invoke(cli, list(map(str, args)))


def test_explain_writes_png_and_same_length_wav(song, tmp_path):
    out = tmp_path / "out"
    result = run("explain", "--explainer", "cam", "--out", out, song)
    assert result.exit_code == 0, result.output
    genre_line = result.output.splitlines()[0]
    assert re.match(r".*song\.wav: (\w+)  \(top-3: \w+ \d\.\d\d, \w+ \d\.\d\d, \w+ \d\.\d\d\)", genre_line)
    png, wav = out / "song.cam.png", out / "song.cam.wav"
    assert f"wrote {png}" in result.output and f"wrote {wav}" in result.output
    image = np.asarray(Image.open(png).convert("RGB"))
    assert image.shape[0] > 400 and image.shape[1] > 1000 and image.std() > 20
    explained, rate = sf.read(wav)
    original, _ = sf.read(song)
    assert rate == 22050 and len(explained) == len(original)
    assert 0 < np.sqrt(np.mean(explained ** 2)) <= np.sqrt(np.mean(original ** 2)) * 1.01
    assert [p.name for p in out.glob(".*")] == [".specinterp-manifest.jsonl"]  # no temporary files left behind


def test_explain_stereo_44k_input_gives_output_of_input_duration(tmp_path):
    path = tmp_path / "stereo.flac"
    x = tone_mix(5.0, (300.0, 2000.0), 4, sr=44100)
    sf.write(path, np.stack([x, x], 1), 44100)
    result = run("explain", "--explainer", "cam", "--out", tmp_path / "o", path)
    assert result.exit_code == 0, result.output
    info = sf.info(tmp_path / "o" / "stereo.cam.wav")
    assert info.samplerate == 22050 and abs(info.duration - 5.0) < 1e-3


def test_batch_keeps_going_and_reports_failures(song, tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF nonsense")
    out = tmp_path / "out"
    result = run("explain", "--explainer", "cam", "--out", out, song, bad, tmp_path / "missing.ogg")
    assert result.exit_code == 1
    assert (out / "song.cam.png").is_file()
    assert "1 done, 2 failed" in result.output
    assert f"{bad}: cannot decode audio" in result.output and "missing.ogg: no such file" in result.output
    assert not (out / "bad.cam.png").exists() and "Traceback" not in result.output
    none = run("explain", "--explainer", "cam", "--out", out, bad)
    assert none.exit_code == 2


def test_never_writes_over_its_input(tmp_path):
    path = tmp_path / "loop.cam.wav"
    sf.write(path, tone_mix(4.0, (440.0,), 0), 22050)
    before = path.read_bytes()
    result = run("explain", "--explainer", "cam", "--out", tmp_path, "--render", "wav", tmp_path / "loop.cam.wav")
    # the output for "loop.cam.wav" is "loop.cam.cam.wav": a different file, input untouched
    assert result.exit_code == 0 and path.read_bytes() == before
    path2 = tmp_path / "x.wav"
    sf.write(path2, tone_mix(4.0, (440.0,), 0), 22050)
    from specinterp.interfaces import SpecinterpError
    from specinterp.outputs import atomic_write

    with pytest.raises(SpecinterpError, match="refusing to overwrite the input"):
        atomic_write(path2, lambda tmp: tmp.write_bytes(b""), protect=path2)


def test_bundled_example_explains(tmp_path):
    example = REPO / "examples" / "example.ogg"
    assert 15 <= sf.info(example).duration <= 30 and example.stat().st_size <= 500_000
    result = run("explain", "--explainer", "cam", "--out", tmp_path, example)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "example.cam.png").is_file() and (tmp_path / "example.cam.wav").is_file()


@pytest.mark.slow
@pytest.mark.skipif(not (SHARED_GTZAN / "rock" / "rock.00005.ogg").is_file(), reason="real GTZAN copy not present")
def test_real_gtzan_clip(tmp_path):
    clip = SHARED_GTZAN / "rock" / "rock.00005.ogg"
    result = run("explain", "--explainer", "cam", "--out", tmp_path, clip)
    assert result.exit_code == 0, result.output
    assert abs(sf.info(tmp_path / "rock.00005.cam.wav").duration - sf.info(clip).duration) < 1e-3


def test_several_explainers_in_one_call_give_one_grid_and_report(song, tmp_path):
    result = run("explain", "--explainer", "cam,gradcam", "--out", tmp_path, song)
    assert result.exit_code == 0, result.output
    png = tmp_path / "song.cam+gradcam.png"
    assert png.is_file() and (tmp_path / "song.cam+gradcam.html").is_file()
    assert (tmp_path / "song.cam+gradcam.cam.wav").is_file() and (tmp_path / "song.cam+gradcam.gradcam.wav").is_file()
    from specinterp import api

    explanation = api.explain(song, explainer=["cam", "gradcam"])
    assert set(explanation.maps) == {"cam", "gradcam"} and explanation.explainer == "cam+gradcam"
    single = api.explain(song, explainer="gradcam")
    np.testing.assert_allclose(explanation.maps["gradcam"], single.maps["gradcam"], atol=1e-6)
