"""PNG renderer: one figure per explanation, ``<stem>.<explainer>.png`` (``stem``: the option, else the input's).

One panel per map (the log-mel with the map overlaid, frequency in Hz on the model's mel scale, its
own colour bar), panels in one column (two columns from four maps on), and once at the bottom the
genre timeline (single-label models) or a taggram (multi-label models: the song's top tags x time,
each window's probability as a shade), time in m:ss. Long songs are pooled to at most ``MAX_COLUMNS`` columns
for display only, and each overlay's colour saturates at its 99.5th percentile (so sparse attributions are not
drawn faint).
"""

from __future__ import annotations

import io
import struct
import textwrap
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from specinterp import hookimpl
from specinterp.frontend import mel_band_hz
from specinterp.interfaces import Explanation, Renderer
from specinterp.outputs import atomic_write
from specinterp.verdicts import Verdict, verdict

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

MAX_COLUMNS = 2400  # display width in spectrogram frames; longer songs are pooled for display
HZ_TICKS = (0, 250, 500, 1000, 2000, 4000, 8000, 16000)
TAGGRAM_TAGS = 10  # tags drawn in the taggram strip
TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600)  # seconds between time ticks
MAX_TIME_TICKS = 12
MAX_LABELS = 20  # genre names written on the timeline strip, at most
DPI = 110
PNG_COMPRESSION = 3  # zlib level of the PNG written: 10 % larger than level 6, 40 % faster to encode
DISPLAY_WIDTH = 1320  # pixels: the widest a page shows the figure (a one-column figure at DPI is as wide)
DISPLAY_COLOURS = 256  # palette of the page's copy
DISPLAY_PERCENTILE = 99.5  # the colour scale saturates here (the maps stay 0-1 in the files)
MIN_DISPLAY_TOP = 0.05
CAPTION_COLOURS = {"failed": "#b00020", "passed": "#1b5e20", "not assessed": "#555555"}
CAPTION_PREFIX = {"failed": "WARNING, sanity check failed: ", "passed": "",
                  "not assessed": "Sanity checks not assessed: "}
CAPTION_CHARS_PER_INCH = 11  # wrapping width of the 10 pt caption
CAPTION_LINE_INCHES = 0.2
CAPTION_GAP_INCHES = 0.12  # between two explainers' captions, and above the first
TITLE_INCHES = 0.3  # the title's band at the top, above the captions


def clock(seconds: float) -> str:
    """``m:ss``, e.g. ``3:07`` or ``60:00``."""
    whole = int(round(seconds))
    return f"{whole // 60}:{whole % 60:02d}"


def display_columns(image: np.ndarray, reduce=np.mean) -> np.ndarray:
    """Pool ``(rows, T)`` along time to at most ``MAX_COLUMNS`` columns."""
    factor = int(np.ceil(image.shape[1] / MAX_COLUMNS))
    if factor <= 1:
        return image
    usable = image.shape[1] // factor * factor
    pooled = reduce(image[:, :usable].reshape(image.shape[0], -1, factor), axis=2)
    if usable < image.shape[1]:
        pooled = np.concatenate([pooled, reduce(image[:, usable:], axis=1, keepdims=True)], axis=1)
    return pooled


def display_top(shown: np.ndarray) -> float:
    """The value that gets the full colour: the map's ``DISPLAY_PERCENTILE`` (at most 1), so that a
    sparse attribution (a few strong cells, as saliency and integrated gradients give) stays visible."""
    return float(np.clip(np.percentile(shown, DISPLAY_PERCENTILE), MIN_DISPLAY_TOP, 1.0))


def duration(explanation: Explanation) -> float:
    """Seconds covered by the spectrogram."""
    return explanation.spectrogram.shape[1] * explanation.hop_length / explanation.sample_rate


def title(explanation: Explanation) -> str:
    """File, model, explainer, target with its probability, predicted genre (or top tag) with its probability."""
    p = explanation.prediction
    predicted = "top tag" if p.multilabel else "predicted"
    return (f"{Path(explanation.source).name}  |  model {explanation.model}  |  explainer {explanation.explainer}  |  "
            f"target {explanation.target_name} p={p.probabilities[explanation.target]:.2f}  |  "
            f"{predicted} {p.label} p={p.probabilities[p.index]:.2f}")


def verdicts(explanation: Explanation) -> list[Verdict]:
    """The sanity verdict of each explainer in the explanation (``"cam+gradcam"``: two) on its model."""
    return [verdict(explanation.model, name, explanation.weights or None) for name in explanation.explainer.split("+")]


def verdict_sentence(v: Verdict) -> str:
    """The verdict as one sentence naming the explainer, e.g. "WARNING, sanity check failed: gradcam failed ..."."""
    text = v.text if v.text.startswith(v.explainer) else f"{v.explainer} {v.text}"
    return CAPTION_PREFIX.get(v.status, "") + text


def _caption_lines(explanation: Explanation, width_inches: float) -> list[tuple[Verdict, str]]:
    """Each explainer's verdict sentence wrapped to the figure's width."""
    chars = int(width_inches * CAPTION_CHARS_PER_INCH)
    return [(v, "\n".join(textwrap.wrap(verdict_sentence(v), chars))) for v in verdicts(explanation)]


def _caption_height(captions: list[tuple[Verdict, str]]) -> float:
    """Inches the captions take under the title."""
    each = (CAPTION_GAP_INCHES + CAPTION_LINE_INCHES * (text.count("\n") + 1) for _, text in captions)
    return sum(each) + CAPTION_GAP_INCHES


def _draw_captions(fig: Figure, captions: list[tuple[Verdict, str]]) -> None:
    """The captions from under the title down, a failed verdict bold in a red box."""
    width, height = fig.get_size_inches()
    top = height - TITLE_INCHES - CAPTION_GAP_INCHES
    for v, text in captions:
        box = {"boxstyle": "round,pad=0.35", "facecolor": "#fde7e9", "edgecolor": CAPTION_COLOURS["failed"]}
        fig.text(0.15 / width, top / height, text, ha="left", va="top", fontsize=10,
                 color=CAPTION_COLOURS.get(v.status, "#555555"), fontweight="bold" if v.failed else "normal",
                 bbox=box if v.failed else None)
        top -= CAPTION_GAP_INCHES + CAPTION_LINE_INCHES * (text.count("\n") + 1)


def draw(explanation: Explanation) -> Figure:
    """The whole figure: a panel per map and the genre timeline (or taggram) strip at the bottom."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure  # not pyplot: no figure manager to load, nothing to close

    names = list(explanation.maps)
    cols = 1 if len(names) < 4 else 2
    rows = int(np.ceil(len(names) / cols))
    tagging = explanation.prediction.multilabel
    strip_height = 3.2 if tagging else 1.1
    captions = _caption_lines(explanation, 12 * cols - 0.3)
    caption = _caption_height(captions)
    height = 4.2 * rows + strip_height + TITLE_INCHES + caption
    fig = Figure(figsize=(12 * cols, height), layout="constrained")
    FigureCanvasAgg(fig)
    fig.get_layout_engine().set(rect=(0.0, 0.0, 1.0, 1.0 - (TITLE_INCHES + caption) / height))  # title, captions
    grid = fig.add_gridspec(rows + 1, cols, height_ratios=[6] * rows + [strip_height])
    strip = fig.add_subplot(grid[rows, :])
    for i, name in enumerate(names):
        ax = fig.add_subplot(grid[i // cols, i % cols], sharex=strip)
        _draw_panel(fig, ax, explanation, name, titled=len(names) > 1)
    fig.suptitle(title(explanation), fontsize=11, y=1.0 - 0.06 / height, in_layout=False)
    (_draw_taggram if tagging else _draw_timeline)(strip, explanation)
    _format_time(strip, duration(explanation))
    _draw_captions(fig, captions)
    return fig


@dataclass(frozen=True)
class TimeAxes:
    """Where time runs in a saved figure: the boxes of the map panels and the strip, ``(left, top, right,
    bottom)`` in pixels of the image from its top-left corner (``size``: its width and height), each
    from 0 s at its left edge to ``seconds`` at its right."""

    boxes: tuple[tuple[float, float, float, float], ...]
    size: tuple[int, int]
    seconds: float


def time_axes(fig: Figure, size: tuple[int, int]) -> TimeAxes:
    """The boxes of the axes sharing the strip's time axis (the strip is added first), as laid out when
    ``fig`` was saved at ``DPI`` into a PNG of ``size`` (Agg counts rows from the figure's top edge, at
    the whole pixel)."""
    strip = fig.axes[0]
    timed = strip.get_shared_x_axes().get_siblings(strip)
    width, height = fig.get_size_inches() * DPI
    boxes = tuple((float(left * width), float(size[1] - top * height), float(right * width),
                   float(size[1] - bottom * height))
                  for ax in fig.axes if ax in timed for left, bottom, right, top in [ax.get_position().extents])
    return TimeAxes(boxes, size, float(strip.get_xlim()[1]))


def drawn(explanation: Explanation) -> tuple[bytes, TimeAxes]:
    """The figure of :func:`draw` encoded as PNG at ``DPI``, and where its time axis lies in that PNG."""
    fig = draw(explanation)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, pil_kwargs={"compress_level": PNG_COMPRESSION})
    data = buffer.getvalue()
    return data, time_axes(fig, struct.unpack(">II", data[16:24]))  # IHDR: width, height


def png_bytes(explanation: Explanation) -> bytes:
    """The figure of :func:`draw` encoded as PNG at ``DPI``."""
    return drawn(explanation)[0]


def fingerprint(explanation: Explanation) -> tuple:
    """What the figure shows, cheaply compared: another value or map array in a field gives another one."""
    return (explanation.source, explanation.model, explanation.weights, explanation.explainer, explanation.target,
            explanation.summary, id(explanation.spectrogram), id(explanation.prediction),
            tuple((name, id(value)) for name, value in explanation.maps.items()))


# the newest figure drawn: its explanation, fingerprint, PNG and axes
_newest: list[tuple[weakref.ref, tuple, tuple[bytes, TimeAxes]]] = []


def _figure(explanation: Explanation) -> tuple[bytes, TimeAxes]:
    """:func:`drawn` of the explanation; the newest figure is kept while its explanation lives
    unchanged, so the png and html renderers of one explanation draw it once."""
    key = fingerprint(explanation)
    if _newest and _newest[0][0]() is explanation and _newest[0][1] == key:
        return _newest[0][2]
    figure = drawn(explanation)
    _newest[:] = [(weakref.ref(explanation), key, figure)]
    return figure


def figure_png(explanation: Explanation) -> bytes:
    """:func:`png_bytes` of the explanation, drawn once while it lives unchanged (:func:`_figure`)."""
    return _figure(explanation)[0]


def figure_time_axes(explanation: Explanation) -> TimeAxes:
    """Where time runs in :func:`figure_png`'s image (the same drawing)."""
    return _figure(explanation)[1]


def display_png(explanation: Explanation) -> bytes:
    """The figure for a page: :func:`figure_png` at most ``DISPLAY_WIDTH`` pixels wide (a one-column
    figure is that wide already), in an adaptive palette of ``DISPLAY_COLOURS`` (about a third of the
    full figure's bytes, alike to the eye)."""
    from PIL import Image

    image = Image.open(io.BytesIO(figure_png(explanation))).convert("RGB")
    if image.width > DISPLAY_WIDTH:
        size = (DISPLAY_WIDTH, round(image.height * DISPLAY_WIDTH / image.width))
        image = image.resize(size, Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    # no optimize=True: the file would be 2 % smaller, the encoding 3x slower
    image.quantize(DISPLAY_COLOURS, method=Image.Quantize.FASTOCTREE).save(buffer, format="PNG")
    return buffer.getvalue()


def _draw_panel(fig: Figure, ax: Axes, explanation: Explanation, map_name: str, titled: bool) -> None:
    """The log-mel in grey with one map over it, frequency ticks in Hz and a colour bar."""
    bands = mel_band_hz(explanation.frontend)
    extent = (0.0, duration(explanation), -0.5, len(bands) - 0.5)
    ticks = [hz for hz in HZ_TICKS if hz <= explanation.frontend.top_hz]
    ax.imshow(display_columns(explanation.spectrogram), origin="lower", aspect="auto", extent=extent, cmap="gray")
    shown = display_columns(explanation.maps[map_name], np.max)
    top = display_top(shown)
    overlay = ax.imshow(shown, origin="lower", aspect="auto", extent=extent, cmap="inferno", alpha=0.55, vmin=0.0,
                        vmax=top)
    ax.set_yticks([np.interp(hz, bands, np.arange(len(bands))) for hz in ticks])
    ax.set_yticklabels([f"{hz / 1000:g}k" if hz >= 1000 else str(hz) for hz in ticks])
    ax.set_ylabel("frequency (Hz)")
    ax.tick_params(labelbottom=False)
    if titled:
        ax.set_title(map_name, fontsize=10)
    saturated = f", colour full from {top:.2f}" if top < 1.0 else ""
    fig.colorbar(overlay, ax=ax, label=f"{map_name} (0-1 per song{saturated})", pad=0.01)


def _format_time(ax: Axes, seconds: float) -> None:
    """m:ss ticks at a round step giving at most ``MAX_TIME_TICKS`` ticks."""
    from matplotlib.ticker import FuncFormatter, MultipleLocator

    step = next((s for s in TIME_STEPS if seconds / s <= MAX_TIME_TICKS), TIME_STEPS[-1])
    ax.xaxis.set_major_locator(MultipleLocator(step))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: clock(x)))
    ax.set_xlabel("time (m:ss)")
    ax.set_xlim(0, seconds)


def spans(explanation: Explanation) -> list[tuple[float, float, str, float]]:
    """``(start, end, top genre, its probability)`` per window; a span lasts until the next window starts."""
    timeline = explanation.prediction.timeline()
    ends = [start for start, _, _ in timeline[1:]] + [duration(explanation)]
    return [(start, end, genre, p) for (start, genre, p), end in zip(timeline, ends, strict=True)]


def runs(windows: list[tuple[float, float, str, float]]) -> list[tuple[float, float, str]]:
    """Consecutive spans with the same genre merged: ``(start, end, genre)``."""
    merged: list[tuple[float, float, str]] = []
    for start, end, genre, _ in windows:
        if merged and merged[-1][2] == genre:
            merged[-1] = (merged[-1][0], end, genre)
        else:
            merged.append((start, end, genre))
    return merged


def _draw_timeline(ax: Axes, explanation: Explanation) -> None:
    """One span per window in its top genre's colour (opaque when sure), genre names on runs at least
    1/``MAX_LABELS`` of the song wide (so at most ``MAX_LABELS``), and a legend of the genres present."""
    from matplotlib import colormaps
    from matplotlib.colors import to_rgba
    from matplotlib.patches import Patch

    classes = explanation.prediction.classes
    colours = {genre: colormaps["tab10"](i % 10) for i, genre in enumerate(classes)}
    windows = spans(explanation)
    ax.broken_barh([(start, end - start) for start, end, _, _ in windows], (0, 1),
                   facecolors=[to_rgba(colours[g], 0.35 + 0.65 * p) for _, _, g, p in windows], linewidth=0)
    for start, end, genre in runs(windows):
        if end - start >= duration(explanation) / MAX_LABELS:
            ax.text((start + end) / 2, 0.5, genre, fontsize=8, ha="center", va="center", clip_on=True)
    present = sorted({g for _, _, g, _ in windows}, key=classes.index)
    ax.figure.legend(handles=[Patch(color=colours[g], label=g) for g in present], loc="outside lower center",
                     ncol=len(present), fontsize=8, frameon=False)
    ax.set_ylim(0, 1)
    ax.set_yticks([])
    ax.set_ylabel("genre", rotation=0, ha="right", va="center")


def _draw_taggram(ax: Axes, explanation: Explanation) -> None:
    """The song's top ``TAGGRAM_TAGS`` tags (best on top) x windows, each cell shaded by the window's
    probability of that tag (0 white, 1 full), the explained tag's name in bold."""
    tags, grid = explanation.prediction.taggram(TAGGRAM_TAGS)
    edges = [start for start, _, _, _ in spans(explanation)] + [duration(explanation)]
    mesh = ax.pcolormesh(edges, np.arange(len(tags) + 1), grid, cmap="Blues", vmin=0.0, vmax=1.0, shading="flat")
    ax.set_yticks(np.arange(len(tags)) + 0.5)
    ax.set_yticklabels(tags, fontsize=8)
    for label in ax.get_yticklabels():
        if label.get_text() == explanation.target_name:
            label.set_fontweight("bold")
    ax.set_ylim(len(tags), 0)
    ax.set_ylabel("taggram", rotation=0, ha="right", va="center")
    ax.figure.colorbar(mesh, ax=ax, label="tag probability per window", pad=0.01)


class PngRenderer(Renderer):
    name = "png"
    suffix = ".png"
    description = ("log-mel with each map overlaid (m:ss x Hz), colour bars, genre timeline or taggram; "
                   "one grid per explanation")
    options = {"stem": None}

    def render(self, explanation: Explanation, out_dir: Path, stem: str | None = None) -> list[Path]:
        """``<stem>.<explainer>.png``: all maps in one figure."""
        data = figure_png(explanation)
        target = Path(out_dir) / f"{stem or explanation.stem}.{explanation.explainer}{self.suffix}"
        return [atomic_write(target, lambda tmp: tmp.write_bytes(data), protect=Path(explanation.source))]


@hookimpl
def register_renderers(register) -> None:
    register(PngRenderer())
