"""One plugin manager for every plugin, the built-ins included, loaded from entry points.

A plugin that fails to import, or whose hook raises, is recorded with its error and skipped; the
others keep working. :func:`registry` builds everything once per process.
"""

from __future__ import annotations

import functools
import importlib.metadata
from dataclasses import dataclass, field
from typing import Any

import pluggy

from specinterp import hookspecs
from specinterp.interfaces import DatasetPlugin, Explainer, ModelPlugin, Renderer, SpecinterpError

ENTRY_POINT_GROUP = "specinterp"

# hook name -> (registry attribute, required base type)
KINDS: dict[str, tuple[str, type]] = {
    "register_models": ("models", ModelPlugin),
    "register_explainers": ("explainers", Explainer),
    "register_datasets": ("datasets", DatasetPlugin),
    "register_renderers": ("renderers", Renderer),
}


@dataclass
class PluginInfo:
    """What `specinterp plugins` reports about one plugin."""

    name: str
    distribution: str | None
    version: str | None
    provides: dict[str, list[str]] = field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "provides": self.provides,
            "error": self.error,
        }


@dataclass
class Registry:
    """Everything the loaded plugins provide, by name, and a report per plugin."""

    plugins: dict[str, PluginInfo] = field(default_factory=dict)
    models: dict[str, ModelPlugin] = field(default_factory=dict)
    explainers: dict[str, Explainer] = field(default_factory=dict)
    datasets: dict[str, DatasetPlugin] = field(default_factory=dict)
    renderers: dict[str, Renderer] = field(default_factory=dict)

    def get(self, kind: str, name: str) -> Any:
        """Look up a model / explainer / dataset / renderer by name, or raise a one-line error."""
        table: dict[str, Any] = getattr(self, kind)
        if name not in table:
            known = ", ".join(sorted(table)) or "none"
            raise SpecinterpError(f"unknown {kind[:-1]} '{name}' (available: {known})")
        return table[name]


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _load(pm: pluggy.PluginManager, reg: Registry) -> None:
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name in reg.plugins:
            continue
        dist = getattr(ep, "dist", None)
        info = PluginInfo(ep.name, dist.name if dist else None, dist.version if dist else None)
        reg.plugins[ep.name] = info
        try:
            pm.register(ep.load(), name=ep.name)
        except Exception as exc:  # a broken plugin must not take the others down
            info.error = _error_text(exc)


def _collect(pm: pluggy.PluginManager, reg: Registry) -> None:
    for hook_name, (attr, base) in KINDS.items():
        table: dict[str, Any] = getattr(reg, attr)
        for impl in getattr(pm.hook, hook_name).get_hookimpls():
            info = reg.plugins[impl.plugin_name]
            added: list[str] = []

            def register(item: Any, _table: dict = table, _added: list = added, _base: type = base) -> None:
                if not isinstance(item, _base):
                    raise TypeError(f"{hook_name} expects {_base.__name__}, got {type(item).__name__}")
                if item.name in _table:
                    raise ValueError(f"{attr[:-1]} '{item.name}' is already registered")
                _table[item.name] = item
                _added.append(item.name)

            try:
                impl.function(register)
            except Exception as exc:
                info.error = _error_text(exc)
                for name in added:  # all or nothing per plugin and hook
                    table.pop(name, None)
                continue
            if added:
                info.provides.setdefault(attr, []).extend(added)


@functools.lru_cache(maxsize=1)
def registry() -> Registry:
    """Load every plugin in the entry-point group once and return what they provide."""
    pm = pluggy.PluginManager("specinterp")
    pm.add_hookspecs(hookspecs)
    reg = Registry()
    _load(pm, reg)
    _collect(pm, reg)
    return reg


def reset() -> None:
    """Forget the loaded registry (tests that install a plugin at run time call this)."""
    registry.cache_clear()
    importlib.invalidate_caches()
