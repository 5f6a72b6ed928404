"""Write ``examples/tutorial.ipynb``, the tutorial notebook, from the cells below (no outputs).

The notebook is kept without outputs: this script is its source, and ``--check`` fails when the
committed file differs from what it would write (tests/test_notebook.py runs it, and the notebook).

Usage::

    python examples/make_tutorial.py [--check]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NOTEBOOK = Path(__file__).resolve().parent / "tutorial.ipynb"

CELLS: list[tuple[str, str]] = [
    ("markdown", """\
# Make an audio classifier explain itself

This tutorial walks through specinterp's Python API on the bundled example song
(`example.ogg`: 20 s of synthesized pop, CC0). You will

1. **explain** a genre prediction and see the explanation's report inline,
2. **compare** three explainers side by side on the same prediction,
3. **listen** to what the network used, and to what it ignored,
4. **explain your own model**: a small `nn.Module` that is no plugin, trained here in seconds.

It runs on a CPU in well under a minute. Run it from `examples/` (or the repository root) with
specinterp installed (`pip install .` at the repository root) and Jupyter."""),
    ("code", """\
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Audio, display
from torch import nn

import specinterp
from specinterp.frontend import LogMel, mel_band_hz

torch.manual_seed(0)
song = next(p for p in (Path("example.ogg"), Path("examples/example.ogg")) if p.exists())"""),
    ("markdown", """\
## 1. Explain a song

`specinterp.explain` decodes the song, resamples it to the model's rate, computes the log-mel
spectrogram the model was trained on, cuts it into ~3 s windows, classifies each window and asks an
explainer which time-frequency cells drove the prediction. The per-window maps are stitched back
over the whole song and scaled to [0, 1].

Here the model is `camcnn` (the study's CNN with a class-activation-map head, trained on GTZAN's ten
genres, shipped with specinterp) and the explainer is `cam`, the class activation map."""),
    ("code", """\
explanation = specinterp.explain(song, model="camcnn", explainer="cam")
prediction = explanation.prediction
print(f"predicted: {prediction.label}")
print("top 3:", ", ".join(f"{genre} {p:.2f}" for genre, p in prediction.top(3)))
print("first windows:", [(f"{start:.1f} s", genre) for start, genre, _ in prediction.timeline()[:3]])"""),
    ("markdown", """\
An `Explanation` displays itself: the last expression of a cell shows the same report the CLI writes
as HTML (the map over the log-mel, players, top genres, genre timeline), or its figure as a PNG where
HTML is not shown. `explanation.save("out")` writes the PNG, WAVs and HTML files; `explanation.to_png()`
gives the figure's bytes."""),
    ("code", """\
explanation"""),
    ("markdown", """\
## 2. Compare explainers

Explainers answer "where did the network look?" differently:

- `cam` weights the last convolutional maps by the dense layer's weights for the class;
- `gradcam` weights them by the gradient of the class score instead (any differentiable CNN);
- `saliency` is the magnitude of that gradient with respect to each input cell.

One call with several explainers shares one prediction and returns one map per explainer. We draw
them side by side over the log-mel (`compared` itself would display the renderer's grid of all three)."""),
    ("code", """\
compared = specinterp.explain(song, model="camcnn", explainer="cam,gradcam,saliency")
seconds = len(compared.waveform) / compared.sample_rate
extent = (0, seconds, 0, compared.frontend.n_mels)
bands = mel_band_hz(compared.frontend)
ticks = [100, 500, 1000, 2000, 5000, 10000]

fig, axes = plt.subplots(1, 3, figsize=(15, 3.6), sharey=True, layout="constrained")
for ax, (name, relevance) in zip(axes, compared.maps.items(), strict=True):
    ax.imshow(compared.spectrogram, origin="lower", aspect="auto", extent=extent, cmap="gray")
    ax.imshow(relevance, origin="lower", aspect="auto", extent=extent, cmap="inferno", alpha=0.6, vmin=0, vmax=1)
    ax.set(title=name, xlabel="time (s)")
axes[0].set(ylabel="frequency (Hz)", yticks=np.interp(ticks, bands, np.arange(len(bands))), yticklabels=ticks)
fig.suptitle(f"{song.name}: why '{compared.target_name}'?")
plt.show()"""),
    ("markdown", """\
How much do they agree? The correlation between two maps over all cells is a quick measure.
Agreement is not correctness: `specinterp assess` measures which map can be trusted on a model
(sanity checks, deletion and insertion, ground truth on a synthetic set; see `docs/quality.md`)."""),
    ("code", """\
names = list(compared.maps)
agreement = np.corrcoef([compared.maps[name].ravel() for name in names])
for i, first in enumerate(names):
    for j in range(i + 1, len(names)):
        print(f"{first} vs {names[j]}: r = {agreement[i, j]:.2f}")"""),
    ("markdown", """\
## 3. Listen to what the network used

A map is on the model's mel grid. Spread onto the song's own STFT as a mask (phase kept) and inverted,
it becomes sound: the map as mask gives what the network used, `1 - map` what it ignored. The two
masks sum to one, so the two waveforms sum to the original. `specinterp.listen` gives what the WAV
renderer writes to disk."""),
    ("code", """\
original = np.asarray(explanation.waveform[:])
used = specinterp.listen(explanation, "cam")
ignored = specinterp.listen(explanation, "cam", complement=True)
print(f"largest |original - (used + ignored)|: {np.abs(original - used - ignored).max():.1e}")
for label, audio in [("original", original), ("what the network used (cam)", used),
                     ("what it ignored (1 - cam)", ignored)]:
    print(label)
    display(Audio(audio, rate=explanation.sample_rate, normalize=False))"""),
    ("markdown", """\
## 4. Explain your own model

Any `nn.Module` that maps log-mel windows `(N, 1, n_mels, frames)` to logits `(N, classes)` can be
explained without writing a plugin: pass the module, its front end (a `FrontendConfig`: sample rate,
STFT, mel bands, log, window length) and the names of its outputs (see `docs/own-model.md`).

To have an answer to check against, we make one: three kinds of synthetic sound (a **tone**, a train of
**clicks**, a **noise** burst) at 8 kHz, one 0.5 s clip per window, over a little background noise."""),
    ("code", """\
frontend = specinterp.FrontendConfig(sample_rate=8000, n_fft=512, hop_length=128, n_mels=40,
                                     window_frames=32, window_hop=16)
classes = ["tone", "clicks", "noise"]
rate = frontend.sample_rate


def sound(kind: str, samples: int, rng: np.random.Generator) -> np.ndarray:
    \"\"\"A random tone (200-3000 Hz), click train (5-10 per second) or noise, over quiet noise.\"\"\"
    n = np.arange(samples)
    if kind == "tone":
        x = np.sin(2 * np.pi * rng.uniform(200, 3000) * n / rate)
    elif kind == "clicks":
        period = int(rate / rng.uniform(5, 10))
        x = rng.standard_normal(samples) * ((n + rng.integers(period)) % period < 40)
    else:
        x = 0.5 * rng.standard_normal(samples)
    return (rng.uniform(0.1, 0.5) * x + 0.01 * rng.standard_normal(samples)).astype(np.float32)


rng = np.random.default_rng(0)
labels = rng.integers(len(classes), size=400)
clips = np.stack([sound(classes[k], frontend.window_frames * frontend.hop_length, rng) for k in labels])
with torch.no_grad():  # the front end specinterp will use, applied to the training clips
    windows = LogMel(frontend)(torch.from_numpy(clips))[:, None, :, : frontend.window_frames]
targets = torch.from_numpy(labels)
print("training windows:", tuple(windows.shape))"""),
    ("markdown", """\
The model: two convolutions, global average pooling, one dense layer. Nothing specinterp-specific:
it would work the same inside any training code. About a hundred steps of Adam (a few seconds on a
CPU) separate the three sounds; the last 100 clips are held out."""),
    ("code", """\
class TinyNet(nn.Module):
    \"\"\"(N, 1, 40, 32) log-mel windows -> (N, 3) logits.\"\"\"

    def __init__(self, outputs: int = 3) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(1)
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.pool = nn.MaxPool2d(2)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.dense = nn.Linear(16, outputs)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        hidden = self.pool(torch.relu(self.conv1(self.norm(windows))))
        return self.dense(torch.relu(self.conv2(hidden)).mean(dim=(2, 3)))


net = TinyNet()
optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
for _ in range(120):
    batch = torch.randint(len(windows) - 100, (32,))
    loss = nn.functional.cross_entropy(net(windows[batch]), targets[batch])
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
net.eval()
with torch.no_grad():
    accuracy = (net(windows[-100:]).argmax(dim=1) == targets[-100:]).float().mean()
print(f"held-out accuracy: {accuracy:.2f}")"""),
    ("markdown", """\
A test "song" of 6 s: a tone (0-2 s), clicks (2-4 s), noise (4-6 s). We explain the class `clicks`,
so a faithful map should sit on 2-4 s. Two explainers: `integrated-gradients` (gradients integrated
from silence to the input) and `gradcam` on the module's last convolution: `model=net` wraps the
module, its `Conv2d` layers become explainable layers by name (`conv1`, `conv2`; `features` is the
last)."""),
    ("code", """\
song_rng = np.random.default_rng(1)
test_song = np.concatenate([sound(kind, 2 * rate, song_rng) for kind in classes])
own = specinterp.explain(test_song, sample_rate=rate, model=net, frontend=frontend, classes=classes,
                         explainer="integrated-gradients,gradcam", target="clicks")
print(f"own model's prediction: {own.prediction.label}",
      "(" + ", ".join(f"{kind} {p:.2f}" for kind, p in own.prediction.top(3)) + ")")
print("timeline:", " ".join(f"{start:.1f}s:{label}" for start, label, _ in own.prediction.timeline()))
own"""),
    ("markdown", """\
The song's answer is the softmax of the mean window log-probabilities, so one confident section can
dominate it; the timeline shows each section named. Where do the maps put their mass? Each section
is a third of the song: a map that found the clicks puts well over a third on 2-4 s. Two methods
can disagree on the same model; which to trust is measured, not assumed (`specinterp assess`)."""),
    ("code", """\
frames = frontend.frames(2 * rate)
for name, relevance in own.maps.items():
    shares = [relevance[:, i * frames : (i + 1) * frames].sum() / relevance.sum() for i in range(3)]
    print(f"{name:>22}: " + ", ".join(f"{kind} {share:.2f}" for kind, share in zip(classes, shares, strict=True)))"""),
    ("markdown", """\
## Where next

- The same from the command line: `specinterp explain --explainer cam,gradcam,saliency example.ogg`.
- `docs/explainers.md`: every explainer and its options; `docs/quality.md`: which maps can be trusted.
- `docs/own-model.md`: your own model in more detail (tags with `multilabel=True`, `cam_head`).
- `docs/plugins.md`: make your model, explainer or renderer a plugin."""),
]


def build() -> nbformat.NotebookNode:
    """The notebook of ``CELLS``, without outputs, with stable cell ids."""
    makers = {"markdown": new_markdown_cell, "code": new_code_cell}
    cells = [makers[kind](source, id=f"cell-{index:02d}") for index, (kind, source) in enumerate(CELLS)]
    metadata = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
                "language_info": {"name": "python"}}
    return new_notebook(cells=cells, metadata=metadata)


def text() -> str:
    """The notebook as the file's text."""
    return nbformat.writes(build(), version=4) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail if the committed notebook differs")
    args = parser.parse_args()
    if args.check:
        if not NOTEBOOK.exists() or NOTEBOOK.read_text() != text():
            print(f"{NOTEBOOK}: differs from what make_tutorial.py writes; run it", file=sys.stderr)
            return 1
        return 0
    NOTEBOOK.write_text(text())
    print(f"wrote {NOTEBOOK}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
