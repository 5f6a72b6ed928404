"""The report you listen through: the figure's time axes, its playhead and click-to-seek, and the one
transport whose switch changes which track is heard at the same position, driven in headless Chromium.

Chromium runs with ``--remote-debugging-pipe`` and is driven over the DevTools protocol (JSON messages
ended by NUL on file descriptors 3 and 4): real mouse clicks and key presses, real (muted) playback.
One explanation with two maps (cam and gradcam: five tracks) makes an embedded and a linked page.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import tone_mix
from specinterp import api
from specinterp_plugins.renderers import html, png

BROWSER = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")
                if shutil.which(name)), None)
needs_browser = pytest.mark.skipif(BROWSER is None, reason="no chromium binary (chromium, chromium-browser or "
                                                           "google-chrome) on PATH; CI installs it with apt")
SECONDS = 6.0
REPLY_TIMEOUT = 30.0  # seconds to wait for one DevTools reply
INK = 240  # grey level below which a pixel is drawn on (the figure is on white)
KEYS = {" ": ("Space", 32), "ArrowLeft": ("ArrowLeft", 37), "ArrowRight": ("ArrowRight", 39), "Home": ("Home", 36)}


class DevTools:
    """Headless Chromium driven over the DevTools protocol on a pipe, attached to its one page."""

    def __init__(self, profile: Path) -> None:
        to_child, self._write = os.pipe()
        self._read, from_child = os.pipe()
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--mute-audio", "--remote-debugging-pipe",
                 "--autoplay-policy=no-user-gesture-required", f"--user-data-dir={profile}", "about:blank"]
        on_3_and_4 = f'exec "$0" "$@" 3<&{to_child} 4>&{from_child}'  # where --remote-debugging-pipe talks
        self.process = subprocess.Popen(["bash", "-c", on_3_and_4, BROWSER, *flags], pass_fds=(to_child, from_child),
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_child)
        os.close(from_child)
        self._buffer, self._id, self._session = b"", 0, None
        [page] = [t for t in self.send("Target.getTargets")["targetInfos"] if t["type"] == "page"]
        self._session = self.send("Target.attachToTarget", targetId=page["targetId"], flatten=True)["sessionId"]

    def send(self, method: str, **params) -> dict:
        """Call ``method``; its result (events arriving meanwhile are dropped)."""
        self._id += 1
        message = {"id": self._id, "method": method, "params": params}
        if self._session:
            message["sessionId"] = self._session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        while (reply := self._receive()).get("id") != self._id:
            pass
        assert "error" not in reply, f"{method}: {reply['error']}"
        return reply["result"]

    def _receive(self) -> dict:
        while b"\0" not in self._buffer:
            assert select.select([self._read], [], [], REPLY_TIMEOUT)[0], "chromium did not answer"
            chunk = os.read(self._read, 1 << 16)
            assert chunk, "chromium closed its pipe"
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def js(self, expression: str):
        """The value of a JavaScript expression in the page (a promise is awaited)."""
        result = self.send("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def open(self, page: Path, width: int = 1400, height: int = 2200, scripts: bool = True) -> None:
        """Show ``page`` (its own scripts off unless ``scripts``) in a ``width`` x ``height`` viewport, once
        loaded with every track's metadata."""
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        self.send("Emulation.setScriptExecutionDisabled", value=not scripts)
        self.send("Page.navigate", url=page.as_uri())
        deadline = time.monotonic() + REPLY_TIMEOUT
        while self.js("[location.href, document.readyState]") != [page.as_uri(), "complete"]:
            assert time.monotonic() < deadline, f"{page.name} did not load"
            time.sleep(0.05)
        self.js("""Promise.all([...document.querySelectorAll("audio")].map((a) => a.readyState >= 1 ? 0
          : new Promise((loaded) => a.addEventListener("loadedmetadata", loaded, { once: true }))))""")

    def centre(self, selector: str) -> tuple[float, float]:
        """Where the element ``selector`` finds is on the screen: its centre."""
        return tuple(self.js(f"""(() => {{
          const box = document.querySelector({json.dumps(selector)}).getBoundingClientRect();
          return [box.left + box.width / 2, box.top + box.height / 2]; }})()"""))

    def click(self, x: float, y: float) -> None:
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left", clickCount=1)

    def press(self, key: str) -> None:
        """A real key press: keydown (with its character) and keyup."""
        code, number = KEYS.get(key) or ((f"Digit{key}" if key.isdigit() else f"Key{key.upper()}"), ord(key.upper()))
        text = {"text": key} if len(key) == 1 else {}
        self.send("Input.dispatchKeyEvent", type="keyDown", key=key, code=code, windowsVirtualKeyCode=number, **text)
        self.send("Input.dispatchKeyEvent", type="keyUp", key=key, code=code, windowsVirtualKeyCode=number)

    def tracks(self) -> list[dict]:
        """Each track's position, and whether it is paused, muted, and the switch's choice."""
        return self.js("""[...document.querySelectorAll("audio[data-part]")].map((a, i) => ({
          time: a.currentTime, paused: a.paused, muted: a.muted,
          chosen: document.querySelector(`.switch [data-index="${i}"]`).getAttribute("aria-pressed") === "true" }))""")

    def close(self) -> None:
        try:
            self.send("Browser.close")
            self.process.wait(timeout=10)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            os.close(self._write)
            os.close(self._read)


@pytest.fixture(scope="module")
def explanation():
    song = tone_mix(SECONDS, (220.0, 1760.0), seed=4)
    return api.explain(song, explainer=["cam", "gradcam"])


@pytest.fixture(scope="module")
def pages(explanation, tmp_path_factory) -> dict[str, Path]:
    """The embedded page and the linked one (beside its WAVs)."""
    out = tmp_path_factory.mktemp("pages")
    return {audio: html.HtmlRenderer().render(explanation, out / audio, audio=audio)[-1] for audio in html.AUDIO_MODES}


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if BROWSER is None:
        pytest.skip("no chromium binary")
    devtools = DevTools(tmp_path_factory.mktemp("profile"))
    yield devtools
    devtools.close()


def figure_geometry(browser: DevTools) -> dict:
    """The figure's data attributes, parsed, and where its image lies on the screen (CSS pixels)."""
    return browser.js("""(() => { const figure = document.querySelector(".figure");
      const box = figure.querySelector("img").getBoundingClientRect();
      return { axes: JSON.parse(figure.dataset.axes), size: JSON.parse(figure.dataset.size),
               seconds: Number(figure.dataset.seconds), left: box.left, top: box.top, width: box.width,
               height: box.height }; })()""")


def screen_x_to_seconds(geometry: dict, box: list[float], x: float) -> tuple[float, float]:
    """The second a screen x shows on ``box``'s time axis, and one screen pixel's worth of seconds there."""
    scale = geometry["width"] / geometry["size"][0]  # screen pixels per image pixel
    left, _, right, _ = box
    image_x = (x - geometry["left"]) / scale
    return (image_x - left) / (right - left) * geometry["seconds"], geometry["seconds"] / ((right - left) * scale)


def frame_line(profile: np.ndarray, outside: int, inward: int) -> int:
    """The axes' frame line met coming from ``outside`` a box, stepping ``inward`` (+1 or -1): the darkest
    of the first three inked pixels of ``profile`` (a line is antialiased over two or three)."""
    index = outside
    while profile[index] >= INK:
        index += inward
    return min((index, index + inward, index + 2 * inward), key=lambda i: profile[i])


def frame_of(pixels: np.ndarray, box: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    """Where the axes' frame around ``box`` is drawn in a grey image (each column's median over the box's
    rows, each row's over its columns)."""
    left, top, right, bottom = (round(v) for v in box)
    columns, rows = np.median(pixels[top + 3 : bottom - 3], axis=0), np.median(pixels[:, left + 3 : right - 3], axis=1)
    return (frame_line(columns, left - 4, 1), frame_line(rows, top - 4, 1), frame_line(columns, right + 4, -1),
            frame_line(rows, bottom + 4, -1))


@pytest.mark.parametrize("maps", [2, 4])
def test_the_time_axes_are_where_the_figure_draws_them(explanation, pages, maps):
    """The boxes given to the page lie on the axes' frames in the page's own image, downscaled or not."""
    if maps == 4:  # two columns: drawn 2640 pixels wide, shown at DISPLAY_WIDTH
        cam = explanation.maps["cam"]
        explanation = dataclasses.replace(explanation, explainer="filtermaps",
                                          maps={f"filter{k}": np.roll(cam, 9 * k, axis=0) for k in range(maps)})
    shown = png.display_png(explanation)
    pixels = np.asarray(Image.open(io.BytesIO(shown)).convert("L"), dtype=float)
    axes = html.shown_time_axes(explanation, shown)
    assert axes.size == (pixels.shape[1], pixels.shape[0]) and len(axes.boxes) == 1 + maps
    assert (axes.size[0] < png.figure_time_axes(explanation).size[0]) == (maps == 4)
    assert axes.seconds == pytest.approx(png.duration(explanation))
    for box in axes.boxes:
        off = np.abs(np.subtract(frame_of(pixels, box), box)).max()  # the frame line's pixel: 1.2 px wide, half
        assert off <= (1 if maps == 2 else 1.25), (box, frame_of(pixels, box))  # that and smeared when downscaled
    if maps == 2:
        boxes = json.dumps([[round(v, 2) for v in box] for box in axes.boxes])
        assert f'data-axes="{boxes}"' in pages["embed"].read_text()


@needs_browser
@pytest.mark.parametrize("audio", html.AUDIO_MODES)
def test_without_scripts_the_players_stay(browser, pages, audio):
    browser.open(pages[audio], scripts=False)
    transport, table, players, lanes = browser.js("""[document.querySelector(".transport").offsetHeight,
      document.querySelector("table.players").offsetHeight,
      [...document.querySelectorAll("audio")].map((a) => [a.controls, a.offsetWidth, a.duration]),
      document.querySelectorAll(".lane").length]""")
    assert transport == 0 and table > 0 and lanes == 0
    assert len(players) == 5 and all(controls and width > 0 for controls, width, _ in players)
    assert [duration for *_, duration in players] == pytest.approx([SECONDS] * 5, abs=0.05)


@needs_browser
@pytest.mark.parametrize("width", [1400, 800])  # the image at its own size, and scaled down
def test_a_click_on_the_figure_seeks_there(browser, pages, width):
    browser.open(pages["embed"], width)
    geometry = figure_geometry(browser)
    assert (geometry["width"] < geometry["size"][0]) == (width == 800)  # shown smaller than drawn, or not
    scale_x, scale_y = geometry["width"] / geometry["size"][0], geometry["height"] / geometry["size"][1]
    for box in geometry["axes"]:  # the strip and each map's panel
        left, top, right, bottom = box
        for fraction in (0.1, 0.37, 0.8):
            x = round(geometry["left"] + (left + fraction * (right - left)) * scale_x)
            browser.click(x, geometry["top"] + (top + bottom) / 2 * scale_y)
            second, pixel = screen_x_to_seconds(geometry, box, x)
            times = [t["time"] for t in browser.tracks()]
            assert times == pytest.approx([second] * len(times), abs=pixel), (box, fraction)
    browser.click(geometry["left"] + 5, geometry["top"] + 5)  # the title: no time axis there
    assert [t["time"] for t in browser.tracks()] == pytest.approx(times, abs=1e-6)


@needs_browser
@pytest.mark.parametrize("audio", html.AUDIO_MODES)
def test_the_playhead_follows_the_audio(browser, pages, audio):
    browser.open(pages[audio])
    geometry = figure_geometry(browser)
    for second in (0.0, 1.25, 4.5, SECONDS):
        heads = browser.js(f"""new Promise((done) => {{
          const audible = document.querySelector("audio[data-part]");
          audible.addEventListener("seeked", () => requestAnimationFrame(() => done(
            [...document.querySelectorAll(".playhead")].map((head) => {{
              const box = head.getBoundingClientRect();
              return box.left + box.width / 2; }}))), {{ once: true }});
          audible.currentTime = {second};
        }})""")
        assert len(heads) == len(geometry["axes"])
        for box, x in zip(geometry["axes"], heads, strict=True):
            shown, pixel = screen_x_to_seconds(geometry, box, x)
            assert shown == pytest.approx(second, abs=pixel)


@needs_browser
@pytest.mark.parametrize("audio", html.AUDIO_MODES)
def test_the_switch_keeps_the_position(browser, pages, audio):
    """Paused: each switch (keys, and a click on the switch) makes one other track audible at the position."""
    browser.open(pages[audio])
    browser.js('document.querySelector("audio[data-part]").currentTime = 2.345')
    steps = [("3", 2), ("u", 1), ("i", 2), ("o", 0), ("4", 3), ("i", 4), ("o", 0), ("u", 3), ("1", 0), ("5", 4)]
    for key, audible in steps:
        browser.press(key)
        tracks = browser.tracks()
        assert [t["chosen"] for t in tracks] == [i == audible for i in range(5)], key
        assert [t["muted"] for t in tracks] == [i != audible for i in range(5)], key
        assert tracks[audible]["time"] == pytest.approx(2.345, abs=0.05), key
    browser.click(*browser.centre('.switch [data-index="1"]'))
    tracks = browser.tracks()
    assert [t["chosen"] for t in tracks] == [i == 1 for i in range(5)]
    assert tracks[1]["time"] == pytest.approx(2.345, abs=0.05) and not tracks[1]["muted"]


@needs_browser
def test_switching_while_playing_neither_restarts_nor_leaves_the_position(browser, pages):
    browser.open(pages["embed"])
    browser.press(" ")
    time.sleep(1.2)  # long enough for the silent tracks to be brought in step
    before, after = browser.js("""(() => { const tracks = [...document.querySelectorAll("audio[data-part]")];
      const before = tracks[0].currentTime;
      document.querySelector('.switch [data-index="2"]').click();
      return [before, tracks[2].currentTime]; })()""")
    assert before > 0.5 and after == pytest.approx(before, abs=0.05)
    time.sleep(0.5)
    tracks = browser.tracks()
    assert not any(t["paused"] for t in tracks) and [t["muted"] for t in tracks] == [i != 2 for i in range(5)]
    assert tracks[2]["time"] > after + 0.3  # it played on from there
    assert max(t["time"] for t in tracks) - min(t["time"] for t in tracks) < 0.05  # all five in step
    browser.press(" ")
    assert all(t["paused"] for t in browser.tracks())


@needs_browser
def test_the_keyboard_shortcuts(browser, pages):
    browser.open(pages["embed"])
    positions = []
    for key in ("ArrowRight", "ArrowRight", "ArrowLeft", "Home", "ArrowLeft", "ArrowRight"):
        browser.press(key)
        positions.append([t["time"] for t in browser.tracks()])
    end = positions[1][0]  # the second step stops at the end (as the browser estimates it from the Ogg pages)
    assert end == pytest.approx(SECONDS, abs=0.1)
    expected = [html.SEEK_STEP, end, end - html.SEEK_STEP, 0.0, 0.0, html.SEEK_STEP]
    assert positions == [pytest.approx([t] * 5, abs=1e-3) for t in expected]
    browser.press(" ")
    assert not any(t["paused"] for t in browser.tracks()), browser.tracks()
    browser.press(" ")
    assert all(t["paused"] for t in browser.tracks())
    browser.click(*browser.centre(".transport .play"))  # now focused: space must toggle once, not also click it
    assert not any(t["paused"] for t in browser.tracks())
    browser.press(" ")
    time.sleep(0.2)
    assert all(t["paused"] for t in browser.tracks())
