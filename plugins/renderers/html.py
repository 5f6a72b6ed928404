"""HTML renderer: ``<stem>.<explainer>.html``, one report per song and explainer
(``stem``: the option, else the input's).

The page shows, under its headline, each explainer's sanity verdict on the model (a failed check as a
warning box, a pass or "not assessed" as a short note), then the figure (drawn at display size in a
256-colour palette, inlined), players for the original, each map's explanation and its complement,
the top genres (or tags), the genre timeline (or the taggram: top tags x windows, shaded by
probability), the explainer's summary, and the command and model that made it. It writes the
explanation and complement WAVs beside itself (``<stem>.<label>.wav`` and
``<stem>.<label>.complement.wav``; so ``wav`` next to ``html`` adds nothing).

The ``audio`` option chooses what the players play. ``"embed"`` (the default): the page is one
self-contained file, its audio inlined as Ogg Vorbis data URIs (about 1.2 MB per minute of song for
one map's three players), unless all players together last over ``INLINE_SECONDS``; then, as with
``"link"``, the players link the WAVs beside the page by relative path, the decoded original included
(``<stem>.original.wav``), and the page says so. No external resources.

A small inline script (the players work without it) puts them behind one transport: all tracks keep one
position, a switch (keys 1-9, or o, u, i) chooses which is heard without restarting, a playhead runs over
the figure's time axes (their boxes in the image's pixels come from the drawing: :func:`png.figure_time_axes`),
a click there seeks, space plays or pauses and the arrow keys step.
"""

from __future__ import annotations

import base64
import io
import json
import queue
import struct
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from html import escape
from pathlib import Path
from urllib.parse import quote

import numpy as np
import soundfile as sf

from specinterp import hookimpl
from specinterp.interfaces import Explanation, Renderer, SpecinterpError
from specinterp.outputs import atomic_write
from specinterp.rendering import listen
from specinterp_plugins.renderers import png, wav

INLINE_SECONDS = 3600.0  # all players together (3 x 20 minutes for one map, about 23 MB); longer audio is linked
AUDIO_MODES = ("embed", "link")
VORBIS_COMPRESSION = 0.8  # libsndfile's level, 0 (best) to 1 (smallest): about 38 kbit/s mono at 22.05 kHz
VORBIS_BLOCK = 1 << 15  # samples per write: libvorbis overflows its stack on long single writes
FEED_PIECES = 4  # pieces (each up to ~24 s of audio) waiting for a track's encoder
NOTEBOOK_SECONDS = 180.0  # all players together in a notebook (3 x 1 minute); longer songs play their start
TOP = 3
TOP_TAGS = 10  # tags listed, and rows of the taggram, for multi-label models

CSS = """
.specinterp { font: 15px/1.45 system-ui, sans-serif; color: #222; max-width: 1400px; margin: 0 auto; padding: 1em; }
.specinterp h1 { font-size: 1.4em; margin: 0 0 .3em; word-break: break-all; }
.specinterp h2 { font-size: 1.1em; margin: 1.4em 0 .4em; }
.specinterp img { max-width: 100%; height: auto; border: 1px solid #ddd; }
.specinterp table { border-collapse: collapse; }
.specinterp th, .specinterp td { text-align: left; padding: .2em .8em .2em 0; border-bottom: 1px solid #eee; }
.specinterp td.num { text-align: right; font-variant-numeric: tabular-nums; }
.specinterp audio { width: min(36em, 90vw); vertical-align: middle; }
.specinterp .scroll { max-height: 22em; overflow-y: auto; display: inline-block; }
.specinterp .note { color: #666; font-size: .9em; }
.specinterp table.taggram { table-layout: fixed; }
.specinterp table.taggram td, .specinterp table.taggram th.time { width: 1.6em; min-width: 1.6em; padding: 0;
  border: 1px solid #fff; }
.specinterp table.taggram th.time { font-weight: normal; font-size: .75em; white-space: nowrap; overflow: visible; }
.specinterp table.taggram th.tag { width: 10em; }
.specinterp .verdict { margin: .5em 0; padding: .3em .6em; border-radius: 4px; }
.specinterp .verdict.failed { background: #fde7e9; border: 2px solid #b00020; color: #7a0016; padding: .6em .8em; }
.specinterp .verdict.passed { color: #1b5e20; }
.specinterp .verdict.unassessed { color: #666; }
.specinterp pre { background: #f5f5f5; padding: .6em; white-space: pre-wrap; word-break: break-all; }
.specinterp [hidden] { display: none !important; }
.specinterp .figure { position: relative; display: inline-block; max-width: 100%; box-sizing: border-box;
  border: 1px solid #ddd; }
.specinterp .figure img { display: block; border: 0; }
.specinterp .lane { position: absolute; cursor: pointer; }
.specinterp .playhead { position: absolute; top: 0; bottom: 0; width: 2px; margin-left: -1px; background: #00e5ff;
  box-shadow: 0 0 0 1px rgba(0, 0, 0, .45); pointer-events: none; }
.specinterp .transport { position: sticky; bottom: 0; z-index: 1; display: flex; flex-wrap: wrap; align-items: center;
  gap: .4em .8em; padding: .5em 0; background: #fff; border-top: 1px solid #eee; }
.specinterp .transport button { font: inherit; padding: .25em .7em; border: 1px solid #999; border-radius: 4px;
  background: #f5f5f5; cursor: pointer; }
.specinterp .transport .play { min-width: 5em; font-weight: bold; }
.specinterp .transport .clock { font-variant-numeric: tabular-nums; min-width: 8em; }
.specinterp .transport .switch { display: inline-flex; flex-wrap: wrap; }
.specinterp .transport .switch button { border-radius: 0; margin-left: -1px; }
.specinterp .transport .switch button[aria-pressed="true"] { background: #1f77b4; border-color: #1f77b4; color: #fff; }
.specinterp .transport kbd { font: .8em monospace; opacity: .7; }
.specinterp .transport .keys { flex-basis: 100%; margin: 0; }
"""

SEEK_STEP = 5  # seconds the arrow keys move
DRIFT = 0.03  # seconds a track may be off the audible one's position when switched to; farther, it is sought
SLEW = 0.5  # seconds a silent track takes to make up a lag, playing faster or slower (1 + lag / SLEW)
MAX_SLEW = 0.25  # seconds of lag beyond which a silent track is sought instead
STEADY = 0.005  # seconds of lag below which a silent track plays at normal speed
# The transport (a script only the page's own elements drive; without it the players above work alone). All
# tracks play together, all but one muted, the silent ones kept in step with the audible one by their speed
# (a seek while playing would resume late by its own time): switching unmutes another track at the same
# position without restarting. The figure's time axes (data-axes: boxes in pixels of its image, data-size;
# from 0 s to data-seconds) get a playhead and seek where clicked.
SCRIPT = (f"""(() => {{
  const STEP = {SEEK_STEP}, DRIFT = {DRIFT}, SLEW = {SLEW}, MAX_SLEW = {MAX_SLEW}, STEADY = {STEADY};
""" + """  const root = document.currentScript.parentElement, figure = root.querySelector(".figure");
  const transport = root.querySelector(".transport"), tracks = [...root.querySelectorAll("audio[data-part]")];
  if (!figure || !transport || !tracks.length) return;
  const seconds = Number(figure.dataset.seconds);
  const [width, height] = JSON.parse(figure.dataset.size);
  const percent = (fraction) => `${100 * fraction}%`;
  const playButton = transport.querySelector(".play"), clock = transport.querySelector(".clock");
  const choices = [...transport.querySelectorAll("[data-index]")];
  let audible = 0, map = (tracks.find((a) => a.dataset.map) || tracks[0]).dataset.map;
  const now = () => tracks[audible].currentTime;
  const playing = () => !tracks[audible].paused;
  const end = () => Math.min(...tracks.map((a) => a.duration || Infinity));  // the shortest (durations are estimates)
  const heads = JSON.parse(figure.dataset.axes).map(([left, top, right, bottom]) => {
    const lane = figure.appendChild(document.createElement("div")), head = document.createElement("div");
    lane.className = "lane";
    head.className = "playhead";
    Object.assign(lane.style, { left: percent(left / width), top: percent(top / height),
                                width: percent((right - left) / width), height: percent((bottom - top) / height) });
    lane.addEventListener("click", (event) => {
      const box = lane.getBoundingClientRect();
      seek((event.clientX - box.left) / box.width * seconds);
    });
    return lane.appendChild(head);
  });
  const mmss = (t) => {
    if (!isFinite(t)) return "-:--.-";
    const tenths = Math.floor(t * 10);
    return `${Math.floor(tenths / 600)}:${((tenths % 600) / 10).toFixed(1).padStart(4, "0")}`;
  };
  function show() {
    const t = now();
    heads.forEach((head) => { head.style.left = percent(Math.min(t / seconds, 1)); });
    clock.textContent = `${mmss(t)} / ${mmss(end())}`;
    playButton.textContent = playing() ? "pause" : "play";
    choices.forEach((choice, i) => choice.setAttribute("aria-pressed", String(i === audible)));
  }
  function place(a, t) {
    if (a.currentTime !== t) a.currentTime = t;
    a.playbackRate = 1;
  }
  function follow(a, t) {
    const behind = t - a.currentTime;
    if (a.seeking) return;
    if (Math.abs(behind) > MAX_SLEW) place(a, t);
    else a.playbackRate = Math.abs(behind) < STEADY ? 1 : 1 + behind / SLEW;
  }
  function align() {
    const t = now();
    tracks.forEach((a, i) => { if (i !== audible) (playing() ? follow : place)(a, t); });
  }
  function seek(time) {
    const t = Math.min(Math.max(time, 0), end());
    tracks.forEach((a) => place(a, t));
    show();
  }
  function animate() {
    show();
    if (playing()) requestAnimationFrame(animate);
  }
  function stop() {
    tracks.forEach((a) => a.pause());
    align();
    show();
  }
  function start() {
    if (tracks[audible].ended) seek(0);
    align();
    tracks.forEach((a) => a.play().catch((error) => { if (error.name === "NotAllowedError") stop(); }));  // refused
    requestAnimationFrame(animate);
  }
  function listen(index) {
    if (!tracks[index] || index === audible) return;
    const t = now();
    tracks[index].playbackRate = 1;
    if (!playing() || Math.abs(tracks[index].currentTime - t) > DRIFT) tracks[index].currentTime = t;
    tracks[index].muted = false;
    tracks[audible].muted = true;
    audible = index;
    map = tracks[index].dataset.map || map;
    show();
  }
  const part = (name) => listen(tracks.findIndex((a) => a.dataset.part === name
                                                  && (name === "original" || a.dataset.map === map)));
  const keys = { " ": () => (playing() ? stop() : start()), ArrowLeft: () => seek(now() - STEP),
                 ArrowRight: () => seek(now() + STEP), Home: () => seek(0),
                 o: () => part("original"), u: () => part("used"), i: () => part("ignored") };
  const ours = (element) => root.contains(element)
    || ((!element || element === document.body) && document.querySelector(".specinterp") === root);
  const action = (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || !ours(document.activeElement)) return null;
    if (/^[1-9]$/.test(event.key)) return () => listen(Number(event.key) - 1);
    return keys[event.key.length === 1 ? event.key.toLowerCase() : event.key] || null;
  };
  document.addEventListener("keydown", (event) => {
    const act = action(event);
    if (!act) return;
    event.preventDefault();
    if (!(event.repeat && event.key === " ")) act();
  });
  document.addEventListener("keyup", (event) => { if (action(event)) event.preventDefault(); });
  tracks.forEach((a) => {
    ["timeupdate", "seeked", "loadedmetadata", "play", "pause"].forEach((type) => a.addEventListener(type, () => {
      if (a !== tracks[audible]) return;
      if (type === "timeupdate" && playing()) align();
      show();
    }));
    a.addEventListener("ended", () => { if (a === tracks[audible] && a.ended) stop(); });  // (not a stale one)
  });
  playButton.addEventListener("click", () => (playing() ? stop() : start()));
  choices.forEach((choice) => choice.addEventListener("click", () => listen(Number(choice.dataset.index))));
  tracks.forEach((a, i) => { a.muted = i !== audible; });
  root.querySelector("table.players").hidden = true;
  transport.hidden = false;
  show();
})();""")


@dataclass(frozen=True)
class Track:
    """One player: what it plays, its ``src`` (data URI or relative path)."""

    label: str
    src: str


def data_uri(data: bytes, mime: str) -> str:
    """``data:`` URI holding ``data`` in base64."""
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def tee_vorbis(pieces: Iterable[np.ndarray], sample_rate: int, buffer: io.BytesIO) -> Iterator[np.ndarray]:
    """Yield mono ``pieces`` unchanged while encoding them as an Ogg Vorbis file into ``buffer``."""
    with sf.SoundFile(buffer, "w", sample_rate, 1, format="OGG", subtype="VORBIS",
                      compression_level=VORBIS_COMPRESSION) as out:
        for piece in pieces:
            for start in range(0, len(piece), VORBIS_BLOCK):
                out.write(piece[start : start + VORBIS_BLOCK])
            yield piece


def vorbis_bytes(pieces: Iterable[np.ndarray], sample_rate: int) -> bytes:
    """Ogg Vorbis file contents of mono audio given as consecutive pieces."""
    buffer = io.BytesIO()
    for _ in tee_vorbis(pieces, sample_rate, buffer):
        pass
    return buffer.getvalue()


def vorbis_uri(pieces: Iterable[np.ndarray], sample_rate: int) -> str:
    """An ``audio/ogg`` data URI of :func:`vorbis_bytes`."""
    return data_uri(vorbis_bytes(pieces, sample_rate), "audio/ogg")


def track_labels(explanation: Explanation) -> list[str]:
    """Player labels in page order: the original, then each map and its complement."""
    labels = ["original"]
    for name in explanation.maps:
        labels += [f"what the network used ({name})", f"what it ignored (1 - {name})"]
    return labels


def seconds(explanation: Explanation) -> float:
    """The song's duration."""
    return len(explanation.waveform) / explanation.sample_rate


def inlined(explanation: Explanation) -> bool:
    """Whether every player's audio fits in ``INLINE_SECONDS`` together."""
    return seconds(explanation) * len(track_labels(explanation)) <= INLINE_SECONDS


def page_tracks(explanation: Explanation, out_dir: Path, stem: str | None = None,
                audio: str = "embed") -> tuple[list[Track], list[Path]]:
    """Write the WAVs the page plays; return its players (embedded or linked, see ``audio``) and the paths written.

    Each map is inverted once for both of its WAVs (:func:`wav.listen_pairs`); when embedded, every
    track is Vorbis-encoded in a thread of its own as its pieces come (libvorbis releases the GIL).
    """
    labels = track_labels(explanation)
    rate = explanation.sample_rate
    written: list[Path] = []
    if not (audio == "embed" and inlined(explanation)):
        original = wav.write_wavs([Path(out_dir) / f"{stem or explanation.stem}.original.wav"],
                                  ((piece,) for piece in wav.samples_in_pieces(explanation.waveform)), explanation)
        for name in explanation.maps:
            written += wav.write_wavs(map_tracks(explanation, out_dir, name, stem), wav.listen_pairs(explanation, name),
                                      explanation)
        files = original + written
        return [Track(lbl, quote(path.name)) for lbl, path in zip(labels, files, strict=True)], files
    with ThreadPoolExecutor(max_workers=1 + 2 * len(explanation.maps)) as pool:
        encoded = [pool.submit(vorbis_bytes, wav.samples_in_pieces(explanation.waveform), rate)]
        for name in explanation.maps:
            feeds = [VorbisFeed(pool, rate), VorbisFeed(pool, rate)]
            try:
                written += wav.write_wavs(map_tracks(explanation, out_dir, name, stem),
                                          (tuple(feed.put(piece) for feed, piece in zip(feeds, pair, strict=True))
                                           for pair in wav.listen_pairs(explanation, name)), explanation)
            finally:
                for feed in feeds:
                    feed.close()
            encoded += [feed.encoded for feed in feeds]
        uris = [data_uri(future.result(), "audio/ogg") for future in encoded]
    return [Track(lbl, uri) for lbl, uri in zip(labels, uris, strict=True)], written


def map_tracks(explanation: Explanation, out_dir: Path, name: str, stem: str | None) -> list[Path]:
    """Where one map's WAVs go: what the network used, what it ignored."""
    return [wav.track_path(explanation, out_dir, name, complement, stem) for complement in (False, True)]


class VorbisFeed:
    """Pieces handed over one by one to :func:`vorbis_bytes` running in ``pool``; ``encoded`` is its future."""

    def __init__(self, pool: ThreadPoolExecutor, sample_rate: int) -> None:
        self.pieces: queue.Queue = queue.Queue(maxsize=FEED_PIECES)
        self.encoded = pool.submit(vorbis_bytes, self.drained(), sample_rate)

    def drained(self) -> Iterator[np.ndarray]:
        """The pieces as they are handed over, until ``None``."""
        while (piece := self.pieces.get()) is not None:
            yield piece

    def put(self, piece: np.ndarray | None) -> np.ndarray | None:
        """Hand ``piece`` over (``None``: the end) and return it; raise the encoder's error if it failed."""
        while True:
            try:
                self.pieces.put(piece, timeout=0.1)
                return piece
            except queue.Full:
                if self.encoded.done():
                    self.encoded.result()  # raises the encoder's error
                    return piece  # it ended early: nothing more to hand over

    def close(self) -> None:
        """Tell the encoder the track is complete."""
        self.put(None)


def excerpt_tracks(explanation: Explanation) -> tuple[list[Track], int]:
    """Players computed in memory over at most ``NOTEBOOK_SECONDS`` in all: the song's start when long."""
    labels = track_labels(explanation)
    samples = min(len(explanation.waveform), int(NOTEBOOK_SECONDS / len(labels) * explanation.sample_rate))
    audio = [explanation.waveform[:samples]]
    for name in explanation.maps:
        audio += [listen(explanation, name, False, samples), listen(explanation, name, True, samples)]
    tracks = [Track(lbl, vorbis_uri([a], explanation.sample_rate)) for lbl, a in zip(labels, audio, strict=True)]
    return tracks, samples


def link_note(explanation: Explanation, audio: str) -> str:
    """Why the players link WAVs, when they do."""
    if audio == "link":
        return "The players play the WAV files written beside this page, so keep them together."
    if inlined(explanation):
        return ""
    return (f"This song is {png.clock(seconds(explanation))} long, too long to inline its audio: the players "
            "play the WAV files written beside this page, so keep them together.")


def track_roles(explanation: Explanation) -> list[tuple[str, str]]:
    """Each player's part (``original``, ``used`` or ``ignored``) and map (``""`` for the original), in page order."""
    return [("original", "")] + [(part, name) for name in explanation.maps for part in ("used", "ignored")]


def _players(explanation: Explanation, tracks: list[Track], note: str) -> str:
    """The players, one per track (playable alone; the script hides them behind its transport)."""
    roles = track_roles(explanation)
    rows = "".join(f'<tr><th>{escape(t.label)}</th><td><audio controls preload="metadata" src="{escape(t.src)}" '
                   f'data-part="{part}" data-map="{escape(name)}"></audio></td></tr>'
                   for t, (part, name) in zip(tracks, roles, strict=False))  # (a caller may give fewer)
    hint = f'<p class="note">{escape(note)}</p>' if note else ""
    transport = _transport(roles[: len(tracks)]) if tracks else ""
    return f'<h2>Listen</h2>{hint}{transport}<table class="players">{rows}</table>'


def _transport(roles: list[tuple[str, str]]) -> str:
    """One transport for all tracks, shown by the script: play/pause, the position, the switch, the keys."""
    switch = "".join(f'<button type="button" data-index="{i}" aria-pressed="{"true" if i == 0 else "false"}">'
                     f'<kbd>{i + 1}</kbd> {escape(part if part == "original" else f"{part} ({name})")}</button>'
                     for i, (part, name) in enumerate(roles))
    keys = (f"Space: play or pause; 1-{min(len(roles), 9)} or o, u, i: the original, what the network used, what it "
            f"ignored, at the same moment; left and right arrows: {SEEK_STEP} s back or forward; "
            "click the figure to go there.")
    return (f'<div class="transport" hidden><button type="button" class="play">play</button>'
            f'<span class="clock"></span><span class="switch" role="group" aria-label="listen to">{switch}</span>'
            f'<p class="note keys">{keys}</p></div>')


def _headline(explanation: Explanation) -> str:
    p = explanation.prediction
    return (f"<h1>{escape(Path(explanation.source).name)}</h1>"
            f"<p>{'Top tag' if p.multilabel else 'Predicted'} <b>{escape(p.label)}</b> "
            f"(p={p.probabilities[p.index]:.2f}). "
            f"Explained: <b>{escape(explanation.target_name)}</b> (p={p.probabilities[explanation.target]:.2f}) "
            f"by <b>{escape(explanation.explainer)}</b> on model <b>{escape(explanation.model)}</b>; "
            f"{png.clock(seconds(explanation))} long.</p>")


def _verdicts(explanation: Explanation) -> str:
    """Each explainer's sanity verdict: a warning box when failed, a one-line note otherwise."""
    parts = []
    for v in png.verdicts(explanation):
        sentence = png.verdict_sentence(v)
        if v.failed:
            head, _, rest = sentence.partition(": ")
            parts.append(f'<div class="verdict failed" role="alert"><b>&#9888; {escape(head)}:</b> '
                         f'{escape(rest)}</div>')
        else:
            kind = "passed" if v.status == "passed" else "unassessed"
            parts.append(f'<p class="verdict {kind}">{escape(sentence)}</p>')
    return "".join(parts)


def _summary(explanation: Explanation) -> str:
    return f"<h2>In words</h2><p>{escape(explanation.summary)}</p>" if explanation.summary else ""


def _figure(explanation: Explanation, image: bytes | None = None) -> str:
    """The figure, with where its time axes lie in the image (``data-axes``, ``data-size``, ``data-seconds``)."""
    image = image or png.display_png(explanation)
    strip = "taggram" if explanation.prediction.multilabel else "genre timeline"
    alt = f"{explanation.explainer} maps over the log-mel spectrogram, with the {strip}"
    axes = shown_time_axes(explanation, image)
    boxes = json.dumps([[round(v, 2) for v in box] for box in axes.boxes])
    return (f'<div class="figure" data-seconds="{axes.seconds:.6f}" data-size="{json.dumps(list(axes.size))}" '
            f'data-axes="{escape(boxes)}"><img alt="{escape(alt)}" src="{data_uri(image, "image/png")}"></div>')


def shown_time_axes(explanation: Explanation, image: bytes) -> png.TimeAxes:
    """:func:`png.figure_time_axes` scaled to ``image``, the figure as the page shows it (maybe downscaled)."""
    full = png.figure_time_axes(explanation)
    size = struct.unpack(">II", image[16:24])  # PNG IHDR: width, height
    x, y = size[0] / full.size[0], size[1] / full.size[1]
    return png.TimeAxes(tuple((left * x, top * y, right * x, bottom * y) for left, top, right, bottom in full.boxes),
                        size, full.seconds)


def _top(explanation: Explanation) -> str:
    kind, count = ("tags", TOP_TAGS) if explanation.prediction.multilabel else ("genres", TOP)
    rows = "".join(f'<tr><td>{escape(g)}</td><td class="num">{p:.3f}</td></tr>'
                   for g, p in explanation.prediction.top(count))
    return f"<h2>Top-{count} {kind}</h2><table><tr><th>{kind[:-1]}</th><th>probability</th></tr>{rows}</table>"


def _taggram(explanation: Explanation) -> str:
    """The top tags (rows) x windows (columns), each cell shaded by its probability, with a tooltip."""
    tags, grid = explanation.prediction.taggram(TOP_TAGS)
    starts = explanation.prediction.window_starts
    head = "".join(f'<th class="time" title="{png.clock(t)}">{png.clock(t) if i % 5 == 0 else ""}</th>'
                   for i, t in enumerate(starts))
    rows = "".join(
        f'<tr><th class="tag">{escape(tag)}</th>' + "".join(
            f'<td style="background: rgba(31, 119, 180, {p:.2f})" '
            f'title="{escape(tag)} at {png.clock(t)}: {p:.2f}"></td>'
            for t, p in zip(starts, values, strict=True)) + "</tr>"
        for tag, values in zip(tags, grid, strict=True))
    return ("<h2>Taggram</h2><p class=\"note\">Probability of each of the song's top tags in each analysis "
            "window (darker: more probable; hover for the value).</p>"
            '<div class="scroll" style="max-width: 100%; overflow-x: auto"><table class="taggram">'
            f'<tr><th class="tag"></th>{head}</tr>'
            f"{rows}</table></div>")


def _timeline(explanation: Explanation) -> str:
    if explanation.prediction.multilabel:
        return _taggram(explanation)
    rows = "".join(f'<tr><td class="num">{png.clock(start)}</td><td>{escape(g)}</td><td class="num">{p:.2f}</td></tr>'
                   for start, g, p in explanation.prediction.timeline())
    return ("<h2>Genre timeline</h2><p class=\"note\">Top genre of each analysis window.</p>"
            f'<div class="scroll"><table><tr><th>start</th><th>genre</th><th>probability</th></tr>{rows}</table></div>')


def _provenance(explanation: Explanation) -> str:
    command = explanation.command or "(made through the Python API)"
    weights = explanation.weights or "unknown"
    return (f"<h2>How this was made</h2><pre><code>{escape(command)}</code></pre>"
            f"<table><tr><th>model</th><td>{escape(explanation.model)}</td></tr>"
            f"<tr><th>weights</th><td>{escape(weights)}</td></tr>"
            f"<tr><th>explainer</th><td>{escape(explanation.explainer)}</td></tr>"
            f"<tr><th>target</th><td>{escape(explanation.target_name)}</td></tr></table>")


def fragment(explanation: Explanation, tracks: list[Track], note: str = "", image: bytes | None = None) -> str:
    """The report as an HTML fragment (its CSS scoped to ``.specinterp``); ``image``: the figure's PNG
    (default: drawn here, :func:`png.display_png`)."""
    parts = [_headline(explanation), _verdicts(explanation), _summary(explanation), _figure(explanation, image),
             _players(explanation, tracks, note),
             _top(explanation), _timeline(explanation), _provenance(explanation)]
    return f'<div class="specinterp"><style>{CSS}</style>{"".join(parts)}<script>{SCRIPT}</script></div>'


def document(explanation: Explanation, tracks: list[Track], note: str = "", image: bytes | None = None) -> str:
    """A whole HTML page around :func:`fragment`."""
    name = escape(Path(explanation.source).name)
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{name}: {escape(explanation.explainer)} explanation</title></head>"
            f"<body>{fragment(explanation, tracks, note, image)}</body></html>\n")


def notebook_html(explanation: Explanation) -> str:
    """The fragment with in-memory players, an excerpt from the start for long songs."""
    tracks, samples = excerpt_tracks(explanation)
    note = "" if samples == len(explanation.waveform) else (
        f"The players play the first {png.clock(samples / explanation.sample_rate)} of "
        f"{png.clock(seconds(explanation))}; save() writes the full WAVs.")
    return fragment(explanation, tracks, note)


class HtmlRenderer(Renderer):
    name = "html"
    suffix = ".html"
    description = ("a page: figure with a playhead, players (original, explanation, complement) behind one switch, "
                   "genres or tags, provenance; "
                   "audio embedded as Ogg Vorbis, or audio=\"link\" to play the WAVs beside it")
    covers = frozenset({"wav"})  # it writes the explanation and complement WAVs beside the page
    options = {"stem": None, "audio": "embed"}

    def render(self, explanation: Explanation, out_dir: Path, stem: str | None = None,
               audio: str = "embed") -> list[Path]:
        """The explanation and complement WAVs, when linked the original, then ``<stem>.<explainer>.html``.

        ``audio``: ``"embed"`` (Ogg Vorbis inside the page, unless the song is too long) or ``"link"``
        (the players play the WAVs beside the page).
        """
        if audio not in AUDIO_MODES:
            raise SpecinterpError(f"html renderer: audio must be 'embed' or 'link', not {audio!r}")
        with ThreadPoolExecutor(max_workers=1) as pool:  # the figure (Python) drawn while the tracks encode (C)
            image = pool.submit(png.display_png, explanation)
            tracks, written = page_tracks(explanation, out_dir, stem, audio)
        page = document(explanation, tracks, link_note(explanation, audio), image.result())
        target = Path(out_dir) / f"{stem or explanation.stem}.{explanation.explainer}{self.suffix}"
        return written + [atomic_write(target, lambda tmp: tmp.write_text(page, encoding="utf-8"),
                                       protect=Path(explanation.source))]


@hookimpl
def register_renderers(register) -> None:
    register(HtmlRenderer())
