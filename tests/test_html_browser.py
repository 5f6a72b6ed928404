"""The HTML report in a real browser: headless Chromium shows the figure and loads every player,
its embedded Ogg Vorbis or, with ``audio="link"``, the WAVs beside the page.

The test's copy of the page gets a small script of its own that starts every player (muted, so the
browser decodes the audio) and writes what the browser sees (image widths, audio readyState and duration)
into ``<body data-check>``, read back with --dump-dom. The page's own script (its transport) is tested in
``test_html_player.py``.
"""

from __future__ import annotations

import html as markup
import json
import re
import shutil
import subprocess

import pytest
import soundfile as sf

from conftest import SR, tone_mix
from specinterp import api
from specinterp_plugins.renderers.html import HtmlRenderer

BROWSER = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")
                if shutil.which(name)), None)
CHECK = """<script>
addEventListener("load", () => {
  const players = [...document.querySelectorAll("audio")];
  const report = () => { document.body.dataset.check = JSON.stringify({
    images: [...document.images].map(i => i.naturalWidth),
    audio: players.map(a => [a.readyState, a.duration]) }); };
  report();
  players.forEach(a => {
    ["loadedmetadata", "canplaythrough", "error"].forEach(e => a.addEventListener(e, report));
    a.muted = true;  // muted playback may start without a gesture; playing decodes the audio
    a.play().catch(report);
  });
});
</script>"""

pytestmark = pytest.mark.skipif(BROWSER is None, reason="no chromium binary (chromium, chromium-browser or "
                                                        "google-chrome) on PATH; CI installs it with apt")


def browser_view(page, profile) -> dict:
    """What Chromium reports for ``page`` after loading it: the data-check attribute, parsed."""
    command = [BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--mute-audio",
               f"--user-data-dir={profile}", "--virtual-time-budget=5000", "--dump-dom", page.as_uri()]
    dom = subprocess.run(command, capture_output=True, text=True, timeout=60).stdout
    found = re.search(r'<body[^>]*data-check="([^"]*)"', dom)
    assert found, f"no check result in the dumped DOM: {dom[:300]!r}"
    return json.loads(markup.unescape(found.group(1)))


@pytest.mark.parametrize("audio", ["embed", "link"])
def test_report_renders_and_its_players_load(tmp_path, audio):
    song = tmp_path / "song.wav"
    sf.write(song, tone_mix(4.0, (220.0, 1760.0), seed=2), SR)
    [*_, report] = HtmlRenderer().render(api.explain(song), tmp_path / "out", audio=audio)
    page = report.read_text()
    assert ("data:audio/ogg;base64," in page) == (audio == "embed")
    checked = report.with_name("checked.html")  # beside the WAVs a linked page plays
    checked.write_text(page.replace("</body>", f"{CHECK}</body>"))
    seen = browser_view(checked, tmp_path / "profile")
    assert len(seen["images"]) == 1 and seen["images"][0] > 0
    assert len(seen["audio"]) == 3
    for ready, duration in seen["audio"]:
        assert ready == 4 and duration == pytest.approx(4.0, abs=0.05)  # HAVE_ENOUGH_DATA: decoded through
