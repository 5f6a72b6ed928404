"""The contracts between the core and its plugins, and the values they exchange.

Shapes used throughout: a *window* batch is ``(N, 1, n_mels, frames)`` log-mel (dB); a per-window map
is ``(N, n_mels, frames)`` on the same grid; a song-level map is ``(n_mels, T)`` in [0, 1].
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

if TYPE_CHECKING:  # keep `import specinterp.interfaces` free of torch for the fast CLI
    import numpy as np
    import torch
    from torch import nn

    from specinterp.assessment import Case
    from specinterp.frontend import FrontendConfig
    from specinterp.samples import Samples


class SpecinterpError(Exception):
    """An error meant for the user: printed as one line, never as a traceback."""


class IncompatibleExplainer(SpecinterpError):
    """A model lacks what an explainer requires."""


def one_line(text: str) -> str:
    """``text`` with its line breaks (and the spaces around them) as single spaces, ends stripped."""
    import re

    return re.sub(r"\s*\n\s*", " ", text.strip())


@contextmanager
def plugin_errors(who: str) -> Iterator[None]:
    """The one place where a plugin's error becomes the user's: a ``ValueError`` raised inside the
    block (plugins raise it for a bad option, value or layer) becomes a one-line
    :class:`SpecinterpError` naming ``who``, e.g. ``explainer 'gradcam' on model 'camcnn'``; any other
    exception is the plugin's own fault and passes through (a batch names the plugin it came from)."""
    try:
        yield
    except SpecinterpError:
        raise
    except ValueError as exc:
        raise SpecinterpError(f"{who}: {one_line(str(exc))}") from None


# ---------------------------------------------------------------- models

@dataclass(frozen=True)
class CamHead:
    """What class activation maps need from a model with a GAP + single dense head.

    ``features(windows)`` returns the maps ``(N, K, h, w)`` that feed global average pooling and
    ``weight`` is the dense layer's ``(classes, K)`` matrix, so ``CAM_c = sum_k weight[c, k] A_k``.
    """

    features: Callable[[torch.Tensor], torch.Tensor]
    weight: torch.Tensor


@runtime_checkable
class ExplainableModel(Protocol):
    """The model contract: what an explainer may ask of a model's ``nn.Module``.

    The module maps windows ``(N, 1, n_mels, frames)`` (the front end's output, see
    :class:`specinterp.frontend.FrontendConfig`) to logits ``(N, classes)``: softmax logits for a
    single-label model, sigmoid logits for a multi-label (tagging) model. Besides ``forward`` it
    exposes:

    explainable_layers : Mapping[str, nn.Module]
        Public layer name -> submodule whose output is a map ``(N, C, h, w)`` on the window's grid
        (``h`` along mel bands, ``w`` along frames). By convention ``features`` names the last
        convolutional map; the study's models also name ``conv1``, ``conv2``, ...
    capabilities : frozenset[str]
        What explainers may require: ``"gradients"`` (differentiable end to end),
        ``"gap-linear-head"`` (global average pooling then one dense layer; :meth:`cam_head` works).
    multilabel : bool
        ``True`` for sigmoid outputs (tags), ``False`` (the default when absent) for softmax outputs.
    cam_head() -> CamHead
        Only for models with ``"gap-linear-head"``: the maps before pooling and the dense weights.
        CAM uses it instead of reaching into the model's attributes.

    A plain ``nn.Module`` without these attributes can still be explained:
    ``specinterp.explain(audio, model=module, frontend=..., classes=...)`` wraps it in
    :class:`specinterp.models.UserModel`, which derives ``explainable_layers`` from its submodules.
    """

    explainable_layers: Mapping[str, nn.Module]
    capabilities: frozenset[str]

    def __call__(self, windows: torch.Tensor) -> torch.Tensor: ...


def is_multilabel(model: Any) -> bool:
    """Whether ``model`` declares sigmoid (tag) outputs; absent means single-label."""
    return bool(getattr(model, "multilabel", False))


class ModelPlugin(ABC):
    """A named family of spectrogram classifiers or taggers.

    ``build(config)`` returns an ``nn.Module`` that follows :class:`ExplainableModel`. The model's
    front end (sample rate, STFT, mel scale, log, window length) is declared by
    :meth:`default_frontend` and may be overridden per weights file by the JSON beside it (its
    ``"frontend"`` key): the core computes spectrograms, windows, axes and audio on that grid.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    default_variant: ClassVar[str | None] = None  # shipped weights used when none are named (None: the first)

    @abstractmethod
    def build(self, config: Mapping[str, Any]) -> nn.Module:
        """Construct an untrained module from a JSON-able config."""

    @abstractmethod
    def default_config(self) -> dict[str, Any]:
        """The config used when none is given (JSON-able)."""

    def default_frontend(self) -> dict[str, Any]:
        """Front-end fields (:class:`specinterp.frontend.FrontendConfig`) that differ from the study's
        22050 Hz / n_fft 2048 / hop 512 / 128 mels / dB / 128-frame windows. Empty: the study's."""
        return {}

    def weights(self) -> dict[str, Path]:
        """Shipped ``.safetensors`` files by variant, the variant naming the data the weights were
        trained on (their config is the ``.json`` beside each). May be empty."""
        return {}


# ---------------------------------------------------------------- explainers

class Explainer(ABC):
    """One explanation method with one verb, as Captum's ``attribute``.

    ``requires`` names model capabilities (see :class:`ExplainableModel`) or layers
    (``"layer:conv2"``) that must be present; :meth:`check` enforces them before anything runs.
    ``options`` declares every keyword option the method takes, with its default: :meth:`explain`
    (the core's entry point) checks them once with :meth:`resolve_options`, rejecting others and
    filling in the defaults, then calls :meth:`attribute`, the one method a subclass writes.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    requires: ClassVar[frozenset[str]] = frozenset()
    options: ClassVar[Mapping[str, Any]] = {}  # keyword options ``explain`` takes, with their defaults
    shared_scale: ClassVar[bool] = False  # True: all maps of one song share one min/max (comparable maps)

    def check(self, model: nn.Module, model_name: str) -> None:
        """Raise :class:`IncompatibleExplainer`, naming model and explainer, if a need is unmet."""
        have = set(getattr(model, "capabilities", ())) | {
            f"layer:{name}" for name in getattr(model, "explainable_layers", {})
        }
        missing = sorted(self.requires - have)
        if missing:
            raise IncompatibleExplainer(
                f"explainer '{self.name}' cannot explain model '{model_name}': "
                f"the model lacks {', '.join(missing)}"
            )

    def resolve_options(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """The declared defaults updated by ``given``; ``ValueError`` naming any undeclared option."""
        unknown = [key for key in given if key not in self.options]
        if unknown:
            takes = f"takes {', '.join(self.options)}" if self.options else "takes no options"
            raise ValueError(f"unknown option {', '.join(map(repr, unknown))} ({takes})")
        return {**self.options, **given}

    def explain(
        self, model: nn.Module, windows: torch.Tensor, target: torch.Tensor, **options: Any
    ) -> dict[str, torch.Tensor]:
        """Maps per window for a target class per window; the core's entry point.

        Parameters
        ----------
        model : nn.Module
            Follows :class:`ExplainableModel`.
        windows : torch.Tensor [shape=(N, 1, n_mels, frames)]
            Log-mel windows as the model's front end makes them.
        target : torch.Tensor [shape=(N,), dtype=int64]
            The class to explain in each window.
        **options
            Any of the declared :attr:`options`; the others keep their defaults.

        Returns
        -------
        dict of str to torch.Tensor [shape=(N, n_mels, frames)]
            :meth:`attribute`'s maps.

        Raises
        ------
        ValueError
            An undeclared option (:meth:`resolve_options`), or a value :meth:`attribute` cannot use.
        """
        return self.attribute(model, windows, target, **self.resolve_options(options))

    @abstractmethod
    def attribute(
        self, model: nn.Module, windows: torch.Tensor, target: torch.Tensor, **options: Any
    ) -> dict[str, torch.Tensor]:
        """Maps per window: ``{map name: (N, n_mels, frames)}`` for target class per window ``(N,)``.

        Called by :meth:`explain` with every declared option (defaults filled in); a ``layer`` option
        may be a name from ``explainable_layers`` or the submodule itself
        (:func:`specinterp.explaining.find_layer` takes both). Raise ``ValueError`` for a value the
        method cannot use. :mod:`specinterp.explaining` holds the helpers the built-ins use.
        """

    def describe(self, explanation: Explanation) -> str:
        """An optional one-paragraph answer in words, from the song-level maps ('' for none)."""
        return ""


# ---------------------------------------------------------------- datasets

@dataclass(frozen=True)
class Clip:
    """One labelled recording of a dataset."""

    id: str  # stable identifier, e.g. "rock/rock.00005"
    path: Path
    label: int


class Dataset(ABC):
    """Labelled clips and named clip-level splits (never window-level)."""

    name: ClassVar[str]
    classes: tuple[str, ...]

    @abstractmethod
    def clips(self) -> list[Clip]:
        """Every clip present."""

    @abstractmethod
    def split_names(self) -> tuple[str, ...]:
        """Names accepted by :meth:`split`."""

    @abstractmethod
    def split(self, name: str, seed: int = 0) -> Split:
        """Partition of the clips present into train / valid / test."""

    def truth(self, clip: Clip, config: FrontendConfig, frames: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Where the class-deciding events of ``clip`` are, for datasets that know (``None``: unknown).

        Returns two boolean masks ``(n_mels, frames)`` on ``config``'s log-mel grid of the whole clip:
        the true relevance (cells of the events that decide the class) and the distractors (events
        that do not). ``specinterp assess`` scores explanations against them.
        """
        return None


@dataclass(frozen=True)
class DatasetPlugin:
    """Registers a dataset: a name and a factory that opens it at a folder."""

    name: str
    open: Callable[[Path], Dataset]
    description: str = ""
    env_var: str | None = None  # where --data is looked up when not given


@dataclass
class Split:
    """A clip-level partition; ``missing`` counts listed clips absent from this copy."""

    name: str
    parts: dict[str, list[Clip]]
    missing: dict[str, int] = field(default_factory=dict)

    def digest(self) -> str:
        """A short hash of the clip ids in each part, to tell two splits apart."""
        import hashlib

        text = "\n".join(f"{part}\t{clip.id}" for part, clips in sorted(self.parts.items()) for clip in clips)
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def describe(self) -> str:
        """``split random [digest]: train 417, valid 67, test 67`` and any listed clips absent from this copy."""
        counts = ", ".join(f"{part} {len(clips)}" for part, clips in self.parts.items())
        missed = sum(self.missing.values())
        extra = f" ({missed} listed clips absent from this copy: " + ", ".join(
            f"{p} {n}" for p, n in self.missing.items()) + ")" if missed else ""
        return f"split {self.name} [{self.digest()}]: {counts}{extra}"

    def write(self, folder: Path) -> list[Path]:
        """One clip-id list per part (``train.txt`` ...); return the paths."""
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for part, clips in self.parts.items():
            path = folder / f"{part}.txt"
            path.write_text("".join(f"{c.id}\n" for c in clips))
            paths.append(path)
        return paths


# ---------------------------------------------------------------- results

@dataclass
class Prediction:
    """Song-level probabilities and the per-window timeline behind them.

    Single-label models (genres): ``probabilities`` is the softmax of the mean window
    log-probabilities and sums to 1. Multi-label models (tags): ``probabilities`` is the mean of the
    window sigmoid probabilities, one independent probability per tag (as musicnn averages its taggram).
    """

    classes: tuple[str, ...]
    probabilities: np.ndarray  # (C,)
    window_probabilities: np.ndarray  # (N, C): softmax or sigmoid per window (the taggram when multi-label)
    window_starts: np.ndarray  # (N,) seconds
    multilabel: bool = False
    warning: str = ""  # a caution to show beside the prediction (e.g. the input is silent), '' for none

    @property
    def index(self) -> int:
        return int(self.probabilities.argmax())

    @property
    def label(self) -> str:
        """The most probable class (genre) or tag."""
        return self.classes[self.index]

    @property
    def genre(self) -> str:
        """The predicted genre (an alias of :attr:`label`)."""
        return self.label

    def top(self, k: int = 3) -> list[tuple[str, float]]:
        """The ``k`` most probable classes or tags with their probabilities, best first."""
        order = self.probabilities.argsort(kind="stable")[::-1][:k]
        return [(self.classes[i], float(self.probabilities[i])) for i in order]

    def timeline(self) -> list[tuple[float, str, float]]:
        """(start seconds, top class, its probability) per window."""
        best = self.window_probabilities.argmax(axis=1)
        return [
            (float(t), self.classes[i], float(p[i]))
            for t, i, p in zip(self.window_starts, best, self.window_probabilities, strict=True)
        ]

    def taggram(self, k: int = 10) -> tuple[list[str], np.ndarray]:
        """The song's top ``k`` classes and their probability per window ``(k, N)``, best first."""
        order = self.probabilities.argsort(kind="stable")[::-1][:k]
        return [self.classes[i] for i in order], self.window_probabilities[:, order].T


@dataclass
class Explanation:
    """What one explainer found in one song, with everything needed to render it."""

    source: str  # file path, or a label for an in-memory waveform
    model: str
    explainer: str
    target: int
    prediction: Prediction
    spectrogram: np.ndarray  # (n_mels, T) log-mel on the model's front end
    maps: dict[str, np.ndarray]  # name -> (n_mels, T) in [0, 1], normalized per song
    waveform: Samples  # mono float32 at the front end's rate: an array, or for long songs on disk (slices alike)
    frontend: FrontendConfig  # the model's front end: grid, axes and inversion
    command: str = ""
    summary: str = ""  # the explainer's answer in words, if it gives one
    weights: str = ""  # the model's weights file, when known
    options: dict[str, Any] = field(default_factory=dict)  # the explainer options used

    @property
    def sample_rate(self) -> int:
        return self.frontend.sample_rate

    @property
    def hop_length(self) -> int:
        return self.frontend.hop_length

    @property
    def target_name(self) -> str:
        return self.prediction.classes[self.target]

    @property
    def stem(self) -> str:
        return Path(self.source).stem

    def save(self, out_dir: str | Path, renderers: tuple[str, ...] = ("png", "wav", "html")) -> list[Path]:
        """Write the explanation with the named renderers, as ``specinterp explain`` does; return the paths."""
        from specinterp.rendering import render

        return render(self, out_dir, renderers)

    def to_png(self) -> bytes:
        """The PNG renderer's figure, as PNG bytes."""
        from specinterp_plugins.renderers.png import png_bytes

        return png_bytes(self)

    def _repr_png_(self) -> bytes:
        return self.to_png()

    def _repr_html_(self) -> str:
        """The report as an inline fragment; long songs' players hold an excerpt from the start."""
        from specinterp_plugins.renderers.html import notebook_html

        return notebook_html(self)


# ---------------------------------------------------------------- metrics

class Metric(ABC):
    """One measure of how far an explanation can be trusted, computed per clip by ``specinterp assess``.

    :meth:`measure` gets a :class:`specinterp.assessment.Case`: one explainer's relevance map of one
    window of one clip, with the model, the window, its audio, the target and runner-up classes and,
    on datasets that know it, the true relevance. It returns named values: a ``float`` is a number of
    the table (averaged over clips, with a bootstrap interval), a list of floats is a curve (averaged
    and plotted). ``better`` says, per value name, whether ``"higher"`` or ``"lower"`` is better.
    """

    name: ClassVar[str]
    description: ClassVar[str] = ""
    source: ClassVar[str] = ""  # the paper that defines the measure
    needs_truth: ClassVar[bool] = False  # True: only on datasets with true relevance masks
    better: ClassVar[Mapping[str, str]] = {}  # value name -> "higher" or "lower"

    @abstractmethod
    def measure(self, case: Case) -> dict[str, float | list[float]]:
        """Values for one clip: floats for the table, lists of floats for curves."""


# ---------------------------------------------------------------- renderers

class Renderer(ABC):
    """Turns an explanation into files."""

    name: ClassVar[str]
    suffix: ClassVar[str]
    description: ClassVar[str] = ""
    options: ClassVar[Mapping[str, Any]] = {}  # keyword options ``render`` takes, with their defaults
    covers: ClassVar[frozenset[str]] = frozenset()  # renderers whose files this one writes as well

    @abstractmethod
    def render(self, explanation: Explanation, out_dir: Path, **options: Any) -> list[Path]:
        """Write files under ``out_dir`` (atomically) and return their paths."""

