"""The Python API, mirroring the CLI: ``predict`` and ``explain`` a song (path or waveform)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from specinterp import audio, inference, samples
from specinterp import frontend as frontend_module
from specinterp import windows as win
from specinterp.frontend import FrontendConfig
from specinterp.interfaces import Explainer, Explanation, Prediction, SpecinterpError, plugin_errors
from specinterp.plugins import registry
from specinterp.rendering import render  # noqa: F401  (part of the API)
from specinterp.samples import Samples
from specinterp.weights import LoadedModel, resolve

EXPLAIN_BATCH = 16  # windows per explainer call (as many per forward pass as predict's batches)
ModelLike = str | LoadedModel | nn.Module


def load_model(name: str = "camcnn", weights: str | Path | None = None, variant: str | None = None) -> LoadedModel:
    """A model plugin with its shipped (or given) safetensors weights, ready in eval mode.

    Parameters
    ----------
    name : str, default "camcnn"
        A model plugin's name (``specinterp plugins`` lists them).
    weights : path or None
        A ``.safetensors`` file with its ``.json`` beside it; default: the plugin's shipped weights.
    variant : str or None
        Which shipped weights (e.g. ``"filtered"``); default: the plugin's default variant.

    Returns
    -------
    LoadedModel
        ``.module`` (eval mode), ``.classes``, ``.frontend`` (its :class:`FrontendConfig`), ``.multilabel``.
    """
    return resolve(name, weights, variant)


def as_model(model: ModelLike, weights: str | Path | None = None, frontend: FrontendConfig | dict | None = None,
             classes: Sequence[str] | None = None, multilabel: bool = False) -> LoadedModel:
    """A plugin name, a :class:`LoadedModel`, or the user's own ``nn.Module`` (wrapped) as a LoadedModel."""
    if isinstance(model, LoadedModel):
        return model
    if isinstance(model, str):
        return load_model(model, weights)
    from specinterp.models import wrap

    return wrap(model, frontend, classes, multilabel)


def _waveform(source: str | Path | np.ndarray, config: FrontendConfig, sample_rate: int | None,
              max_duration: float | None) -> tuple[Samples, str]:
    """The audio at the model's rate: files decoded and resampled (a long song's samples spooled to a
    temporary file, see :mod:`specinterp.samples`); arrays resampled from ``sample_rate``."""
    if isinstance(source, (str, Path)):
        data = samples.collect(audio.stream(source, config.sample_rate, max_duration), config.sample_rate)
        if len(data) == 0:
            raise SpecinterpError(f"{source}: contains no audio samples")
        return data, str(source)
    data = np.asarray(source, dtype=np.float32)
    if data.ndim != 1 or data.size == 0:
        raise SpecinterpError("waveform must be a non-empty 1-D array of samples")
    if not np.isfinite(data).all():
        raise SpecinterpError("waveform holds NaN or infinite samples")
    rate = sample_rate or config.sample_rate
    if max_duration is not None and len(data) / rate > max_duration:
        raise SpecinterpError(f"waveform: {audio.clock(len(data) / rate)} long, more than the maximum "
                              f"{audio.clock(max_duration)}")
    if rate != config.sample_rate:
        data = audio.resample(data, rate, config.sample_rate)
    return data, "waveform"


def resolve_target(target: int | str | None, prediction: Prediction) -> int:
    """A class or tag name, or an index (``None``: the most probable), as a class index."""
    if target is None:
        return prediction.index
    if isinstance(target, str) and not target.lstrip("-").isdigit():
        if target not in prediction.classes:
            kind = "tag" if prediction.multilabel else "target"
            raise SpecinterpError(f"unknown {kind} '{target}' (classes: {', '.join(prediction.classes)})")
        return prediction.classes.index(target)
    index = int(target)
    if not 0 <= index < len(prediction.classes):
        raise SpecinterpError(f"target index {index} out of range 0..{len(prediction.classes) - 1}")
    return index


def predict(source: str | Path | np.ndarray, model: ModelLike = "camcnn", weights: str | Path | None = None,
            hop: int | None = None, *, frontend: FrontendConfig | dict | None = None,
            classes: Sequence[str] | None = None, multilabel: bool = False,
            sample_rate: int | None = None, max_duration: float | None = None) -> Prediction:
    """Probabilities of a whole song and its per-window timeline.

    Parameters
    ----------
    source : path or np.ndarray [shape=(samples,)]
        An audio file, or mono samples at ``sample_rate`` (default: the model's rate).
    model : str, LoadedModel or nn.Module, default "camcnn"
        A plugin name, a loaded model, or your own module (then ``frontend`` and ``classes`` are needed).
    weights : path or None
        Weights for a plugin name (default: its shipped ones).
    hop : int > 0 or None
        Frames between windows (default: the front end's ``window_hop``).
    frontend, classes, multilabel
        For your own module: its input, the name of each output, sigmoid (tags) or softmax outputs.
    sample_rate : int or None
        Rate of an in-memory ``source``; it is resampled to the model's.
    max_duration : float or None
        Refuse audio longer than this many seconds (files: checked on the header, before decoding).

    Returns
    -------
    Prediction
        Song probabilities ``(C,)`` (softmax of the mean window log-probabilities, or for tagging
        models the mean window sigmoid), window probabilities ``(N, C)`` and window start times.
    """
    loaded = as_model(model, weights, frontend, classes, multilabel)
    waveform, _ = _waveform(source, loaded.frontend, sample_rate, max_duration)
    prediction, _ = inference.predict(loaded.module, frontend_module.log_mel(waveform, loaded.frontend),
                                      loaded.classes, hop, loaded.frontend)
    return prediction


def explainer_names(explainer: str | Sequence[str]) -> list[str]:
    """``"cam,gradcam"`` or ``["cam", "gradcam"]`` -> ``["cam", "gradcam"]``."""
    parts = [explainer] if isinstance(explainer, str) else list(explainer)
    names = [name.strip() for part in parts for name in part.split(",") if name.strip()]
    if not names:
        raise SpecinterpError("no explainer named")
    return names


def options_for(method: Explainer, methods: Sequence[Explainer], options: dict[str, Any]) -> dict[str, Any]:
    """The options ``method`` declares; with several explainers an option goes to those that declare it,
    and one that none of them declares is an error (a single explainer gets all, and rejects the rest)."""
    if len(methods) == 1:
        return dict(options)
    unknown = sorted(key for key in options if not any(key in m.options for m in methods))
    if unknown:
        raise SpecinterpError(f"no chosen explainer takes option {', '.join(map(repr, unknown))}")
    return {key: value for key, value in options.items() if key in method.options}


def song_maps(method: Explainer, loaded: LoadedModel, windows: win.Windows, target: int,
              options: dict[str, Any]) -> dict[str, np.ndarray]:
    """One explainer's maps over the whole song, each scaled to [0, 1] (jointly if ``shared_scale``).

    Windows are cut, explained and stitched ``EXPLAIN_BATCH`` at a time, so memory holds one batch of
    per-window maps and one song-length map per map name, whatever the song's length.
    """
    stitchers: dict[str, win.Stitcher] = {}
    n_mels, size = windows.spectrogram.shape[0], windows.size
    for start in range(0, len(windows), EXPLAIN_BATCH):
        chunk = torch.from_numpy(windows[start : start + EXPLAIN_BATCH])
        with plugin_errors(f"explainer '{method.name}' on model '{loaded.name}'"):
            maps = method.explain(loaded.module, chunk, torch.full((len(chunk),), target), **options)
        for name, value in maps.items():
            if tuple(value.shape) != (len(chunk), n_mels, size):
                raise SpecinterpError(f"explainer '{method.name}' gave map '{name}' of shape {tuple(value.shape)}, "
                                      f"expected {(len(chunk), n_mels, size)} (windows x mel bands x frames)")
            part = value.detach().cpu().numpy()
            if not np.isfinite(part).all():
                raise SpecinterpError(f"explainer '{method.name}' gave NaN or infinite values in map '{name}'")
            stitcher = stitchers.setdefault(name, win.Stitcher(n_mels, windows.total))
            stitcher.add(part, windows.starts[start : start + len(chunk)])
    stitched = {name: stitcher.result() for name, stitcher in stitchers.items()}
    if method.shared_scale:
        return win.normalize_together(stitched)
    return {k: win.normalize(v, inplace=True) for k, v in stitched.items()}


def explain(source: str | Path | np.ndarray, model: ModelLike = "camcnn", explainer: str | Sequence[str] = "cam",
            target: int | str | None = None, weights: str | Path | None = None, hop: int | None = None,
            options: dict[str, Any] | None = None, *, frontend: FrontendConfig | dict | None = None,
            classes: Sequence[str] | None = None, multilabel: bool = False,
            sample_rate: int | None = None, max_duration: float | None = None) -> Explanation:
    """Predict a song and explain the prediction (or ``target``) with one or more explainers.

    Parameters
    ----------
    source : path or np.ndarray [shape=(samples,)]
        An audio file, or mono samples at ``sample_rate`` (default: the model's rate).
    model : str, LoadedModel or nn.Module, default "camcnn"
        A plugin name, a loaded model, or your own module taking windows ``(N, 1, n_mels, frames)``
        (then pass ``frontend`` and ``classes``; its ``Conv2d`` layers become explainable layers).
    explainer : str or list of str, default "cam"
        Explainer name(s); ``"cam,gradcam"`` gives one explanation with both maps.
    target : str, int or None
        The class or tag to explain (default: the most probable).
    weights, hop, options
        Weights for a plugin name; frames between windows (default: the front end's); explainer
        options (a ``layer`` may be a name or the submodule itself).
    frontend, classes, multilabel, sample_rate, max_duration
        As for :func:`predict`.

    Returns
    -------
    Explanation
        Maps per explainer ``(n_mels, T)`` in [0, 1] on the model's grid, the log-mel, the prediction,
        the waveform at the model's rate and the front end: ``.save(folder)`` writes PNG, WAV and HTML.

    Notes
    -----
    Maps are computed per window, stitched into one song-length map (overlaps averaged) and scaled to
    [0, 1] by the song's own minimum and maximum (one scale for all maps where the explainer asks for
    ``shared_scale``). Several explainers share one prediction; their maps are named after them, and
    each gets the options it declares.
    """
    loaded = as_model(model, weights, frontend, classes, multilabel)
    names = explainer_names(explainer)
    methods = [registry().get("explainers", name) for name in names]
    for method in methods:
        method.check(loaded.module, loaded.name)
    waveform, label = _waveform(source, loaded.frontend, sample_rate, max_duration)
    spectrogram = frontend_module.log_mel(waveform, loaded.frontend)
    prediction, windows = inference.predict(loaded.module, spectrogram, loaded.classes, hop, loaded.frontend)
    index = resolve_target(target, prediction)
    explanation = Explanation(
        source=label, model=loaded.name, explainer="+".join(names), target=index, prediction=prediction,
        spectrogram=spectrogram, maps={}, waveform=waveform, frontend=loaded.frontend,
        weights=str(loaded.path or ""), options=dict(options or {}),
    )
    summaries = []
    for name, method in zip(names, methods, strict=True):
        own = song_maps(method, loaded, windows, index, options_for(method, methods, options or {}))
        summaries.append(method.describe(replace(explanation, explainer=name, maps=own)))
        for key, value in own.items():
            explanation.maps[key if len(names) == 1 or key == name else f"{name}.{key}"] = value
    explanation.summary = " ".join(text for text in summaries if text)
    return explanation
