"""The HTML report stays small: Ogg Vorbis players and a display-size figure, or WAVs linked beside it.

A synthesized minute of music-like audio (tones, noise and a beat) must give a page of at most
``MB_PER_MINUTE``; the embedded audio must decode to the song's length, and ``audio="link"`` must
leave the audio out of the page and point at WAVs that exist.
"""

from __future__ import annotations

import base64
import io
import re

import numpy as np
import pytest
import soundfile as sf

from conftest import SR, tone_mix
from specinterp import api
from specinterp.interfaces import Explanation, SpecinterpError
from specinterp_plugins.renderers.html import HtmlRenderer

MB_PER_MINUTE = 1.5
SECONDS = 60.0


@pytest.fixture(scope="module")
def minute(tmp_path_factory) -> Explanation:
    """A 60 s song explained by cam: chords, a noise floor that changes every bar, and a beat."""
    rng = np.random.default_rng(3)
    tones = tone_mix(SECONDS, (110.0, 220.0, 277.2, 330.0, 880.0, 1760.0), seed=3, noise=0.05)
    bars = np.repeat(rng.uniform(0.02, 0.1, int(SECONDS / 2) + 1), 2 * SR)[: len(tones)]
    song = tones + (bars * rng.standard_normal(len(tones))).astype(np.float32)
    path = tmp_path_factory.mktemp("minute") / "minute.wav"
    sf.write(path, 0.7 * song / np.abs(song).max(), SR)
    return api.explain(path, "camcnn", "cam")


def audio_sources(page: str) -> list[str]:
    return re.findall(r'<audio [^>]*src="([^"]+)"', page)


def test_a_minute_of_song_makes_at_most_1_5_mb_of_page(minute, tmp_path):
    [*_, report] = HtmlRenderer().render(minute, tmp_path)
    megabytes = report.stat().st_size / 1e6
    assert megabytes / (SECONDS / 60) <= MB_PER_MINUTE, f"{megabytes:.2f} MB for {SECONDS:.0f} s"
    assert "data:audio/wav" not in report.read_text()


def test_embedded_audio_decodes_to_the_songs_duration(minute, tmp_path):
    [*_, report] = HtmlRenderer().render(minute, tmp_path)
    sources = audio_sources(report.read_text())
    assert len(sources) == 3 and all(s.startswith("data:audio/ogg;base64,") for s in sources)
    for uri in sources:
        info = sf.info(io.BytesIO(base64.b64decode(uri.split(",", 1)[1])))
        assert info.format == "OGG" and info.subtype == "VORBIS" and info.samplerate == SR
        assert abs(info.frames - len(minute.waveform)) <= minute.hop_length


def test_link_mode_writes_no_audio_into_the_page(minute, tmp_path):
    paths = HtmlRenderer().render(minute, tmp_path, audio="link")
    page = paths[-1].read_text()
    assert "data:audio" not in page and "keep them together" in page
    sources = audio_sources(page)
    assert sources == ["minute.original.wav", "minute.cam.wav", "minute.cam.complement.wav"]
    assert [p.name for p in paths[:-1]] == sources
    for name in sources:
        assert sf.info(tmp_path / name).frames == len(minute.waveform)
    assert paths[-1].stat().st_size < 0.5e6  # the figure and the tables only


def test_an_unknown_audio_mode_is_refused(minute, tmp_path):
    with pytest.raises(SpecinterpError, match="audio must be 'embed' or 'link'"):
        HtmlRenderer().render(minute, tmp_path, audio="mp3")
    assert not any(tmp_path.iterdir())
