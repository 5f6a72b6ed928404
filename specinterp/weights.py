"""Weights as safetensors plus a JSON config beside them. Never pickle.

``<stem>.safetensors`` holds the state dict; ``<stem>.json`` holds ``{"model": name, "config": {...},
"classes": [...], "frontend": {...}, "output": "single-label" | "multilabel", "meta": {...}}`` where
``frontend`` lists the :class:`~specinterp.frontend.FrontendConfig` fields that differ from the
plugin's default front end (absent: the plugin's), ``output`` says softmax or sigmoid outputs (absent:
the module's own ``multilabel``), and ``meta`` records how the weights were made (split, seed, split
digest, training clips, library versions, git commit, or the source and license of converted weights).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file
from torch import nn

from specinterp.frontend import DEFAULT, FrontendConfig
from specinterp.interfaces import SpecinterpError, is_multilabel
from specinterp.outputs import atomic_write


OUTPUTS = ("single-label", "multilabel")


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


def read_config(path: Path) -> dict[str, Any]:
    """The JSON document beside a weights file, or a one-line error."""
    cfg = config_path(Path(path))
    if not cfg.is_file():
        raise SpecinterpError(f"{path}: no config {cfg.name} beside the weights")
    try:
        return json.loads(cfg.read_text())
    except json.JSONDecodeError as exc:
        raise SpecinterpError(f"{cfg}: not valid JSON ({exc.msg} at line {exc.lineno})") from None


def load(path: Path, build) -> tuple[nn.Module, dict[str, Any]]:
    """Build a module from the config beside ``path`` with ``build(config)`` and load the tensors."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise SpecinterpError(f"{path}: weights must be a .safetensors file (pickled checkpoints are refused)")
    if not path.is_file():
        raise SpecinterpError(f"{path}: no such weights file")
    document = read_config(path)
    module = build(document.get("config", {}))
    try:
        state = load_file(str(path))
        module.load_state_dict(state)
    except Exception as exc:  # safetensors header errors, shape mismatches
        raise SpecinterpError(f"{path}: weights do not fit model '{document.get('model')}' ({str(exc).splitlines()[0]})") from None
    module.eval()
    return module, document


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
    module, document = load(Path(weights), plugin.build)
    if document.get("model", name) != name:
        raise SpecinterpError(f"{weights}: these weights are for model '{document['model']}', not '{name}'")
    classes = tuple(document.get("classes") or [])
    try:
        frontend = FrontendConfig.from_dict({**plugin.default_frontend(), **document.get("frontend", {})})
    except SpecinterpError as exc:
        raise SpecinterpError(f"{config_path(Path(weights))}: {exc}") from None
    output = document.get("output", "multilabel" if is_multilabel(module) else "single-label")
    if output not in OUTPUTS:
        raise SpecinterpError(f"{config_path(Path(weights))}: output must be one of {', '.join(OUTPUTS)}, got {output!r}")
    module.multilabel = output == "multilabel"  # explainers read the output kind from the module
    module.frontend = frontend  # and the front end (e.g. the Hz of each mel row)
    return LoadedModel(name, module, classes, document.get("config", {}), document.get("meta", {}), Path(weights),
                       frontend)

