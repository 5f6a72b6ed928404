"""One plugin manager for every plugin, the built-ins included, loaded from entry points.

The built-ins (the ``specinterp`` distribution's own entry points) load first, whatever order the
entry points come in. A plugin that fails to import, or whose hook raises (``SystemExit`` and
``KeyboardInterrupt`` included), is recorded with its error and skipped; the others keep working.
A real Ctrl-C while plugins load still stops the program. A name registered by two plugins is an
error recorded against both: a built-in is never replaced, and two third-party plugins that claim
one name both lose it, unless ``SPECINTERP_PLUGIN_OVERRIDE`` says which distribution to use.
:func:`registry` builds everything once per process.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from specinterp import hookspecs
from specinterp.containment import InterruptWatch, describe
from specinterp.interfaces import Dataset, DatasetPlugin, Explainer, Metric, ModelPlugin, Renderer, SpecinterpError

ENTRY_POINT_GROUP = "specinterp"
BUILTIN_DISTRIBUTION = "specinterp"
OVERRIDE_ENV = "SPECINTERP_PLUGIN_OVERRIDE"

# hook name -> (registry attribute, required base type)
KINDS: dict[str, tuple[str, type]] = {
    "register_models": ("models", ModelPlugin),
    "register_explainers": ("explainers", Explainer),
    "register_datasets": ("datasets", DatasetPlugin),
    "register_renderers": ("renderers", Renderer),
    "register_metrics": ("metrics", Metric),
}
SINGULAR = {attr: attr[:-1] for attr, _ in KINDS.values()}


def normalize(distribution: str) -> str:
    """A distribution name as pip compares them (PEP 503): ``Foo_Bar.baz`` -> ``foo-bar-baz``."""
    return re.sub(r"[-_.]+", "-", distribution).lower()


@dataclass
class PluginInfo:
    """What `specinterp plugins` reports about one plugin (one entry point)."""

    name: str
    distribution: str | None
    version: str | None
    provides: dict[str, list[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def error(self) -> str | None:
        """Every problem of this plugin in one line, or None."""
        return "; ".join(self.errors) or None

    @property
    def builtin(self) -> bool:
        return self.distribution is not None and normalize(self.distribution) == BUILTIN_DISTRIBUTION

    @property
    def release(self) -> str:
        """``"specinterp-loudness 0.1.0"``: the distribution and version that installed this plugin."""
        if self.distribution is None:
            return f"entry point '{self.name}'"
        return f"{self.distribution} {self.version}"

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
    metrics: dict[str, Metric] = field(default_factory=dict)
    providers: dict[tuple[str, str], PluginInfo] = field(default_factory=dict)
    withheld: dict[tuple[str, str], str] = field(default_factory=dict)  # (kind, name) -> why not usable

    def get(self, kind: str, name: str) -> Any:
        """Look up a model / explainer / dataset / renderer / metric by name, or raise a one-line error."""
        table: dict[str, Any] = getattr(self, kind)
        if name not in table:
            if (kind, name) in self.withheld:
                raise SpecinterpError(self.withheld[(kind, name)])
            known = ", ".join(sorted(table)) or "none"
            raise SpecinterpError(f"unknown {SINGULAR[kind]} '{name}' (available: {known})")
        return table[name]

    def provider(self, kind: str, name: str) -> str:
        """Who registered it: ``"specinterp 0.1.0"`` or ``"specinterp-loudness 0.1.0"``."""
        self.get(kind, name)
        return self.providers[(kind, name)].release


Claim = tuple[PluginInfo, Any]


def _overrides(value: str) -> dict[tuple[str, str], str]:
    """Parse ``explainer:cam=my-dist,model:camcnn=other`` into {(kind attr, name): normalized distribution}."""
    kinds = {kind: attr for attr, kind in SINGULAR.items()}
    chosen: dict[tuple[str, str], str] = {}
    for entry in filter(None, (part.strip() for part in value.split(","))):
        kind, _, rest = entry.partition(":")
        name, _, dist = rest.rpartition("=")
        if kind.strip() not in kinds or not name.strip() or not dist.strip():
            raise SpecinterpError(f"{OVERRIDE_ENV}: '{entry}' is not <kind>:<name>=<distribution> "
                                  f"(kind: {', '.join(kinds)})")
        key = (kinds[kind.strip()], name.strip())
        if chosen.setdefault(key, normalize(dist.strip())) != normalize(dist.strip()):
            raise SpecinterpError(f"{OVERRIDE_ENV}: {kind.strip()} '{key[1]}' is given two distributions")
    return chosen


def _entry_points() -> list[importlib.metadata.EntryPoint]:
    """Every entry point of the group, the built-ins first (each distribution's own order kept)."""
    def rank(ep: importlib.metadata.EntryPoint) -> tuple[bool, str]:
        dist = normalize(ep.dist.name) if ep.dist else ""
        return dist != BUILTIN_DISTRIBUTION, dist

    return sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=rank)


def _plugin_key(plugins: dict[str, PluginInfo], info: PluginInfo) -> str:
    """The entry-point name, made unique when two distributions use the same one."""
    key, count = info.name, 1
    while key in plugins:
        count += 1
        key = f"{info.name} ({info.distribution or '?'} #{count})"
    return key


def _register(pm: pluggy.PluginManager, ep: importlib.metadata.EntryPoint, key: str) -> None:
    """Import one entry point and register it with pluggy, refusing hooks specinterp does not have."""
    module = ep.load()
    if pm.is_registered(module):
        raise ValueError(f"{ep.value} is already loaded as plugin '{pm.get_name(module)}'")
    pm.register(module, name=key)
    unknown = sorted(caller.name for caller in pm.get_hookcallers(module) or [] if not caller.has_spec())
    if unknown:
        raise ValueError(f"unknown hook {', '.join(unknown)} (specinterp's hooks: {', '.join(KINDS)})")


def _load(pm: pluggy.PluginManager, reg: Registry, watch: InterruptWatch) -> None:
    for ep in _entry_points():
        info = PluginInfo(ep.name, ep.dist.name if ep.dist else None, ep.dist.version if ep.dist else None)
        key = _plugin_key(reg.plugins, info)
        reg.plugins[key] = info
        failure = watch.guard(_register, pm, ep, key)
        if failure is not None:
            info.errors.append(describe(failure, "import"))


def _register_callback(hook_name: str, base: type, pending: dict[str, Any]) -> Callable[[Any], None]:
    kind = SINGULAR[KINDS[hook_name][0]]

    def register(item: Any) -> None:
        if not isinstance(item, base):
            raise TypeError(f"{hook_name} expects {base.__name__}, got {type(item).__name__}")
        name = item.name
        if not isinstance(name, str) or not name:
            raise TypeError(f"{hook_name}: each {kind} needs a non-empty name, got {name!r}")
        if name in pending:
            raise ValueError(f"{kind} '{name}' is registered twice by this plugin")
        pending[name] = item

    return register


def _collect(pm: pluggy.PluginManager, reg: Registry, watch: InterruptWatch) -> dict[tuple[str, str], list[Claim]]:
    """Call each plugin's hooks on their own; a hook that raises registers nothing (all or nothing)."""
    claims: dict[tuple[str, str], list[Claim]] = {}
    for key, info in reg.plugins.items():
        for hook_name, (attr, base) in KINDS.items():
            impl = next((i for i in getattr(pm.hook, hook_name).get_hookimpls() if i.plugin_name == key), None)
            if impl is None:
                continue
            pending: dict[str, Any] = {}
            failure = watch.guard(impl.function, _register_callback(hook_name, base, pending))
            if failure is not None:
                info.errors.append(describe(failure, hook_name))
                continue
            for name, item in pending.items():
                claims.setdefault((attr, name), []).append((info, item))
    return claims


def _releases(claims: list[Claim]) -> str:
    return " and ".join(info.release for info, _ in claims)


def _settle(reg: Registry, attr: str, name: str, claims: list[Claim], chosen: str | None) -> None:
    """Decide who provides `name`: the override's choice, else the built-in, else the only claimant."""
    kind = SINGULAR[attr]
    if chosen is not None:
        picked = [claim for claim in claims if claim[0].distribution and normalize(claim[0].distribution) == chosen]
        if not picked:
            reg.withheld[(attr, name)] = (f"{OVERRIDE_ENV} chooses {kind} '{name}' from {chosen}, which does not "
                                          f"register it (registered by {_releases(claims)})")
            return
        claims = picked
    builtins = [claim for claim in claims if claim[0].builtin]
    if len(claims) > 1 and not builtins and chosen is None:
        hint = f"choose one with {OVERRIDE_ENV}={kind}:{name}=<distribution>"
        for claim in claims:
            others = [other for other in claims if other is not claim]
            claim[0].errors.append(f"{kind} '{name}' is also registered by {_releases(others)}; none is used ({hint})")
        reg.withheld[(attr, name)] = f"{kind} '{name}' is registered by {_releases(claims)}; none is used ({hint})"
        return
    winner = (builtins or claims)[0]
    losers = [claim for claim in claims if claim is not winner]
    for info, _ in losers:
        origin = " (built-in)" if winner[0].builtin else ""
        info.errors.append(f"{kind} '{name}' is already registered by {winner[0].release}{origin}; not replaced")
    if losers:
        winner[0].errors.append(f"{kind} '{name}' is also registered by {_releases(losers)}; not replaced")
    getattr(reg, attr)[name] = winner[1]
    reg.providers[(attr, name)] = winner[0]
    winner[0].provides.setdefault(attr, []).append(name)


@functools.lru_cache(maxsize=1)
def registry() -> Registry:
    """Load every plugin in the entry-point group once and return what they provide."""
    chosen = _overrides(os.environ.get(OVERRIDE_ENV, ""))
    pm = pluggy.PluginManager("specinterp")
    pm.add_hookspecs(hookspecs)
    reg = Registry()
    # a plugin's prints must not mix into our output (`plugins --json`)
    with InterruptWatch() as watch, contextlib.redirect_stdout(sys.stderr):
        _load(pm, reg, watch)
        claims = _collect(pm, reg, watch)
    for (attr, name), entries in claims.items():
        _settle(reg, attr, name, entries, chosen.get((attr, name)))
    return reg


def listing(reg: Registry, verdicts: Mapping[str, Any]) -> list[dict[str, Any]]:
    """What ``specinterp plugins --json`` prints: per plugin (sorted by name) :meth:`PluginInfo.as_dict`,
    and when it provides something ``descriptions`` (``{kind: {name: description}}``, as ``provides``);
    when it provides explainers, ``verdicts`` (``{explainer: {weights: verdict}}``) from ``verdicts``,
    the recorded verdicts' ``"models"`` (:func:`specinterp.verdicts.recorded`)."""
    entries = []
    for plugin in sorted(reg.plugins.values(), key=lambda info: info.name):
        entry = plugin.as_dict()
        if plugin.provides:
            entry["descriptions"] = {kind: {name: _description(getattr(reg, kind)[name]) for name in names}
                                     for kind, names in plugin.provides.items()}
        explainers = plugin.provides.get("explainers", [])
        if explainers:
            entry["verdicts"] = {name: {weights: recorded["explainers"][name] for weights, recorded in verdicts.items()
                                        if name in recorded.get("explainers", {})} for name in explainers}
        entries.append(entry)
    return entries


def _description(item: Any) -> str:
    return getattr(item, "description", None) or ""


def format_listing(entries: list[dict[str, Any]]) -> str:
    """What ``specinterp plugins`` prints for :func:`listing`'s ``entries``: per plugin a line (name,
    distribution and version, what it provides), its error if any, then a line per thing it provides
    with its description, an explainer's followed by its verdict on each model (or "not assessed")."""
    lines = []
    for entry in entries:
        provides = "; ".join(f"{kind}: {', '.join(names)}" for kind, names in entry["provides"].items()) or "nothing"
        lines.append(f"{entry['name']}  ({entry['distribution']} {entry['version']})  {provides}")
        if entry["error"]:
            lines.append(f"  ERROR {entry['error']}")
        for kind, described in entry.get("descriptions", {}).items():
            for name, description in described.items():
                verdicts = f" | {_verdicts_text(entry['verdicts'][name])}" if kind == "explainers" else ""
                lines.append(f"  {name}: {description or '(no description)'}{verdicts}")
    return "\n".join(lines)


def _verdicts_text(by_weights: Mapping[str, Mapping[str, Any]]) -> str:
    """``camcnn-random failed (randomization, class), basecnn-random passed``, or ``not assessed``."""
    return ", ".join(f"{weights} {v['status']}" + (f" ({', '.join(v['failed'])})" if v.get("failed") else "")
                     for weights, v in by_weights.items()) or "not assessed"


def reset() -> None:
    """Forget the loaded registry (tests that install a plugin at run time call this)."""
    registry.cache_clear()
    importlib.invalidate_caches()


def open_dataset(name: str = "gtzan", root: str | Path | None = None) -> Dataset:
    """Dataset plugin ``name`` opened on ``root`` (default: the folder in the plugin's environment
    variable, e.g. ``SPECINTERP_GTZAN``); a one-line :class:`SpecinterpError` when neither is given."""
    plugin = registry().get("datasets", name)
    folder = root or (os.environ.get(plugin.env_var) if plugin.env_var else None)
    if not folder:
        hint = f" or set {plugin.env_var}" if plugin.env_var else ""
        raise SpecinterpError(f"dataset '{name}' needs a folder: pass --data PATH{hint}")
    return plugin.open(Path(folder))
