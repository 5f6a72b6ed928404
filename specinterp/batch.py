"""A batch for ``specinterp explain``: which files, what their outputs are called, and how they are placed.

Naming. A file given by name has its outputs in ``OUT``; a file found under a given folder has them
in the same sub-folder of ``OUT`` as it has under that folder (``music/albumA/01 Intro.wav`` ->
``OUT/albumA/01 Intro.cam.png``). Outputs begin with the input's stem; where two inputs of one run
would share a stem in one folder (``song.wav``, ``song.ogg``), each uses its whole name instead
(``song.wav.cam.png``, ``song.ogg.cam.png``), and where even those agree (the same name under two
given folders) a number follows (``x.wav.1``, ``x.wav.2``, in input order).

Scanning. Folders are searched recursively for audio suffixes, skipping hidden files and folders
(temporary ``.part`` files and the staging folder are hidden) and every file that a manifest
(:mod:`specinterp.outputs`) in the output folder or in the scanned tree lists as ours.

Explaining. A :class:`Request` (what was asked, plain values) builds a :class:`Producer` (the plugins
and the model, loaded once) in whichever process explains: the command's own, or each worker process
of :mod:`specinterp.parallel`. It explains and renders one input at a time into a staging slot.

Placing. Each input's files are rendered into a hidden staging folder under ``OUT`` and moved into
place only when all were written and none would replace an input of the run, a file written earlier
in the run, or an existing file (unless ``overwrite``, or ``resume`` and the manifest lists it as ours).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import traceback
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from specinterp.interfaces import SpecinterpError, one_line
from specinterp.outputs import TEMP_SUFFIX, Manifest, is_manifest

if TYPE_CHECKING:
    from specinterp.interfaces import Prediction

MAX_DETAIL = 300  # characters of an unexpected exception's message kept in its one-line reason


@dataclass(frozen=True)
class Item:
    """One input: the audio file, its outputs' folder relative to ``OUT``, and the stem their names begin with."""

    source: Path
    folder: Path
    stem: str


class Skipped(Exception):
    """An input left alone because its outputs exist; the message says which and what to do."""


def scan(inputs: Sequence[Path], out: Path) -> tuple[list[Item], list[tuple[Path, str]]]:
    """The files to explain, named, each once; and a one-line problem per input that gives none."""
    from specinterp.audio import AUDIO_SUFFIXES

    ours = Manifest(out).outputs()
    found: list[tuple[Path, Path]] = []
    problems: list[tuple[Path, str]] = []
    seen: set[Path] = set()
    several = sum(Path(given).is_dir() for given in inputs) > 1  # then each folder keeps its own name under OUT
    for given in map(Path, inputs):
        if given.is_dir():
            files, skipped = _audio_under(given, ours)
            if not files:
                extra = f"; {skipped} outputs of specinterp skipped" if skipped else ""
                looked = ", ".join(sorted(AUDIO_SUFFIXES))
                problems.append((given, f"no audio files in this folder (looked for {looked}{extra})"))
            top = Path(given.resolve().name) if several else Path()
            pairs = [(f, top / f.parent.relative_to(given)) for f in files]
        elif given.is_file():
            pairs = [(given, Path())]
        else:
            problems.append((given, "not a file or folder" if given.exists() else "no such file or folder"))
            continue
        for path, folder in pairs:
            if path.resolve() not in seen:
                seen.add(path.resolve())
                found.append((path, folder))
    return _named(found), problems


def _audio_under(root: Path, ours: set[Path]) -> tuple[list[Path], int]:
    """Audio files under ``root`` (hidden ones and those a manifest lists skipped), sorted; and how many
    listed outputs were skipped."""
    from specinterp.audio import AUDIO_SUFFIXES

    ours = set(ours)
    files: list[Path] = []
    skipped = 0
    for folder, dirs, names in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        if any(map(is_manifest, names)):
            ours |= Manifest(Path(folder)).outputs()
        for name in names:
            path = Path(folder) / name
            if name.startswith(".") or path.suffix.lower() not in AUDIO_SUFFIXES or not path.is_file():
                continue
            if path.resolve() in ours:
                skipped += 1
            else:
                files.append(path)
    return sorted(files), skipped


def _named(found: list[tuple[Path, Path]]) -> list[Item]:
    """Items with stems unique per output folder (case-insensitively): stem, else name, else name.N."""
    levels = [0] * len(found)
    while True:
        names = [_candidate(path, level) for (path, _), level in zip(found, levels, strict=True)]
        keys = [(folder.as_posix().casefold(), name.casefold()) for (_, folder), name in zip(found, names, strict=True)]
        counts = Counter(keys)
        clashing = [i for i, key in enumerate(keys) if counts[key] > 1 and levels[i] < 2]
        if not clashing:
            break
        for i in clashing:
            levels[i] += 1
    numbers: Counter = Counter()
    items = []
    for (path, folder), name, key, level in zip(found, names, keys, levels, strict=True):
        if level == 2 and counts[key] > 1:
            numbers[key] += 1
            name = f"{name}.{numbers[key]}"
        items.append(Item(path, folder, name))
    return items


def _candidate(path: Path, level: int) -> str:
    return path.stem if level == 0 else path.name


class Staging:
    """A hidden ``.part`` folder under ``OUT`` where each input's files are rendered before placing; removed on exit."""

    def __init__(self, out: Path):
        try:
            self.root = Path(tempfile.mkdtemp(dir=out, prefix=".specinterp-run-", suffix=TEMP_SUFFIX))
        except OSError as exc:
            raise SpecinterpError(f"--out {out}: cannot write in this folder ({exc.strerror or exc})") from None

    def __enter__(self) -> Staging:
        return self

    def __exit__(self, *_exc) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    @contextmanager
    def slot(self) -> Iterator[Path]:
        """An empty folder for one input's files; removed afterwards with whatever was not placed."""
        path = self.reserve()
        try:
            yield path
        finally:
            release(path)

    def reserve(self) -> Path:
        """An empty folder for one input's files, kept until :func:`release` (or the end of the run)."""
        return Path(tempfile.mkdtemp(dir=self.root))


def release(slot: Path) -> None:
    """Remove a staging slot with whatever was not placed."""
    shutil.rmtree(slot, ignore_errors=True)


def staged(slot: Path, returned: Sequence[Path]) -> list[Path]:
    """The files in ``slot``: those the renderers returned, in their order, then any others."""
    present = sorted(p for p in slot.rglob("*") if p.is_file())
    listed = [Path(p) for p in returned if Path(p) in present]
    return list(dict.fromkeys(listed + present))


class Placer:
    """Moves each input's staged files into ``OUT`` under the rules above and records them in the manifest
    (``rank``: this torchrun rank's own manifest file)."""

    def __init__(self, out: Path, items: Sequence[Item], overwrite: bool, resume: bool, rank: int | None = None):
        self.out = Path(out)
        self.manifest = Manifest(self.out, rank)
        self.ours = self.manifest.outputs()
        self.inputs = {item.source.resolve() for item in items}
        self.written: dict[Path, Path] = {}
        self.overwrite, self.resume = overwrite, resume

    def finished(self, item: Item, job: dict) -> bool:
        """Under ``resume``: the item was explained for this job, is unchanged, and all its outputs exist."""
        record = self.manifest.last(item.source, job)
        return bool(record) and self.manifest.unchanged(record, item.source) and all(
            p.exists() for p in self.manifest.paths(record))

    def earlier(self, item: Item, job: dict) -> list[Path]:
        """Outputs of an earlier run of this job on this item that still exist."""
        record = self.manifest.last(item.source, job)
        return [p for p in self.manifest.paths(record) if os.path.lexists(p)] if record else []

    def place(self, item: Item, files: Sequence[Path], slot: Path, job: dict) -> list[Path]:
        """Move ``files`` (under ``slot``) to their places; raise :class:`Skipped` or a one-line error instead."""
        moves = [(f, self.out / item.folder / f.relative_to(slot)) for f in files]
        existing = []
        for _, final in moves:
            key = final.resolve()
            if key in self.inputs:
                raise SpecinterpError(f"{item.source}: its output {final} is an input of this run; "
                                      "refusing to overwrite it (choose another --out)")
            if key in self.written:
                raise SpecinterpError(f"{item.source}: its output {final} was already written for "
                                      f"{self.written[key]} in this run")
            if os.path.lexists(final) and not (self.overwrite or (self.resume and key in self.ours)):
                existing.append(final)
        if existing:
            more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
            raise Skipped(f"{existing[0]} exists{more}; --overwrite replaces it")
        self.manifest.add(item.source, job, [final for _, final in moves])
        for source, final in moves:
            self.written[final.resolve()] = item.source
            try:
                final.parent.mkdir(parents=True, exist_ok=True)
                os.replace(source, final)
            except OSError as exc:
                raise SpecinterpError(f"{item.source}: cannot write {final} ({exc.strerror or exc})") from None
        return [final for _, final in moves]


@dataclass(frozen=True)
class Request:
    """What ``specinterp explain`` asks of every input, as plain values (it travels to worker processes)."""

    model: str
    weights: Path | None
    explainer: str
    target: str | None
    renderers: tuple[str, ...]
    complement: bool
    audio: str  # the HTML's players: "embed" or "link"
    hop: int | None
    options: dict
    max_duration: float
    command: str  # the command line, recorded in each report


@dataclass
class Produced:
    """One input explained and rendered into its slot: what is left to print and place."""

    files: list[Path]
    prediction: Prediction
    summary: str  # the explainer's answer in words, or ''
    seconds: float  # the input's duration


class Producer:
    """A request's plugins and model, loaded once; explains and renders one input at a time."""

    def __init__(self, request: Request):
        from specinterp import api
        from specinterp.plugins import registry

        drawers = [registry().get("renderers", name) for name in request.renderers]
        methods = [registry().get("explainers", name) for name in api.explainer_names(request.explainer)]
        self.loaded = api.load_model(request.model, request.weights)
        for method in methods:
            method.check(self.loaded.module, self.loaded.name)
        job = {"model": request.model, "weights": str(request.weights.resolve()) if request.weights else None,
               "target": request.target, "explainer": "+".join(m.name for m in methods), "render": request.renderers,
               "complement": request.complement, "audio": request.audio, "hop": request.hop,
               "options": request.options}
        self.job: dict = json.loads(json.dumps(job, default=str))  # what was asked, as the manifest reads it back
        self.culprits = {id(part): f"model '{self.loaded.name}'" for part in self.loaded.module.modules()}
        self.culprits |= {id(m): f"explainer '{m.name}'" for m in methods}
        self.culprits |= {id(r): f"renderer '{r.name}'" for r in drawers}
        self.request = request

    def produce(self, item: Item, slot: Path) -> Produced:
        """Explain ``item`` and render it into ``slot`` (named after its stem); exceptions pass through."""
        from specinterp import api

        asked = self.request
        explanation = api.explain(item.source, model=self.loaded, explainer=asked.explainer, target=asked.target,
                                  hop=asked.hop, options=asked.options, max_duration=asked.max_duration)
        explanation.command = asked.command
        written = api.render(explanation, slot, renderers=asked.renderers, complement=asked.complement,
                             audio=asked.audio, stem=item.stem)
        return Produced(staged(slot, written), explanation.prediction, explanation.summary,
                        len(explanation.waveform) / explanation.sample_rate)

    def attempt(self, item: Item, slot: Path) -> Produced | str:
        """:meth:`produce`, or the one-line reason it failed, whatever was raised (Ctrl-C passes through)."""
        try:
            return self.produce(item, slot)
        except (Exception, SystemExit) as exc:  # one file's failure, wherever it came from
            return reason(exc, self.culprits)


@dataclass
class Tally:
    """What a run did: inputs per status (done, earlier, skipped, failed), each failure as
    ``(input, one-line reason)``, and the seconds of audio explained."""

    counts: Counter = field(default_factory=Counter)
    failures: list[tuple[Path, str]] = field(default_factory=list)
    audio: float = 0.0

    def add(self, source: Path, status: str, why: str = "", seconds: float = 0.0) -> None:
        self.counts[status] += 1
        if why:
            self.failures.append((source, why))
        self.audio += seconds


def reason(exc: BaseException, culprits: dict[int, str]) -> str:
    """One line for a failed input: a :class:`SpecinterpError`'s message, else the exception named with
    the plugin it came from (``culprits``: ``id(object) -> "explainer 'cam'"``, matched against the
    ``self`` of each frame of its traceback, the outermost first)."""
    if isinstance(exc, SpecinterpError):
        return one_line(str(exc))
    who = next((culprits[id(frame.f_locals.get("self"))] for frame, _ in traceback.walk_tb(exc.__traceback__)
                if id(frame.f_locals.get("self")) in culprits), None)
    if isinstance(exc, MemoryError):
        return f"out of memory{f' in {who}' if who else ''} (MemoryError)"
    detail = one_line(str(exc))
    if len(detail) > MAX_DETAIL:
        detail = detail[:MAX_DETAIL] + "..."
    kind = type(exc).__name__ + (f": {detail}" if detail else "")
    return f"{who} raised {kind}" if who else f"unexpected {kind}"
