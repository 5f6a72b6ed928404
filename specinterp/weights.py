"""Weights as safetensors plus a JSON config beside them. Never pickle.

``<stem>.safetensors`` holds the state dict; ``<stem>.json`` holds ``{"model": name, "config": {...},
"classes": [...], "frontend": {...}, "output": "single-label" | "multilabel", "meta": {...}}`` where
``frontend`` lists the :class:`~specinterp.frontend.FrontendConfig` fields that differ from the
plugin's default front end (absent: the plugin's), ``output`` says softmax or sigmoid outputs (absent:
the module's own ``multilabel``), and ``meta`` records how the weights were made (split, seed, split
digest, training clips, library versions, git commit, or the source and license of converted weights).

Loading checks everything before a song is touched, each failure a one-line
:class:`~specinterp.interfaces.SpecinterpError` naming the file: the document's shape
(:func:`check_document`), that the plugin builds a module from ``config``, that the tensors are
readable, finite and fit the module (:func:`fit_report`), and that one window of the front end's
shape gives finite outputs, one per class (:func:`check_outputs`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from specinterp.frontend import DEFAULT, FrontendConfig
from specinterp.interfaces import SpecinterpError, is_multilabel
from specinterp.outputs import atomic_write

OUTPUTS = ("single-label", "multilabel")
KEYS = ("model", "config", "classes", "frontend", "output", "meta")
MAX_CONFIG_BYTES = 64 * 1024 * 1024  # far above any real config (meta lists training clips)
MAX_WINDOW_CELLS = 1 << 22  # mel bands x frames of one window: 16 Mi float32 for the check below
NAMED = 3  # names shown in a list of missing / unexpected / mismatched tensors


@dataclass
class LoadedModel:
    """A ready model: its name, module (in eval mode), classes, front end and provenance."""

    name: str
    module: nn.Module
    classes: tuple[str, ...]
    config: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    frontend: FrontendConfig = DEFAULT

    @property
    def multilabel(self) -> bool:
        """Sigmoid outputs (tags) rather than softmax (one class)."""
        return is_multilabel(self.module)


def config_path(weights: Path) -> Path:
    return weights.with_suffix(".json")


def save(module: nn.Module, name: str, config: dict[str, Any], classes: tuple[str, ...], path: Path,
         meta: dict[str, Any] | None = None, frontend: dict[str, Any] | None = None) -> Path:
    """Write ``path`` (.safetensors) and its .json atomically; return the weights path.

    ``frontend``: the front-end fields the weights were trained with, where they differ from the
    plugin's default (omitted when empty).
    """
    path = Path(path).with_suffix(".safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    document: dict[str, Any] = {"model": name, "config": config, "classes": list(classes)}
    if frontend:
        document["frontend"] = frontend
    if is_multilabel(module):
        document["output"] = "multilabel"
    document["meta"] = meta or {}
    atomic_write(path, lambda tmp: save_file(state, str(tmp)))
    atomic_write(config_path(path), lambda tmp: tmp.write_text(json.dumps(document, indent=2)))
    return path


def short(text: str, limit: int = 200) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def reason(exc: BaseException) -> str:
    """``Type: first line of the message`` for an exception raised by code we do not own."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return short(f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__)


def check_document(document: Any) -> dict[str, Any]:
    """The weights JSON's top-level shape; raises ``ValueError`` with the problem in a few words.

    ``classes`` is required: a non-empty list of unique, non-empty strings. The rest are optional:
    ``model`` a string, ``config``, ``frontend`` and ``meta`` objects, ``output`` one of
    :data:`OUTPUTS`. Other keys are refused (a misspelt ``frontend`` would otherwise be ignored).
    """
    if not isinstance(document, dict):
        raise ValueError(f"expected a JSON object with keys {', '.join(KEYS)}, got {_kind(document)}")
    unknown = sorted(set(document) - set(KEYS))
    if unknown:
        raise ValueError(f"unknown key {', '.join(map(repr, unknown))} (keys: {', '.join(KEYS)})")
    if "model" in document and not (isinstance(document["model"], str) and document["model"]):
        raise ValueError(f"model must be a model name (a string), got {_kind(document['model'])}")
    for key in ("config", "frontend", "meta"):
        if key in document and not isinstance(document[key], dict):
            raise ValueError(f"{key} must be an object, got {_kind(document[key])}")
    if "output" in document and document["output"] not in OUTPUTS:
        raise ValueError(f"output must be one of {', '.join(OUTPUTS)}, got {_kind(document['output'])}")
    if "classes" not in document:
        raise ValueError("no 'classes' key (the name of each model output)")
    classes = document["classes"]
    if not isinstance(classes, list) or not classes:
        raise ValueError(f"classes must be a non-empty list of class names, got {_kind(classes)}")
    for i, name in enumerate(classes):
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"classes[{i}] must be a non-empty string, got {_kind(name)}")
    twice = [name for name, count in Counter(classes).items() if count > 1]
    if twice:
        raise ValueError(f"classes names {_names([repr(n) for n in twice])} more than once")
    return document


def _kind(value: Any) -> str:
    """A JSON value in a few words: ``an object``, ``a list of 3``, or the value itself (``5``, ``"abc"``)."""
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return f"a list of {len(value)}" if value else "an empty list"
    return short(json.dumps(value), 40)


def read_config(path: Path) -> dict[str, Any]:
    """The JSON document beside a weights file, checked by :func:`check_document`, or a one-line error."""
    cfg = config_path(Path(path))
    if not cfg.is_file():
        raise SpecinterpError(f"{path}: no config {cfg.name} beside the weights")
    try:
        if cfg.stat().st_size > MAX_CONFIG_BYTES:
            raise SpecinterpError(f"{cfg}: {cfg.stat().st_size} bytes, too large for a weights config "
                                  f"(limit {MAX_CONFIG_BYTES // 2**20} MiB)")
        document = json.loads(cfg.read_bytes().decode("utf-8"))
    except json.JSONDecodeError as exc:
        raise SpecinterpError(f"{cfg}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    except UnicodeDecodeError as exc:
        raise SpecinterpError(f"{cfg}: not UTF-8 text (byte {exc.start})") from None
    except RecursionError:
        raise SpecinterpError(f"{cfg}: not valid JSON (nested too deeply)") from None
    except OSError as exc:
        raise SpecinterpError(f"{cfg}: cannot read ({exc.strerror or reason(exc)})") from None
    try:
        return check_document(document)
    except ValueError as exc:
        raise SpecinterpError(f"{cfg}: {exc}") from None


def read_tensors(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a safetensors file, each floating one checked for NaN and infinities."""
    try:
        state = load_file(str(path))
    except Exception as exc:  # SafetensorError (bad header, truncated data), OSError
        raise SpecinterpError(f"{path}: not a readable safetensors file ({reason(exc)})") from None
    for key, tensor in state.items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise SpecinterpError(f"{path}: tensor '{key}' holds NaN or infinite values (corrupted file?)")
    return state


def _names(keys: list[str]) -> str:
    more = f" and {len(keys) - NAMED} more" if len(keys) > NAMED else ""
    return ", ".join(keys[:NAMED]) + more


def fit_report(module: nn.Module, state: Mapping[str, torch.Tensor]) -> str:
    """Why ``state`` does not fit ``module`` in one line (mismatched shapes, missing and unexpected
    tensors, each with a few names and a count), or ``''`` when none is found. Shapes that differ
    only by torch's tolerated legacy case (a 0-d tensor saved as ``[1]``) are not counted."""
    own = module.state_dict()
    mismatched = [k for k in own if k in state and own[k].shape != state[k].shape
                  and not (own[k].ndim == 0 and tuple(state[k].shape) == (1,))]
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    parts = []
    if mismatched:
        first = mismatched[0]
        more = f" (and {len(mismatched) - 1} more mismatched)" if len(mismatched) > 1 else ""
        parts.append(f"size mismatch for {first}: the file has {list(state[first].shape)}, "
                     f"the model {list(own[first].shape)}{more}")
    if missing:
        parts.append(f"missing {len(missing)} tensor{'s' * (len(missing) > 1)}: {_names(missing)}")
    if unexpected:
        parts.append(f"{len(unexpected)} unexpected tensor{'s' * (len(unexpected) > 1)}: {_names(unexpected)}")
    return short("; ".join(parts), 300)


def check_path(path: Path) -> None:
    """A weights path must be an existing .safetensors file (pickles are refused unopened)."""
    if path.suffix != ".safetensors":
        raise SpecinterpError(f"{path}: weights must be a .safetensors file (pickled checkpoints are refused)")
    if not path.is_file():
        raise SpecinterpError(f"{path}: no such weights file")


def build_loaded(path: Path, document: dict[str, Any], build: Callable[[dict[str, Any]], nn.Module],
                 name: str) -> nn.Module:
    """``build(config)`` with the tensors of ``path`` loaded, in eval mode."""
    try:
        module = build(dict(document.get("config", {})))
        if not isinstance(module, nn.Module):
            raise TypeError(f"build returned {type(module).__name__}, not an nn.Module")
    except Exception as exc:  # any failure of the plugin's build: a config it cannot use
        raise SpecinterpError(f"{config_path(path)}: config does not build model '{name}' ({reason(exc)})") from None
    state = read_tensors(path)
    try:
        module.load_state_dict(state)
    except Exception as exc:  # torch's message puts its reasons on lines after a header
        why = fit_report(module, state) or reason(exc)
        raise SpecinterpError(f"{path}: weights do not fit model '{name}' ({why})") from None
    return module.eval()


def load(path: Path, build: Callable[[dict[str, Any]], nn.Module]) -> tuple[nn.Module, dict[str, Any]]:
    """Build a module from the config beside ``path`` with ``build(config)`` and load the tensors."""
    path = Path(path)
    check_path(path)
    document = read_config(path)
    return build_loaded(path, document, build, document.get("model", "?")), document


def check_outputs(module: nn.Module, name: str, classes: tuple[str, ...], frontend: FrontendConfig,
                  where: Path) -> None:
    """One window ``(1, 1, n_mels, window_frames)`` of zeros through ``module``: it must run and give
    ``(1, len(classes))`` finite outputs. ``where`` (the JSON) names the file in messages."""
    cells = frontend.n_mels * frontend.window_frames
    if cells > MAX_WINDOW_CELLS:
        raise SpecinterpError(f"{where}: front end windows of {frontend.n_mels} x {frontend.window_frames} "
                              f"are too large (limit {MAX_WINDOW_CELLS} cells)")
    shape = (1, 1, frontend.n_mels, frontend.window_frames)
    parameter = next(module.parameters(), None)
    window = torch.zeros(shape, device=parameter.device if parameter is not None else None)
    try:
        with torch.no_grad():
            out = module(window)
    except Exception as exc:  # the module cannot take the front end's windows
        raise SpecinterpError(f"{where}: model '{name}' does not run on its front end's windows {shape} "
                              f"({reason(exc)})") from None
    if not isinstance(out, torch.Tensor) or out.ndim != 2 or out.shape[0] != 1:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise SpecinterpError(f"{where}: model '{name}' gives outputs of shape {got} for one window, "
                              f"expected (1, {len(classes)})")
    if out.shape[1] != len(classes):
        raise SpecinterpError(f"{where}: lists {len(classes)} classes but model '{name}' gives "
                              f"{out.shape[1]} outputs per window")
    if not bool(torch.isfinite(out).all()):
        raise SpecinterpError(f"{where}: model '{name}' gives NaN or infinite outputs for an all-zero window "
                              f"(corrupted weights?)")


def resolve(name: str, weights: str | Path | None = None, variant: str | None = None) -> LoadedModel:
    """Load model ``name`` with explicit ``weights``, or the shipped ``variant`` (default: the first)."""
    from specinterp.plugins import registry

    plugin = registry().get("models", name)
    if weights is None:
        shipped = plugin.weights()
        if not shipped:
            raise SpecinterpError(f"model '{name}' ships no weights; pass --weights PATH.safetensors")
        if variant is not None and variant not in shipped:
            raise SpecinterpError(f"model '{name}' ships no weights for '{variant}' (has: {', '.join(shipped)})")
        variant = variant or (plugin.default_variant if plugin.default_variant in shipped else next(iter(shipped)))
        weights = shipped[variant]
    weights = Path(weights)
    check_path(weights)
    document = read_config(weights)
    cfg = config_path(weights)
    if document.get("model", name) != name:
        raise SpecinterpError(f"{weights}: these weights are for model '{document['model']}', not '{name}'")
    try:
        frontend = FrontendConfig.from_dict({**plugin.default_frontend(), **document.get("frontend", {})})
    except SpecinterpError as exc:
        raise SpecinterpError(f"{cfg}: {exc}") from None
    module = build_loaded(weights, document, plugin.build, name)
    classes = tuple(document["classes"])
    output = document.get("output", "multilabel" if is_multilabel(module) else "single-label")
    module.multilabel = output == "multilabel"  # explainers read the output kind from the module
    module.frontend = frontend  # and the front end (e.g. the Hz of each mel row)
    module.model_name = name  # and inference names the model in its messages
    module.to(memory_format=torch.channels_last)  # 4-D weights: CPU convolutions and pooling 1.5-2x faster
    check_outputs(module, name, classes, frontend, cfg)
    return LoadedModel(name, module, classes, document.get("config", {}), document.get("meta", {}), weights,
                       frontend)
