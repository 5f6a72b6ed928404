"""The conformance kit: check a plugin against specinterp's contracts, as scikit-learn's ``check_estimator``
checks an estimator.

:func:`check_model`, :func:`check_explainer`, :func:`check_renderer` and :func:`check_dataset` each run
a list of named rules on tiny seeded inputs (a few seconds per plugin) and raise
:class:`ConformanceError`, an ``AssertionError``, at the first rule broken; its message starts with the
rule's name and says what was expected and what happened::

    rule 'batch-independence': explainer 'x' on model 'camcnn': window 0 explained alone differs from
    it explained in a batch of 3 (map 'x', max |diff| 0.41, tolerance 4.1e-05)

When every rule holds they return a :class:`Report` (the rules passed, and those skipped with the
reason). :func:`check_plugin` checks a plugin by its registered name, or everything a distribution
registers. :func:`rules` lists each kind's rules with what they mean (``docs/plugins.md`` explains them).

Calls into a plugin run with torch, numpy and ``random`` seeded. Renderers run with the working
folder and the temporary folder moved into a private sandbox (so the kit is not thread-safe).
"""

from __future__ import annotations

import copy
import functools
import json
import os
import random
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from specinterp.frontend import DEFAULT, FrontendConfig, log_mel
from specinterp.interfaces import (
    CamHead,
    Clip,
    Dataset,
    DatasetPlugin,
    ExplainableModel,
    Explainer,
    Explanation,
    IncompatibleExplainer,
    ModelPlugin,
    Prediction,
    Renderer,
    SpecinterpError,
    Split,
)
from specinterp.weights import LoadedModel

__all__ = [
    "ConformanceError", "Report", "check_dataset", "check_explainer", "check_model", "check_plugin", "check_renderer",
    "rules",
]

WINDOWS = 3  # windows per batch the kit explains
TOLERANCE = 1e-4  # largest difference allowed between two results, relative to the largest magnitude
UNKNOWN_OPTION = "conformance_unknown_option"
DEFAULT_MODEL = "camcnn"  # explainers are checked on it (shipped weights) unless they refuse it
DEFAULT_WINDOW = (32, 32)  # its windows' mel bands x frames: 16x cheaper than its own 128 x 128


class ConformanceError(AssertionError):
    """A rule of the contract is broken: ``rule '<name>': <plugin>: <what was expected, what happened>``."""

    def __init__(self, rule: str, subject: str, detail: str) -> None:
        super().__init__(f"rule '{rule}': {subject}: {detail}")
        self.rule = rule
        self.subject = subject


@dataclass(frozen=True)
class Report:
    """What a check found when no rule was broken: the rules passed, and those skipped with the reason."""

    subject: str
    passed: tuple[str, ...]
    skipped: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        """``explainer 'cam' on model 'camcnn': 11 rules passed; skipped: declared-options, one-line-errors (declares
        no options)``: skipped rules grouped by reason."""
        by_reason: dict[str, list[str]] = {}
        for rule_name, why in self.skipped.items():
            by_reason.setdefault(why, []).append(rule_name)
        skipped = "; ".join(f"{', '.join(names)} ({why})" for why, names in by_reason.items())
        return f"{self.subject}: {len(self.passed)} rules passed" + (f"; skipped: {skipped}" if skipped else "")


# ---------------------------------------------------------------- rules and their runner

class Broken(Exception):
    """A rule's finding (what was expected, what happened); the runner names the rule and the plugin."""


class NotApplicable(Exception):
    """The rule does not apply to this plugin; the message says why."""


@dataclass(frozen=True)
class Rule:
    name: str
    meaning: str
    check: Callable[[Any], None]


_RULES: dict[str, list[Rule]] = {"model": [], "explainer": [], "renderer": [], "dataset": []}


def rule(kind: str, name: str, meaning: str) -> Callable[[Callable[[Any], None]], Callable[[Any], None]]:
    """Add the decorated function to ``kind``'s rules, in the order of definition."""

    def add(check: Callable[[Any], None]) -> Callable[[Any], None]:
        _RULES[kind].append(Rule(name, meaning, check))
        return check

    return add


def rules(kind: str) -> dict[str, str]:
    """The rules of ``kind`` (``"model"``, ``"explainer"``, ``"renderer"``, ``"dataset"``), name -> meaning, in the
    order they run."""
    return {r.name: r.meaning for r in _RULES[kind]}


def _run(kind: str, subject: str, case: Any) -> Report:
    passed: list[str] = []
    skipped: dict[str, str] = {}
    for r in _RULES[kind]:
        try:
            r.check(case)
        except NotApplicable as why:
            skipped[r.name] = str(why)
        except Broken as finding:
            raise ConformanceError(r.name, subject, str(finding)) from None
        except Exception as exc:  # the plugin failed in a way no rule foresaw: blame the rule running
            raise ConformanceError(r.name, subject, f"raised {one_line(exc)}") from exc
        else:
            passed.append(r.name)
    return Report(subject, tuple(passed), skipped)


def one_line(exc: BaseException) -> str:
    """``TypeError: the message`` on one line."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def attempt(what: str, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``call(*args, **kwargs)``; an exception becomes a finding naming ``what`` was called."""
    try:
        return call(*args, **kwargs)
    except Exception as exc:
        raise Broken(f"{what} raised {one_line(exc)}") from exc


def expect(condition: bool, finding: str) -> None:
    if not condition:
        raise Broken(finding)


def expect_one_line_error(what: str, call: Callable[[], Any],
                          types: tuple[type[Exception], ...] = (ValueError,)) -> str:
    """``call()`` must raise one of ``types`` with a one-line, non-empty message; return the message."""
    names = " or ".join(t.__name__ for t in types)
    try:
        call()
    except types as exc:
        message = str(exc)
        expect(bool(message.strip()), f"{what} raised {type(exc).__name__} with an empty message")
        expect("\n" not in message.strip(), f"{what} raised {type(exc).__name__} with a message of "
                                             f"{len(message.strip().splitlines())} lines: {message!r}")
        return message
    except Exception as exc:
        raise Broken(f"{what} raised {one_line(exc)}, expected {names} with a one-line message") from exc
    raise Broken(f"{what} was accepted, expected {names} with a one-line message")


def difference(a: torch.Tensor | np.ndarray, b: torch.Tensor | np.ndarray) -> tuple[float, float]:
    """``max |a - b|`` and the allowed difference (:data:`TOLERANCE` x their largest magnitude)."""
    a, b = (torch.as_tensor(x).detach().double().cpu() for x in (a, b))
    scale = max(float(a.abs().max()), float(b.abs().max())) if a.numel() else 0.0
    return float((a - b).abs().max()) if a.numel() else 0.0, TOLERANCE * scale


def expect_same_maps(first: Mapping[str, torch.Tensor], second: Mapping[str, torch.Tensor], what: str) -> None:
    """The same map names and, per map, values within the tolerance; ``what`` says how the two differ."""
    expect(list(first) == list(second), f"{what} gives maps {list(second)}, not {list(first)}")
    for name in first:
        expect(first[name].shape == second[name].shape,
               f"{what} gives map '{name}' of shape {tuple(second[name].shape)}, not {tuple(first[name].shape)}")
        diff, allowed = difference(first[name], second[name])
        expect(diff <= allowed, f"{what} (map '{name}', max |diff| {diff:.3g}, tolerance {allowed:.3g})")


def seed_everything(seed: int) -> None:
    torch.manual_seed(seed)
    np.random.seed(seed)  # noqa: NPY002 (the legacy global generator, which a plugin may draw from)
    random.seed(seed)


# ---------------------------------------------------------------- tiny seeded inputs

def tones(sample_rate: int, samples: int, seed: int, level: float = 0.5) -> np.ndarray:
    """Three seeded tones with a pulsing envelope and a little noise, float32 mono, peak ``level``."""
    rng = np.random.default_rng(seed)
    t = np.arange(samples) / sample_rate
    wave = sum(np.sin(2 * np.pi * hz * t + rng.uniform(0, 2 * np.pi)) for hz in rng.uniform(100, sample_rate / 6, 3))
    wave = wave * (0.6 + 0.4 * (np.sin(2 * np.pi * 3.0 * t) > 0)) + 0.05 * rng.standard_normal(samples)
    return (level * wave / np.abs(wave).max()).astype(np.float32)


def synthetic_windows(config: FrontendConfig, count: int, seed: int) -> torch.Tensor:
    """``count`` log-mel windows ``(count, 1, n_mels, window_frames)`` of seeded tones, each louder than the
    one before."""
    samples = config.hop_length * (config.window_frames - 1)
    waves = [tones(config.sample_rate, samples, seed + i, level=0.1 * 3**i) for i in range(count)]
    windows = [log_mel(wave, config)[:, : config.window_frames] for wave in waves]
    return torch.from_numpy(np.stack(windows))[:, None].contiguous()


def sample_explanation(folder: Path, seconds: float = 2.0, seed: int = 0) -> Explanation:
    """An explanation of seeded tones written to ``folder/conformance.wav``: one smooth map in [0, 1], three
    classes, on the study's front end. Renderers are checked on it."""
    import soundfile as sf

    config = DEFAULT
    waveform = tones(config.sample_rate, int(seconds * config.sample_rate), seed)
    source = Path(folder) / "conformance.wav"
    sf.write(source, waveform, config.sample_rate)
    spectrogram = log_mel(waveform, config)
    rng = np.random.default_rng(seed)
    rows, frames = spectrogram.shape
    smooth = np.outer(np.hanning(rows) + rng.uniform(0, 0.2, rows), np.hanning(frames) + rng.uniform(0, 0.2, frames))
    probabilities = np.array([0.6, 0.3, 0.1])
    prediction = Prediction(classes=("low", "mid", "high"), probabilities=probabilities,
                            window_probabilities=probabilities[None], window_starts=np.zeros(1))
    return Explanation(source=str(source), model="conformance-model", explainer="conformance", target=0,
                       prediction=prediction, spectrogram=spectrogram,
                       maps={"conformance": (smooth / smooth.max()).astype(np.float32)}, waveform=waveform,
                       frontend=config)


# ---------------------------------------------------------------- the state of a model

HOOKS = {"_forward_hooks": "forward hook", "_forward_pre_hooks": "forward pre-hook",
         "_backward_hooks": "backward hook", "_backward_pre_hooks": "backward pre-hook"}


def hook_counts(model: nn.Module) -> dict[str, int]:
    """Hooks registered on each submodule and globally, by ``"<module> (<kind>)"``."""
    counts = {}
    for name, module in model.named_modules():
        for attribute, kind in HOOKS.items():
            counts[f"{name or 'the model'} ({kind})"] = len(getattr(module, attribute, None) or {})
    from torch.nn.modules import module as torch_module

    for attribute, kind in HOOKS.items():
        counts[f"every module (global {kind})"] = len(getattr(torch_module, f"_global{attribute}", None) or {})
    return counts


@dataclass
class ModelState:
    """What an explainer or a forward pass must leave as it found it."""

    training: dict[str, bool]
    requires_grad: dict[str, bool]
    grads: dict[str, torch.Tensor | None]
    tensors: dict[str, torch.Tensor]
    hooks: dict[str, int]

    @classmethod
    def of(cls, model: nn.Module) -> ModelState:
        parameters = dict(model.named_parameters())
        return cls(
            training={name or "the model": m.training for name, m in model.named_modules()},
            requires_grad={name: p.requires_grad for name, p in parameters.items()},
            grads={name: None if p.grad is None else p.grad.detach().clone() for name, p in parameters.items()},
            tensors={name: t.detach().clone() for name, t in model.state_dict().items()},
            hooks=hook_counts(model),
        )

    def changes(self, after: ModelState) -> list[str]:
        """What differs in ``after``, in words (empty when nothing does)."""
        found = [f"{where} left in {'training' if now else 'eval'} mode (was {'training' if was else 'eval'})"
                 for where, was in self.training.items() if (now := after.training.get(where, was)) != was]
        found += [f"requires_grad of {name} changed to {now}" for name, was in self.requires_grad.items()
                  if (now := after.requires_grad.get(name, was)) != was]
        found += [f"gradient of {name} {'set' if was is None else 'changed'}" for name, was in self.grads.items()
                  if not _same_tensor(was, after.grads.get(name))]
        found += [f"{name} changed" for name, was in self.tensors.items()
                  if not _same_tensor(was, after.tensors.get(name))]
        found += [f"{after.hooks[where] - was} {where} left registered" for where, was in self.hooks.items()
                  if after.hooks.get(where, 0) > was]
        return found


def _same_tensor(a: torch.Tensor | None, b: torch.Tensor | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.shape == b.shape and bool(torch.equal(a, b))


def expect_unchanged(model: nn.Module, before: ModelState, what: str) -> None:
    changes = before.changes(ModelState.of(model))
    expect(not changes, f"{what}: {'; '.join(changes[:3])}{' and more' if len(changes) > 3 else ''}")


# ---------------------------------------------------------------- explainers

@dataclass
class ExplainerCase:
    """One explainer, the model it is checked on, seeded windows and a target per window."""

    explainer: Explainer
    model: nn.Module
    model_name: str
    frontend: FrontendConfig
    options: dict[str, Any]
    seed: int
    windows: torch.Tensor = field(init=False)
    classes: int = field(init=False)
    target: torch.Tensor = field(init=False)

    def __post_init__(self) -> None:
        self.windows = synthetic_windows(self.frontend, WINDOWS, self.seed)
        with torch.no_grad():
            self.classes = self.model(self.windows).shape[1]
        self.target = torch.arange(WINDOWS) % self.classes  # a different class per window where there are several

    def explain(self, windows: torch.Tensor, target: torch.Tensor, **extra: Any) -> dict[str, torch.Tensor]:
        """The explainer's maps with torch, numpy and ``random`` seeded; ``extra`` options over the kit's."""
        seed_everything(self.seed)
        return self.explainer.explain(self.model, windows, target, **{**self.options, **extra})

    def attempt(self, windows: torch.Tensor, target: torch.Tensor, **extra: Any) -> dict[str, torch.Tensor]:
        return attempt(f"explain of {len(windows)} window{'s' * (len(windows) > 1)}", self.explain, windows, target,
                       **extra)

    @functools.cached_property
    def batch(self) -> dict[str, torch.Tensor]:
        return self.attempt(self.windows, self.target)

    @functools.cached_property
    def first(self) -> dict[str, torch.Tensor]:
        """Window 0 explained alone."""
        return self.attempt(self.windows[:1], self.target[:1])


class BareModel(nn.Module):
    """A model with no capabilities and no explainable layers: what an explainer that requires any must refuse."""

    capabilities: ClassVar[frozenset[str]] = frozenset()
    explainable_layers: ClassVar[Mapping[str, nn.Module]] = {}

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return windows.flatten(1)[:, :2]


@rule("explainer", "declarations",
      "name is a non-empty string; description a string; requires a set of strings; options a mapping of "
      "option names to defaults; shared_scale a bool")
def _explainer_declarations(case: ExplainerCase) -> None:
    e = case.explainer
    expect(isinstance(e, Explainer), f"is a {type(e).__name__}, not a specinterp.interfaces.Explainer")
    expect(isinstance(e.name, str) and bool(e.name), f"name is {e.name!r}, expected a non-empty string")
    expect(isinstance(e.description, str), f"description is {type(e.description).__name__}, expected a string")
    expect(isinstance(e.requires, (set, frozenset)) and all(isinstance(r, str) for r in e.requires),
           f"requires is {e.requires!r}, expected a frozenset of capability or 'layer:<name>' strings")
    expect(isinstance(e.options, Mapping) and all(isinstance(k, str) for k in e.options),
           f"options is {e.options!r}, expected a mapping of option names to their defaults")
    expect(isinstance(e.shared_scale, bool), f"shared_scale is {e.shared_scale!r}, expected True or False")


@rule("explainer", "requires-enforced",
      "check() refuses a model without capabilities or layers with a one-line IncompatibleExplainer naming the "
      "explainer, when the explainer requires anything; and accepts it when it requires nothing")
def _explainer_requires(case: ExplainerCase) -> None:
    bare = BareModel()
    if not case.explainer.requires:
        attempt("check() of a model without capabilities, for an explainer that requires nothing",
                case.explainer.check, bare, "bare")
        return
    message = expect_one_line_error("check() of a model without capabilities or layers",
                                    lambda: case.explainer.check(bare, "bare"), (IncompatibleExplainer,))
    expect(f"'{case.explainer.name}'" in message, f"check()'s refusal does not name the explainer: {message!r}")


@rule("explainer", "shapes",
      "explain(model, windows (N, 1, n_mels, frames), target (N,)) returns a non-empty dict of map name -> "
      "tensor (N, n_mels, frames)")
def _explainer_shapes(case: ExplainerCase) -> None:
    maps = case.batch
    expect(isinstance(maps, dict) and bool(maps), f"explain returned {type(maps).__name__} {maps!r:.80}, "
                                                   f"expected a non-empty dict of map name -> tensor")
    expected = (len(case.windows), *case.windows.shape[-2:])
    for name, value in maps.items():
        expect(isinstance(name, str) and bool(name), f"map name {name!r} is not a non-empty string")
        expect(isinstance(value, torch.Tensor), f"map '{name}' is a {type(value).__name__}, not a torch.Tensor")
        expect(tuple(value.shape) == expected, f"map '{name}' has shape {tuple(value.shape)} for windows "
                                               f"{tuple(case.windows.shape)}, expected {expected}")


@rule("explainer", "dtypes",
      "maps are floating-point tensors of the windows' dtype and device, detached from autograd")
def _explainer_dtypes(case: ExplainerCase) -> None:
    for name, value in case.batch.items():
        expect(value.dtype == case.windows.dtype, f"map '{name}' is {value.dtype}, the windows {case.windows.dtype}")
        expect(value.device == case.windows.device, f"map '{name}' is on {value.device}, the windows on "
                                                    f"{case.windows.device}")
        expect(not value.requires_grad, f"map '{name}' requires grad (return it detached, or the graph stays alive)")


@rule("explainer", "value-ranges", "every value of every map is finite (no NaN, no infinity)")
def _explainer_value_ranges(case: ExplainerCase) -> None:
    for name, value in case.batch.items():
        bad = int((~torch.isfinite(value)).sum())
        expect(bad == 0, f"map '{name}' holds {bad} NaN or infinite values")


@rule("explainer", "determinism",
      "the same call twice, with torch, numpy and random seeded the same, gives the same maps")
def _explainer_determinism(case: ExplainerCase) -> None:
    again = case.attempt(case.windows, case.target)
    expect_same_maps(case.batch, again, f"the same call (batch of {WINDOWS}, seeded) made twice differs")


@rule("explainer", "batch-independence",
      "the first and the last window of a batch, each explained alone, equal them explained in the batch (to the "
      "tolerance)")
def _explainer_batch_independence(case: ExplainerCase) -> None:
    last = len(case.windows) - 1
    for index, alone in ((0, case.first), (last, case.attempt(case.windows[last:], case.target[last:]))):
        in_batch = {name: value[index : index + 1] for name, value in case.batch.items()}
        expect_same_maps(in_batch, alone, f"window {index} explained alone differs from it explained in a batch of "
                                          f"{len(case.windows)}")


@rule("explainer", "eval-mode",
      "the maps of a model found in training mode equal those in eval mode (the explainer runs it in eval mode) "
      "and the model is left in training mode")
def _explainer_eval_mode(case: ExplainerCase) -> None:
    case.model.train()
    try:
        maps = case.attempt(case.windows[:1], case.target[:1])
        left = [name or "the model" for name, m in case.model.named_modules() if not m.training]
    finally:
        case.model.eval()
    expect(not left, f"a model found in training mode was left with {', '.join(left[:3])} in eval mode")
    expect_same_maps(case.first, maps, "window 0 explained with the model in training mode differs from it in "
                                       "eval mode")


@rule("explainer", "no-state-leak",
      "an explain call leaves the model as found (training flags, requires_grad, gradients, parameters and buffers, "
      "no hooks left registered), and the same call before and after another call gives the same maps")
def _explainer_no_state_leak(case: ExplainerCase) -> None:
    before = ModelState.of(case.model)
    case.attempt(case.windows[-1:], (case.target[-1:] + 1) % case.classes)
    expect_unchanged(case.model, before, "after explain")
    again = case.attempt(case.windows[:1], case.target[:1])
    expect_same_maps(case.first, again, "window 0 explained again after another call differs")
    expect_unchanged(case.model, before, "after explain")


@rule("explainer", "declared-options",
      "each declared option given its default value is accepted and gives the maps of the defaults")
def _explainer_declared_options(case: ExplainerCase) -> None:
    if not case.explainer.options:
        raise NotApplicable("declares no options")
    given = {**case.explainer.options, **case.options}
    maps = attempt(f"explain with every declared option given ({', '.join(given)})", case.explain,
                   case.windows[:1], case.target[:1], **given)
    expect_same_maps(case.first, maps, "every declared option given explicitly changes the maps")


@rule("explainer", "unknown-options",
      "an undeclared option is refused with a ValueError whose one-line message names it")
def _explainer_unknown_options(case: ExplainerCase) -> None:
    message = expect_one_line_error(f"explain with undeclared option {UNKNOWN_OPTION}=1",
                                    lambda: case.explain(case.windows[:1], case.target[:1], **{UNKNOWN_OPTION: 1}))
    expect(UNKNOWN_OPTION in message, f"the refusal of an undeclared option does not name it: {message!r}")


def bad_value(default: Any) -> Any:
    """A value of the wrong kind for an option with ``default``: an object where it is a string, else a string."""
    return {"conformance": "not a valid value"} if isinstance(default, str) else "not a valid value"


@rule("explainer", "one-line-errors",
      "each declared option given a value of the wrong kind (a string; an object where the default is a string) is "
      "refused with a ValueError whose message is one line")
def _explainer_one_line_errors(case: ExplainerCase) -> None:
    if not case.explainer.options:
        raise NotApplicable("declares no options")
    for key, default in case.explainer.options.items():
        given = {key: bad_value(default)}
        expect_one_line_error(f"explain with option {key}={given[key]!r}",
                              functools.partial(case.explain, case.windows[:1], case.target[:1], **given))


@rule("explainer", "describe", "describe(explanation) returns a string on one line ('' for none)")
def _explainer_describe(case: ExplainerCase) -> None:
    from specinterp.windows import normalize

    window = case.windows[0, 0].numpy()
    probabilities = np.full(case.classes, 1.0 / case.classes)
    prediction = Prediction(classes=tuple(f"class{i}" for i in range(len(probabilities))), probabilities=probabilities,
                            window_probabilities=probabilities[None], window_starts=np.zeros(1))
    samples = case.frontend.hop_length * (case.frontend.window_frames - 1)
    explanation = Explanation(
        source="conformance.wav", model=case.model_name, explainer=case.explainer.name, target=0,
        prediction=prediction, spectrogram=window,
        maps={name: normalize(value[0].double().numpy()) for name, value in case.first.items()},
        waveform=tones(case.frontend.sample_rate, samples, case.seed, level=0.1), frontend=case.frontend,
        options=dict(case.options))
    text = attempt("describe(explanation)", case.explainer.describe, explanation)
    expect(isinstance(text, str), f"describe returned {type(text).__name__}, expected a string")
    expect("\n" not in text.strip(), f"describe returned {len(text.strip().splitlines())} lines, expected one")


@functools.cache
def _loaded(name: str) -> LoadedModel:
    """A registered model with its shipped weights, or seeded random weights where it ships none (kept per process)."""
    from specinterp.plugins import registry
    from specinterp.weights import resolve

    plugin = registry().get("models", name)
    if plugin.weights():
        return resolve(name)
    seed_everything(0)
    frontend = FrontendConfig.from_dict(plugin.default_frontend())
    module = plugin.build(plugin.default_config()).eval()
    module.frontend, module.model_name = frontend, name
    return LoadedModel(name, module, (), plugin.default_config(), frontend=frontend)


def _as_loaded(model: str | LoadedModel | nn.Module) -> LoadedModel:
    """A copy of the model to check an explainer on, so that nothing the explainer does reaches the original."""
    if isinstance(model, str):
        model = _loaded(model)
    if isinstance(model, LoadedModel):
        return LoadedModel(model.name, copy.deepcopy(model.module), model.classes, model.config,
                           frontend=model.frontend)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a model name, a LoadedModel or an nn.Module, got {type(model).__name__}")
    name = getattr(model, "model_name", type(model).__name__)
    frontend = getattr(model, "frontend", None) or DEFAULT
    module = copy.deepcopy(model).eval()
    if not isinstance(module, ExplainableModel):  # a plain module, wrapped as specinterp.explain wraps it
        from specinterp.models import UserModel

        module = UserModel(module, frontend).eval()
    return LoadedModel(name, module, (), {}, frontend=frontend)


def _accepting_model(explainer: Explainer) -> tuple[LoadedModel | None, str]:
    """The first model that ``explainer.check`` accepts: camcnn, then the other registered models with
    shipped weights; ``(None, why)`` when none does."""
    from specinterp.plugins import registry

    names = [DEFAULT_MODEL] + sorted(n for n, p in registry().models.items() if n != DEFAULT_MODEL and p.weights())
    for name in names:
        candidate = _as_loaded(name)
        try:
            explainer.check(candidate.module, name)
        except IncompatibleExplainer:
            continue
        return candidate, ""
    return None, f"no registered model has what it requires ({', '.join(sorted(explainer.requires))})"


def _lookup(kind: str, item: Any) -> Any:
    """A plugin by its registered name, or the plugin itself."""
    if not isinstance(item, str):
        return item
    from specinterp.plugins import registry

    return registry().get(kind, item)


def check_explainer(explainer: Explainer | str, model: str | LoadedModel | nn.Module | None = None, *,
                    window: tuple[int, int] | None = None, options: Mapping[str, Any] | None = None,
                    seed: int = 0) -> Report:
    """Check an explainer against the explainer contract (:func:`rules` ``("explainer")``).

    Parameters
    ----------
    explainer : Explainer or str
        The explainer, or its registered name.
    model : str, LoadedModel, nn.Module or None
        What to explain (a copy is used): a registered model's name (its shipped weights, else seeded random
        weights), a loaded model, or a module (one without the :class:`specinterp.interfaces.ExplainableModel`
        attributes is wrapped as ``specinterp.explain`` wraps it; its ``frontend`` attribute, else the study's, sets
        the windows). Default: ``camcnn`` with its shipped weights on windows of :data:`DEFAULT_WINDOW`, or the
        first registered model the explainer's ``check`` accepts, on its own windows.
    window : (int, int) or None
        The windows' ``(n_mels, frames)``, the model's front end changed to match (the model must take them);
        default: the model's own.
    options : mapping or None
        Options for every call, e.g. cheaper settings of a costly method (``{"samples": 8}``).
    seed : int, default 0
        Seeds the windows and torch / numpy / ``random`` before every call.

    Returns
    -------
    Report
        The rules passed; every rule is skipped (with the reason) when the explainer refuses the model given,
        or no registered model has what it requires.

    Raises
    ------
    ConformanceError
        At the first rule broken, its message naming the rule.
    """
    explainer = _lookup("explainers", explainer)
    name = getattr(explainer, "name", type(explainer).__name__)
    if model is None:
        loaded, why = _accepting_model(explainer)
        if loaded is not None and loaded.name == DEFAULT_MODEL:
            window = window or DEFAULT_WINDOW
    else:
        loaded = _as_loaded(model)
        try:
            explainer.check(loaded.module, loaded.name)
            why = ""
        except IncompatibleExplainer as refusal:
            loaded, why = None, str(refusal)
    if loaded is None:
        return Report(f"explainer '{name}'", (), dict.fromkeys(rules("explainer"), why))
    frontend = loaded.frontend if window is None else resized(loaded.frontend, window)
    loaded.module.frontend = frontend  # explainers read the mel axis from it
    case = ExplainerCase(explainer, loaded.module, loaded.name, frontend, dict(options or {}), seed)
    return _run("explainer", f"explainer '{name}' on model '{loaded.name}'", case)


def resized(config: FrontendConfig, window: tuple[int, int]) -> FrontendConfig:
    """``config`` with windows of ``(n_mels, frames)``."""
    n_mels, frames = window
    return replace(config, n_mels=n_mels, window_frames=frames, window_hop=min(config.window_hop, frames))


# ---------------------------------------------------------------- models

@dataclass
class ModelCase:
    """One model plugin, a module built from its default config with seeded weights, and seeded windows."""

    plugin: ModelPlugin
    seed: int
    frontend: FrontendConfig = DEFAULT
    module: nn.Module | None = None
    windows: torch.Tensor | None = None

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return attempt(f"the model's forward pass on {len(windows)} window{'s' * (len(windows) > 1)}",
                           self.module, windows)

    @functools.cached_property
    def batch(self) -> torch.Tensor:
        return self.forward(self.windows)

    @functools.cached_property
    def first(self) -> torch.Tensor:
        """Window 0 alone."""
        return self.forward(self.windows[:1])


@rule("model", "declarations",
      "name is a non-empty string; default_config() a JSON-able dict; default_frontend() valid FrontendConfig "
      "fields; weights() a dict of variant -> existing .safetensors path with its .json beside it; default_variant "
      "None or one of them")
def _model_declarations(case: ModelCase) -> None:
    plugin = case.plugin
    expect(isinstance(plugin, ModelPlugin), f"is a {type(plugin).__name__}, not a specinterp.interfaces.ModelPlugin")
    expect(isinstance(plugin.name, str) and bool(plugin.name), f"name is {plugin.name!r}, expected a non-empty string")
    expect(isinstance(plugin.description, str),
           f"description is {type(plugin.description).__name__}, expected a string")
    config = attempt("default_config()", plugin.default_config)
    expect(isinstance(config, dict), f"default_config() returned {type(config).__name__}, expected a dict")
    attempt("json.dumps(default_config())", json.dumps, config)
    fields = attempt("default_frontend()", plugin.default_frontend)
    case.frontend = attempt("FrontendConfig.from_dict(default_frontend())", FrontendConfig.from_dict, fields)
    shipped = attempt("weights()", plugin.weights)
    expect(isinstance(shipped, dict), f"weights() returned {type(shipped).__name__}, expected a dict")
    for variant, path in shipped.items():
        path = Path(path)
        expect(path.suffix == ".safetensors" and path.is_file(), f"weights()['{variant}'] is {path}, expected an "
                                                                 f"existing .safetensors file")
        expect(path.with_suffix(".json").is_file(), f"weights()['{variant}'] has no {path.with_suffix('.json').name} "
                                                    f"beside it")
    expect(plugin.default_variant is None or plugin.default_variant in shipped,
           f"default_variant is {plugin.default_variant!r}, not one of the shipped variants {list(shipped)}")


@rule("model", "builds",
      "build(default_config()) returns an nn.Module following ExplainableModel: explainable_layers maps names to "
      "its own submodules, capabilities is a set of strings, multilabel (if present) a bool")
def _model_builds(case: ModelCase) -> None:
    seed_everything(case.seed)
    module = attempt("build(default_config())", case.plugin.build, case.plugin.default_config())
    expect(isinstance(module, nn.Module), f"build returned {type(module).__name__}, expected an nn.Module")
    case.module = module.eval()
    capabilities = getattr(module, "capabilities", None)
    expect(isinstance(capabilities, (set, frozenset)) and all(isinstance(c, str) for c in capabilities),
           f"capabilities is {capabilities!r}, expected a frozenset of strings")
    layers = getattr(module, "explainable_layers", None)
    expect(isinstance(layers, Mapping), f"explainable_layers is {type(layers).__name__}, expected a mapping of "
                                        f"name -> submodule")
    own = {id(m) for m in module.modules()}
    for name, layer in layers.items():
        expect(isinstance(name, str) and isinstance(layer, nn.Module) and id(layer) in own,
               f"explainable_layers['{name}'] is not a submodule of the model")
    expect(isinstance(getattr(module, "multilabel", False), bool),
           f"multilabel is {getattr(module, 'multilabel', False)!r}, expected True or False")
    case.windows = synthetic_windows(case.frontend, WINDOWS, case.seed)


@rule("model", "shapes",
      "the module maps windows (N, 1, n_mels, window_frames) of its front end to logits (N, classes); classes as "
      "the config's 'classes' says, where it says")
def _model_shapes(case: ModelCase) -> None:
    out = case.batch
    expect(isinstance(out, torch.Tensor), f"forward returned {type(out).__name__}, expected a tensor (N, classes)")
    expect(out.dim() == 2 and out.shape[0] == WINDOWS,
           f"forward gives {tuple(out.shape)} for windows {tuple(case.windows.shape)}, expected ({WINDOWS}, classes)")
    classes = case.plugin.default_config().get("classes")
    if isinstance(classes, int):
        expect(out.shape[1] == classes, f"forward gives {out.shape[1]} outputs per window, the config says "
                                        f"{classes} classes")


@rule("model", "dtypes", "float32 windows give float32 logits")
def _model_dtypes(case: ModelCase) -> None:
    expect(case.batch.dtype == case.windows.dtype, f"forward gives {case.batch.dtype} for {case.windows.dtype} windows")


@rule("model", "value-ranges", "every logit is finite")
def _model_value_ranges(case: ModelCase) -> None:
    bad = int((~torch.isfinite(case.batch)).sum())
    expect(bad == 0, f"forward gives {bad} NaN or infinite logits")


@rule("model", "determinism", "in eval mode, the same window twice gives the same logits")
def _model_determinism(case: ModelCase) -> None:
    expected = case.first
    seed_everything(case.seed + 1)  # a model that draws random numbers in eval mode differs
    diff, allowed = difference(expected, case.forward(case.windows[:1]))
    expect(diff <= allowed, f"the same window twice gives different logits (max |diff| {diff:.3g}, tolerance "
                            f"{allowed:.3g})")


@rule("model", "batch-independence", "in eval mode, window 0 alone gives the logits it gets in a batch")
def _model_batch_independence(case: ModelCase) -> None:
    diff, allowed = difference(case.batch[:1], case.first)
    expect(diff <= allowed, f"window 0 alone gives other logits than in a batch of {WINDOWS} (max |diff| {diff:.3g}, "
                            f"tolerance {allowed:.3g})")


@rule("model", "explainable-layers",
      "each explainable layer runs in the forward pass and outputs maps (N, C, h, w)")
def _model_explainable_layers(case: ModelCase) -> None:
    outputs: dict[str, Any] = {}
    def keep(name: str, module: nn.Module, args: Any, output: Any) -> None:
        outputs.setdefault(name, output)

    handles = [layer.register_forward_hook(functools.partial(keep, name))
               for name, layer in case.module.explainable_layers.items()]
    try:
        case.forward(case.windows[:1])
    finally:
        for handle in handles:
            handle.remove()
    for name in case.module.explainable_layers:
        expect(name in outputs, f"layer '{name}' does not run in the forward pass")
        out = outputs[name]
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        expect(isinstance(out, torch.Tensor) and out.dim() == 4 and out.shape[0] == 1,
               f"layer '{name}' outputs {shape} for one window, expected maps (1, C, h, w)")


@rule("model", "capabilities",
      "'gradients': the logits have finite gradients w.r.t. the windows, not all zero; 'gap-linear-head': "
      "cam_head() gives features (N, K, h, w) and a (classes, K) weight whose product with the pooled features "
      "is the logits up to a constant per class")
def _model_capabilities(case: ModelCase) -> None:
    declared = case.module.capabilities & {"gradients", "gap-linear-head"}
    if not declared:
        raise NotApplicable("declares neither 'gradients' nor 'gap-linear-head'")
    if "gradients" in declared:
        windows = case.windows[:1].clone().requires_grad_(True)
        (gradient,) = attempt("the gradient of the logits w.r.t. the windows", torch.autograd.grad,
                              case.module(windows).sum(), windows)
        expect(bool(torch.isfinite(gradient).all()), "declares 'gradients' but the gradient holds NaN or infinities")
        expect(bool(gradient.abs().max() > 0), "declares 'gradients' but the gradient w.r.t. the windows is all zero")
    if "gap-linear-head" in declared:
        _expect_gap_linear_head(case)


def _expect_gap_linear_head(case: ModelCase) -> None:
    head = attempt("cam_head()", case.module.cam_head)
    expect(isinstance(head, CamHead), f"cam_head() returned {type(head).__name__}, expected a CamHead")
    with torch.no_grad():
        features = attempt("cam_head().features(windows)", head.features, case.windows)
    expect(isinstance(features, torch.Tensor) and features.dim() == 4,
           f"cam_head().features gives {getattr(features, 'shape', type(features).__name__)}, expected (N, K, h, w)")
    expected = (case.batch.shape[1], features.shape[1])
    expect(tuple(head.weight.shape) == expected, f"cam_head().weight is {tuple(head.weight.shape)}, expected "
                                                 f"(classes, K) = {expected}")
    bias = case.batch - features.mean(dim=(2, 3)) @ head.weight.detach().T  # the same row for every window
    diff, allowed = difference(bias, bias[:1].expand_as(bias))
    expect(diff <= max(allowed, TOLERANCE * float(case.batch.abs().max())),
           f"the logits are not the dense weights times the pooled features plus a constant (max |diff| {diff:.3g})")


@rule("model", "no-state-leak",
      "forward passes leave the module as found (training flags, requires_grad, parameters and buffers, hooks), and "
      "the same windows before and after others give the same logits")
def _model_no_state_leak(case: ModelCase) -> None:
    case.module.eval()
    before = ModelState.of(case.module)
    case.forward(case.windows[-1:] + 5.0)
    expect_unchanged(case.module, before, "after a forward pass")
    diff, allowed = difference(case.first, case.forward(case.windows[:1]))
    expect(diff <= allowed, f"window 0 before and after another gives different logits (max |diff| {diff:.3g})")


@rule("model", "weights",
      "each shipped weights file loads into build(config) from the JSON beside it, names this model (if it names one) "
      "and gives one finite output per listed class")
def _model_weights(case: ModelCase) -> None:
    from specinterp import weights

    shipped = case.plugin.weights()
    if not shipped:
        raise NotApplicable("ships no weights")
    for variant, path in shipped.items():
        module, document = attempt(f"loading weights '{variant}'", weights.load, Path(path), case.plugin.build)
        expect(document.get("model", case.plugin.name) == case.plugin.name,
               f"weights '{variant}' name model '{document.get('model')}'")
        frontend = attempt(f"the front end of weights '{variant}'", FrontendConfig.from_dict,
                           {**case.plugin.default_frontend(), **document.get("frontend", {})})
        attempt(f"one window through weights '{variant}'", weights.check_outputs, module, case.plugin.name,
                tuple(document["classes"]), frontend, Path(path))


def check_model(plugin: ModelPlugin | str, *, seed: int = 0) -> Report:
    """Check a model plugin against the model contract (:func:`rules` ``("model")``): a module built from its
    default config with seeded random weights, on seeded windows of its front end, and each shipped weights file.

    Parameters
    ----------
    plugin : ModelPlugin or str
        The plugin, or its registered name.
    seed : int, default 0
        Seeds the weights, the windows and torch / numpy / ``random``.

    Returns
    -------
    Report

    Raises
    ------
    ConformanceError
        At the first rule broken, its message naming the rule.
    """
    plugin = _lookup("models", plugin)
    return _run("model", f"model '{getattr(plugin, 'name', type(plugin).__name__)}'", ModelCase(plugin, seed))


# ---------------------------------------------------------------- renderers

@dataclass
class Rendering:
    """What one render call returned and what it did to the sandbox outside ``out_dir``."""

    out_dir: Path
    returned: Any
    outside: list[str]


def _files(root: Path, skip: Path | None = None) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` (except under ``skip``) -> (size, mtime ns), by path relative to ``root``."""
    found = {}
    for folder, dirs, names in os.walk(root):
        if skip is not None and Path(folder) == skip:
            dirs[:] = []
            continue
        for name in names:
            path = Path(folder) / name
            stat = path.lstat()
            found[str(path.relative_to(root))] = (stat.st_size, stat.st_mtime_ns)
    return found


@contextmanager
def _sandboxed(cwd: Path, tmp: Path) -> Iterator[None]:
    """The working folder and the temporary folder (``tempfile`` and ``$TMPDIR``) moved for the block."""
    saved = (Path.cwd(), tempfile.tempdir, os.environ.get("TMPDIR"))
    os.chdir(cwd)
    tempfile.tempdir = str(tmp)
    os.environ["TMPDIR"] = str(tmp)
    try:
        yield
    finally:
        os.chdir(saved[0])
        tempfile.tempdir = saved[1]
        if saved[2] is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved[2]


@dataclass
class RendererCase:
    """One renderer, a sandbox (input, working and temporary folders, output folders) and an explanation."""

    renderer: Renderer
    root: Path
    explanation: Explanation | None
    seed: int
    renders: int = 0

    def __post_init__(self) -> None:
        for folder in ("input", "cwd", "tmp"):
            (self.root / folder).mkdir()
        if self.explanation is None:
            self.explanation = sample_explanation(self.root / "input", seed=self.seed)

    def render(self, **options: Any) -> Rendering:
        """Render into a new ``out<k>`` folder in the sandbox; note any file added, changed or removed outside it."""
        self.renders += 1
        out_dir = self.root / f"out{self.renders}"
        out_dir.mkdir()
        before = _files(self.root, skip=out_dir)
        with _sandboxed(self.root / "cwd", self.root / "tmp"):
            seed_everything(self.seed)
            returned = attempt("render(explanation, out_dir)", self.renderer.render, self.explanation, out_dir,
                               **options)
        after = _files(self.root, skip=out_dir)
        outside = sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))
        return Rendering(out_dir, returned, outside)

    @functools.cached_property
    def first(self) -> Rendering:
        return self.render()

    def names(self, rendering: Rendering) -> list[str]:
        return sorted(str(p.relative_to(rendering.out_dir)) for p in rendering.out_dir.rglob("*") if p.is_file())


@rule("renderer", "declarations",
      "name is a non-empty string; suffix a string starting with '.'; description a string; options a mapping of "
      "option names to defaults; covers a set of renderer names")
def _renderer_declarations(case: RendererCase) -> None:
    r = case.renderer
    expect(isinstance(r, Renderer), f"is a {type(r).__name__}, not a specinterp.interfaces.Renderer")
    expect(isinstance(r.name, str) and bool(r.name), f"name is {r.name!r}, expected a non-empty string")
    expect(isinstance(r.suffix, str) and r.suffix.startswith("."), f"suffix is {r.suffix!r}, expected e.g. '.png'")
    expect(isinstance(r.description, str), f"description is {type(r.description).__name__}, expected a string")
    expect(isinstance(r.options, Mapping) and all(isinstance(k, str) for k in r.options),
           f"options is {r.options!r}, expected a mapping of option names to their defaults")
    expect(isinstance(r.covers, (set, frozenset)) and all(isinstance(c, str) for c in r.covers),
           f"covers is {r.covers!r}, expected a frozenset of renderer names")


@rule("renderer", "writes-files",
      "render(explanation, out_dir) returns the paths it wrote: at least one, one ending in its suffix, each a "
      "non-empty file inside out_dir; and every file in out_dir is among them (no temporary file left)")
def _renderer_writes_files(case: RendererCase) -> None:
    rendering = case.first
    returned = rendering.returned
    expect(isinstance(returned, (list, tuple)) and len(returned) > 0,
           f"render returned {returned!r:.80}, expected a non-empty list of the paths it wrote")
    out_dir = rendering.out_dir.resolve()
    paths = [Path(p).resolve() for p in returned]
    for path in paths:
        expect(path.is_relative_to(out_dir), f"render returned {path}, outside out_dir {out_dir}")
        expect(path.is_file() and path.stat().st_size > 0,
               f"render returned {path.name}, which is not a non-empty file")
    expect(any(p.name.endswith(case.renderer.suffix) for p in paths),
           f"none of the files returned ({', '.join(p.name for p in paths)}) ends with suffix '{case.renderer.suffix}'")
    unreported = sorted(set(case.names(rendering)) - {str(p.relative_to(out_dir)) for p in paths})
    expect(not unreported, f"render wrote {', '.join(unreported[:3])} in out_dir without returning it")


@rule("renderer", "nothing-outside-out-dir",
      "render adds, changes or removes no file outside out_dir: not beside the input, in the working folder, in the "
      "temporary folder, or beside out_dir")
def _renderer_nothing_outside(case: RendererCase) -> None:
    outside = case.first.outside
    expect(not outside, f"render touched {', '.join(outside[:3])}{' and more' if len(outside) > 3 else ''} outside "
                        f"out_dir (sandbox {case.root})")


@rule("renderer", "determinism", "the same explanation rendered twice gives the same file names")
def _renderer_determinism(case: RendererCase) -> None:
    first, again = case.names(case.first), case.names(case.render())
    expect(first == again, f"rendered twice, it wrote {again}, then {first}")


@rule("renderer", "declared-options",
      "render accepts every declared option given its default value, and writes the same file names")
def _renderer_declared_options(case: RendererCase) -> None:
    if not case.renderer.options:
        raise NotApplicable("declares no options")
    rendering = case.render(**case.renderer.options)
    expect(case.names(rendering) == case.names(case.first),
           f"with every declared option at its default it wrote {case.names(rendering)}, not {case.names(case.first)}")


@rule("renderer", "no-state-leak",
      "render leaves the explanation as found (maps, spectrogram, waveform, prediction, options)")
def _renderer_no_state_leak(case: RendererCase) -> None:
    explanation = case.explanation
    before = copy.deepcopy((explanation.maps, explanation.spectrogram, np.asarray(explanation.waveform[:]),
                            explanation.prediction, explanation.options))
    case.render()
    after = (explanation.maps, explanation.spectrogram, np.asarray(explanation.waveform[:]), explanation.prediction,
             explanation.options)
    names = ("maps", "spectrogram", "waveform", "prediction", "options")
    for name, was, now in zip(names, before, after, strict=True):
        expect(_same_value(was, now), f"render changed the explanation's {name}")


def _same_value(a: Any, b: Any) -> bool:
    """Equal, arrays compared element by element, containers and dataclasses field by field."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape and bool(
            np.array_equal(a, b, equal_nan=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_value(a[k], b[k]) for k in a)
    if hasattr(a, "__dataclass_fields__") and type(a) is type(b):
        return all(_same_value(getattr(a, f), getattr(b, f)) for f in a.__dataclass_fields__)
    return bool(a == b)


def check_renderer(renderer: Renderer | str, explanation: Explanation | None = None, *, seed: int = 0) -> Report:
    """Check a renderer against the renderer contract (:func:`rules` ``("renderer")``), rendering in a sandbox.

    Parameters
    ----------
    renderer : Renderer or str
        The renderer, or its registered name.
    explanation : Explanation or None
        What to render; default: two seconds of seeded tones with one smooth map (:func:`sample_explanation`),
        its input file in the sandbox.
    seed : int, default 0
        Seeds the explanation and torch / numpy / ``random``.

    Returns
    -------
    Report

    Raises
    ------
    ConformanceError
        At the first rule broken, its message naming the rule.
    """
    renderer = _lookup("renderers", renderer)
    with tempfile.TemporaryDirectory(prefix="specinterp-conformance-") as folder:
        case = RendererCase(renderer, Path(folder).resolve(), explanation, seed)
        return _run("renderer", f"renderer '{getattr(renderer, 'name', type(renderer).__name__)}'", case)


# ---------------------------------------------------------------- datasets

@dataclass
class DatasetCase:
    plugin: DatasetPlugin
    root: Path
    seed: int
    dataset: Dataset | None = None

    @functools.cached_property
    def clips(self) -> list[Clip]:
        return attempt("clips()", self.dataset.clips)


@rule("dataset", "declarations",
      "a DatasetPlugin: name a non-empty string, open a callable, description a string, env_var None or a string")
def _dataset_declarations(case: DatasetCase) -> None:
    p = case.plugin
    expect(isinstance(p, DatasetPlugin), f"is a {type(p).__name__}, not a specinterp.interfaces.DatasetPlugin")
    expect(isinstance(p.name, str) and bool(p.name), f"name is {p.name!r}, expected a non-empty string")
    expect(callable(p.open), "open is not callable")
    expect(isinstance(p.description, str), f"description is {type(p.description).__name__}, expected a string")
    expect(p.env_var is None or isinstance(p.env_var, str), f"env_var is {p.env_var!r}, expected None or a string")


@rule("dataset", "opens",
      "open(root) returns a Dataset whose classes are unique non-empty strings")
def _dataset_opens(case: DatasetCase) -> None:
    dataset = attempt(f"open({case.root})", case.plugin.open, case.root)
    expect(isinstance(dataset, Dataset), f"open returned {type(dataset).__name__}, not a specinterp.interfaces.Dataset")
    case.dataset = dataset
    classes = dataset.classes
    expect(isinstance(classes, (tuple, list)) and bool(classes) and all(isinstance(c, str) and c for c in classes),
           f"classes is {classes!r:.80}, expected a tuple of non-empty strings")
    expect(len(set(classes)) == len(classes), "classes names one class twice")


@rule("dataset", "clips",
      "clips() is a non-empty list of Clip with unique string ids and labels in range(len(classes)), the same at "
      "each call")
def _dataset_clips(case: DatasetCase) -> None:
    clips = case.clips
    expect(isinstance(clips, list) and bool(clips),
           f"clips() returned {clips!r:.80}, expected a non-empty list of Clip")
    for clip in clips:
        expect(isinstance(clip, Clip), f"clips() holds a {type(clip).__name__}, not a Clip")
        expect(isinstance(clip.id, str) and bool(clip.id), f"clip id {clip.id!r} is not a non-empty string")
        expect(isinstance(clip.label, int) and 0 <= clip.label < len(case.dataset.classes),
               f"clip '{clip.id}' has label {clip.label!r}, expected an int in 0..{len(case.dataset.classes) - 1}")
    ids = [clip.id for clip in clips]
    expect(len(set(ids)) == len(ids), "clips() lists a clip id twice")
    expect([c.id for c in attempt("clips()", case.dataset.clips)] == ids, "clips() called twice lists other clips")


@rule("dataset", "clips-exist", "every clip's path is an existing file")
def _dataset_clips_exist(case: DatasetCase) -> None:
    missing = [clip for clip in case.clips if not Path(clip.path).is_file()]
    expect(not missing, f"{len(missing)} of {len(case.clips)} clips have no file, e.g. '{missing[0].id}' at "
                        f"{missing[0].path}" if missing else "")


@rule("dataset", "clips-readable", "the first clip decodes to finite mono samples")
def _dataset_clips_readable(case: DatasetCase) -> None:
    from specinterp import audio

    clip = case.clips[0]
    samples = attempt(f"decoding clip '{clip.id}'", audio.load, clip.path)
    expect(samples.size > 0 and bool(np.isfinite(samples).all()),
           f"clip '{clip.id}' decodes to no or non-finite samples")


@rule("dataset", "splits",
      "split_names() is a non-empty tuple of strings; each split(name, seed) returns a Split whose parts hold clips "
      "of clips() only, none in two parts (clip-level)")
def _dataset_splits(case: DatasetCase) -> None:
    names = attempt("split_names()", case.dataset.split_names)
    expect(isinstance(names, (tuple, list)) and bool(names) and all(isinstance(n, str) for n in names),
           f"split_names() returned {names!r:.80}, expected a non-empty tuple of strings")
    known = {clip.id for clip in case.clips}
    for name in names:
        split = attempt(f"split('{name}')", case.dataset.split, name, seed=case.seed)
        expect(isinstance(split, Split), f"split('{name}') returned {type(split).__name__}, not a Split")
        seen: dict[str, str] = {}
        for part, clips in split.parts.items():
            for clip in clips:
                expect(clip.id in known,
                       f"split('{name}') part '{part}' holds '{clip.id}', which clips() does not list")
                expect(seen.setdefault(clip.id, part) == part,
                       f"split('{name}') puts clip '{clip.id}' in parts '{seen[clip.id]}' and '{part}'")


@rule("dataset", "determinism", "split(name, seed) twice with one seed gives the same parts")
def _dataset_determinism(case: DatasetCase) -> None:
    for name in case.dataset.split_names():
        first, again = (case.dataset.split(name, seed=case.seed).digest() for _ in range(2))
        expect(first == again, f"split('{name}', seed={case.seed}) twice gives other parts ({first} then {again})")


@rule("dataset", "one-line-errors",
      "an unknown split name, and open() of an empty folder, raise SpecinterpError or ValueError with a one-line "
      "message (or the empty folder opens)")
def _dataset_one_line_errors(case: DatasetCase) -> None:
    expect_one_line_error("split('conformance-no-such-split')", lambda: case.dataset.split("conformance-no-such-split"),
                          (SpecinterpError, ValueError))
    with tempfile.TemporaryDirectory(prefix="specinterp-conformance-empty-") as empty:
        try:
            case.plugin.open(Path(empty))
        except (SpecinterpError, ValueError) as exc:
            expect("\n" not in str(exc).strip(), f"open() of an empty folder raised a message of several lines: "
                                                 f"{str(exc)!r}")
        except Exception as exc:
            raise Broken(f"open() of an empty folder raised {one_line(exc)}, expected SpecinterpError or ValueError "
                         f"with a one-line message") from exc


@rule("dataset", "truth",
      "truth(clip, config, frames) is None, or two boolean masks (n_mels, frames): the true relevance and the "
      "distractors")
def _dataset_truth(case: DatasetCase) -> None:
    clip, frames = case.clips[0], 64
    masks = attempt(f"truth('{clip.id}')", case.dataset.truth, clip, DEFAULT, frames)
    if masks is None:
        raise NotApplicable("truth() returns None: the dataset knows no truth")
    expect(isinstance(masks, tuple) and len(masks) == 2, f"truth() returned {type(masks).__name__}, expected "
                                                         f"(relevance, distractors)")
    for label, mask in zip(("relevance", "distractors"), masks, strict=True):
        expect(isinstance(mask, np.ndarray) and mask.dtype == bool and mask.shape == (DEFAULT.n_mels, frames),
               f"truth()'s {label} is {getattr(mask, 'dtype', type(mask).__name__)} "
               f"{getattr(mask, 'shape', '')}, expected bool ({DEFAULT.n_mels}, {frames})")


def check_dataset(plugin: DatasetPlugin | str, root: str | Path, *, seed: int = 0) -> Report:
    """Check a dataset plugin against the dataset contract (:func:`rules` ``("dataset")``), opened at ``root``.

    Parameters
    ----------
    plugin : DatasetPlugin or str
        The plugin, or its registered name.
    root : path
        A folder holding the dataset (a small copy is enough: the rules read every clip's path, decode one).
    seed : int, default 0
        The seed of the splits.

    Returns
    -------
    Report

    Raises
    ------
    ConformanceError
        At the first rule broken, its message naming the rule.
    """
    plugin = _lookup("datasets", plugin)
    return _run("dataset", f"dataset '{getattr(plugin, 'name', type(plugin).__name__)}'",
                DatasetCase(plugin, Path(root), seed))


# ---------------------------------------------------------------- by name

CHECKS: dict[str, Callable[..., Report]] = {
    "models": check_model, "explainers": check_explainer, "renderers": check_renderer, "datasets": check_dataset,
}


def check_plugin(name: str, *, root: str | Path | None = None, model: str | LoadedModel | nn.Module | None = None,
                 options: Mapping[str, Any] | None = None) -> list[Report]:
    """Check a registered plugin by name: a model, explainer, renderer or dataset name, or a distribution
    (``"specinterp-loudness"``), whose every model, explainer, renderer and dataset is checked.

    ``root`` is the folder a dataset is opened at (needed for datasets); ``model`` and ``options`` go to
    :func:`check_explainer`. Returns one :class:`Report` per plugin checked; raises :class:`ConformanceError` at
    the first rule broken, and :class:`~specinterp.interfaces.SpecinterpError` for a name nothing registers.
    """
    from specinterp.plugins import normalize, registry

    reg = registry()
    found = [(kind, name) for kind in CHECKS if name in getattr(reg, kind)]
    if not found:
        found = [(kind, item) for (kind, item), info in reg.providers.items()
                 if kind in CHECKS and info.distribution and normalize(info.distribution) == normalize(name)]
    if not found:
        raise SpecinterpError(f"no model, explainer, renderer, dataset or distribution named '{name}'")
    reports = []
    for kind, item in found:
        if kind == "datasets":
            if root is None:
                raise ValueError(f"dataset '{item}' is checked at a folder: pass root=...")
            reports.append(check_dataset(item, root))
        elif kind == "explainers":
            reports.append(check_explainer(item, model, options=options))
        else:
            reports.append(CHECKS[kind](item))
    return reports
