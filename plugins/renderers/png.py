"""PNG renderer: the log-mel (time in seconds, frequency in Hz) with the map overlaid, a colour bar,
and the genre timeline as a strip underneath. Long songs are downsampled for display only."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from specinterp import hookimpl
from specinterp.frontend import mel_band_hz
from specinterp.interfaces import Explanation, Renderer
from specinterp.outputs import atomic_write

MAX_COLUMNS = 2400  # display width in spectrogram frames; longer songs are pooled for display
HZ_TICKS = (0, 250, 500, 1000, 2000, 4000, 8000)


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


def draw(explanation: Explanation, map_name: str):
    """A matplotlib figure of one map over the spectrogram, with the genre timeline below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    seconds = explanation.spectrogram.shape[1] * explanation.hop_length / explanation.sample_rate
    bands = mel_band_hz()
    fig, (ax, strip) = plt.subplots(2, 1, figsize=(12, 5.2), gridspec_kw={"height_ratios": [6, 1]},
                                    sharex=True, constrained_layout=True)
    extent = (0.0, seconds, -0.5, len(bands) - 0.5)
    ax.imshow(display_columns(explanation.spectrogram), origin="lower", aspect="auto", extent=extent, cmap="gray")
    overlay = ax.imshow(display_columns(explanation.maps[map_name], np.max), origin="lower", aspect="auto",
                        extent=extent, cmap="inferno", alpha=0.55, vmin=0.0, vmax=1.0)
    ax.set_yticks([np.interp(hz, bands, np.arange(len(bands))) for hz in HZ_TICKS])
    ax.set_yticklabels([f"{hz / 1000:g}k" if hz >= 1000 else str(hz) for hz in HZ_TICKS])
    ax.set_ylabel("frequency (Hz)")
    fig.colorbar(overlay, ax=ax, label=f"{map_name} (0-1, per song)", pad=0.01)
    prediction = explanation.prediction
    target = explanation.target_name
    ax.set_title(f"{Path(explanation.source).name}  |  {explanation.model} / {map_name}  |  target {target} "
                 f"p={prediction.probabilities[explanation.target]:.2f}  |  predicted {prediction.genre} "
                 f"p={prediction.probabilities[prediction.index]:.2f}", fontsize=10)
    _draw_timeline(strip, explanation, seconds)
    strip.set_xlabel("time (s)")
    return fig


def _draw_timeline(ax, explanation: Explanation, seconds: float) -> None:
    """One coloured span per window: its top genre, labelled where there is room."""
    import matplotlib.pyplot as plt

    prediction = explanation.prediction
    colours = plt.get_cmap("tab10")
    timeline = prediction.timeline()
    ends = [start for start, _, _ in timeline[1:]] + [seconds]  # each window's span lasts until the next starts
    labelled_every = max(1, int(np.ceil(len(timeline) / 24)))
    for i, ((start, genre, p), end) in enumerate(zip(timeline, ends)):
        ax.axvspan(start, end, color=colours(prediction.classes.index(genre) % 10), alpha=0.35 + 0.65 * p, lw=0)
        if i % labelled_every == 0:
            ax.text(start + 0.01 * (end - start), 0.5, genre, fontsize=7, va="center", clip_on=True)
    ax.set_yticks([])
    ax.set_ylabel("genre", rotation=0, ha="right", va="center")
    ax.set_xlim(0, seconds)


class PngRenderer(Renderer):
    name = "png"
    suffix = ".png"
    description = "log-mel with the map overlaid (seconds x Hz), colour bar, genre timeline"

    def render(self, explanation: Explanation, out_dir: Path) -> list[Path]:
        import matplotlib.pyplot as plt

        paths = []
        for map_name in explanation.maps:
            fig = draw(explanation, map_name)
            label = explanation.explainer if map_name == explanation.explainer else f"{explanation.explainer}.{map_name}"
            target = Path(out_dir) / f"{explanation.stem}.{label}{self.suffix}"
            try:
                paths.append(atomic_write(target, lambda tmp: fig.savefig(tmp, format="png", dpi=110),
                                          protect=Path(explanation.source)))
            finally:
                plt.close(fig)
        return paths


@hookimpl
def register_renderers(register) -> None:
    register(PngRenderer())
