"""The Python API, mirroring the CLI: ``predict`` and ``explain`` a song (path or waveform)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from specinterp import audio, frontend, inference
from specinterp import windows as win
from specinterp.interfaces import Explainer, Explanation, Prediction, SpecinterpError
from specinterp.plugins import registry
from specinterp.weights import LoadedModel, resolve

EXPLAIN_BATCH = 32


def load_model(name: str = "camcnn", weights: str | Path | None = None, variant: str | None = None) -> LoadedModel:
    """A model plugin with its shipped (or given) safetensors weights, ready in eval mode."""
    return resolve(name, weights, variant)


def _as_model(model: str | LoadedModel, weights: str | Path | None) -> LoadedModel:
    return model if isinstance(model, LoadedModel) else load_model(model, weights)


def _waveform(source: str | Path | np.ndarray) -> tuple[np.ndarray, str]:
    if isinstance(source, (str, Path)):
        return audio.load(source), str(source)
    data = np.asarray(source, dtype=np.float32)
    if data.ndim != 1 or data.size == 0:
        raise SpecinterpError("waveform must be a non-empty 1-D array of samples at 22050 Hz")
    return data, "waveform"


def resolve_target(target: int | str | None, prediction: Prediction) -> int:
    """A genre name or index (``None``: the predicted genre) as a class index."""
    if target is None:
        return prediction.index
    if isinstance(target, str) and not target.lstrip("-").isdigit():
        if target not in prediction.classes:
            raise SpecinterpError(f"unknown target '{target}' (classes: {', '.join(prediction.classes)})")
        return prediction.classes.index(target)
    index = int(target)
    if not 0 <= index < len(prediction.classes):
        raise SpecinterpError(f"target index {index} out of range 0..{len(prediction.classes) - 1}")
    return index


def predict(source: str | Path | np.ndarray, model: str | LoadedModel = "camcnn",
            weights: str | Path | None = None, hop: int = win.WINDOW_FRAMES // 2) -> Prediction:
    """Genre probabilities of a whole song (mean of window log-probabilities) and its timeline."""
    loaded = _as_model(model, weights)
    waveform, _ = _waveform(source)
    prediction, _ = inference.predict(loaded.module, frontend.log_mel(waveform), loaded.classes, hop)
    return prediction


def explainer_names(explainer: str | Sequence[str]) -> list[str]:
    """``"cam,gradcam"`` or ``["cam", "gradcam"]`` -> ``["cam", "gradcam"]``."""
    parts = [explainer] if isinstance(explainer, str) else list(explainer)
    names = [name.strip() for part in parts for name in part.split(",") if name.strip()]
    if not names:
        raise SpecinterpError("no explainer named")
    return names


def song_maps(method: Explainer, loaded: LoadedModel, windows: win.Windows, target: int,
              options: dict[str, Any]) -> dict[str, np.ndarray]:
    """One explainer's maps over the whole song, each scaled to [0, 1] (jointly if ``shared_scale``)."""
    per_window: dict[str, list[np.ndarray]] = {}
    data = torch.from_numpy(windows.data)
    for start in range(0, len(data), EXPLAIN_BATCH):
        chunk = data[start : start + EXPLAIN_BATCH]
        try:
            maps = method.explain(loaded.module, chunk, torch.full((len(chunk),), target), **options)
        except (ValueError, KeyError, IndexError) as exc:  # a bad option or layer: the user's error
            raise SpecinterpError(f"explainer '{method.name}': {exc}") from None
        for name, value in maps.items():
            per_window.setdefault(name, []).append(value.detach().cpu().numpy())
    stitched = {name: win.stitch(np.concatenate(parts), windows.starts, windows.total) for name, parts in per_window.items()}
    return win.normalize_together(stitched) if method.shared_scale else {k: win.normalize(v) for k, v in stitched.items()}


def explain(source: str | Path | np.ndarray, model: str | LoadedModel = "camcnn", explainer: str | Sequence[str] = "cam",
            target: int | str | None = None, weights: str | Path | None = None,
            hop: int = win.WINDOW_FRAMES // 2, options: dict[str, Any] | None = None) -> Explanation:
    """Predict a song and explain the prediction (or ``target``) with one or more explainers.

    Maps are computed per window, stitched into one song-length map (overlaps averaged) and scaled to
    [0, 1] by the song's own minimum and maximum (one scale for all maps where the explainer asks for
    ``shared_scale``). Several explainers (``"cam,gradcam"``) share one prediction and give one
    explanation named ``cam+gradcam`` whose maps are named after their explainers; ``options`` go to each.
    """
    loaded = _as_model(model, weights)
    names = explainer_names(explainer)
    methods = [registry().get("explainers", name) for name in names]
    for method in methods:
        method.check(loaded.module, loaded.name)
    waveform, label = _waveform(source)
    spectrogram = frontend.log_mel(waveform)
    prediction, windows = inference.predict(loaded.module, spectrogram, loaded.classes, hop)
    index = resolve_target(target, prediction)
    explanation = Explanation(
        source=label, model=loaded.name, explainer="+".join(names), target=index, prediction=prediction,
        spectrogram=spectrogram, maps={}, waveform=waveform, sample_rate=frontend.DEFAULT.sample_rate,
        hop_length=frontend.DEFAULT.hop_length, weights=str(loaded.path or ""), options=dict(options or {}),
    )
    summaries = []
    for name, method in zip(names, methods):
        own = song_maps(method, loaded, windows, index, dict(options or {}))
        summaries.append(method.describe(replace(explanation, explainer=name, maps=own)))
        for key, value in own.items():
            explanation.maps[key if len(names) == 1 or key == name else f"{name}.{key}"] = value
    explanation.summary = " ".join(text for text in summaries if text)
    return explanation


def render(explanation: Explanation, out_dir: str | Path, renderers: tuple[str, ...] = ("png", "wav", "html"),
           **options: Any) -> list[Path]:
    """Write the explanation with each named renderer; return the paths written.

    Each renderer gets the ``options`` it declares (e.g. ``complement=True``: the wav renderer also
    writes ``1 - map``, what the network ignored). A renderer that another chosen one ``covers`` is
    skipped (html writes the WAVs it plays).
    """
    chosen = [registry().get("renderers", name) for name in renderers]
    covered = set().union(*(renderer.covers for renderer in chosen))
    paths: list[Path] = []
    for renderer in chosen:
        if renderer.name not in covered:
            paths += renderer.render(explanation, Path(out_dir), **{k: v for k, v in options.items() if k in renderer.options})
    return paths
