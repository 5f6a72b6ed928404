"""Weights as safetensors plus a JSON config beside them. Never pickle.

``<stem>.safetensors`` holds the state dict; ``<stem>.json`` holds ``{"model": name, "config": {...},
"classes": [...], "meta": {...}}`` where ``meta`` records how the weights were made (split, seed,
split digest, training clips, library versions, git commit).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetensors.torch import load_file, save_file
from torch import nn

from specinterp.interfaces import SpecinterpError
from specinterp.outputs import atomic_write


@dataclass
class LoadedModel:
    """A ready model: its plugin name, module (in eval mode), classes and provenance."""

    name: str
    module: nn.Module
    classes: tuple[str, ...]
    config: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None


def config_path(weights: Path) -> Path:
    return weights.with_suffix(".json")


def save(module: nn.Module, name: str, config: dict[str, Any], classes: tuple[str, ...], path: Path,
         meta: dict[str, Any] | None = None) -> Path:
    """Write ``path`` (.safetensors) and its .json atomically; return the weights path."""
    path = Path(path).with_suffix(".safetensors")
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    document = {"model": name, "config": config, "classes": list(classes), "meta": meta or {}}
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
    return LoadedModel(name, module, classes, document.get("config", {}), document.get("meta", {}), Path(weights))

