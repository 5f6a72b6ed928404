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

Placing. Each input's files are rendered into a hidden staging folder under ``OUT`` and moved into
place only when all were written and none would replace an input of the run, a file written earlier
in the run, or an existing file (unless ``overwrite``, or ``resume`` and the manifest lists it as ours).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import traceback
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

from specinterp.interfaces import SpecinterpError
from specinterp.outputs import MANIFEST, TEMP_SUFFIX, Manifest

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
        if MANIFEST in names:
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
        names = [_candidate(path, level) for (path, _), level in zip(found, levels)]
        keys = [(folder.as_posix().casefold(), name.casefold()) for (_, folder), name in zip(found, names)]
        counts = Counter(keys)
        clashing = [i for i, key in enumerate(keys) if counts[key] > 1 and levels[i] < 2]
        if not clashing:
            break
        for i in clashing:
            levels[i] += 1
    numbers: Counter = Counter()
    items = []
    for (path, folder), name, key, level in zip(found, names, keys, levels):
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
        path = Path(tempfile.mkdtemp(dir=self.root))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)


def staged(slot: Path, returned: Sequence[Path]) -> list[Path]:
    """The files in ``slot``: those the renderers returned, in their order, then any others."""
    present = sorted(p for p in slot.rglob("*") if p.is_file())
    listed = [Path(p) for p in returned if Path(p) in present]
    return list(dict.fromkeys(listed + present))


class Placer:
    """Moves each input's staged files into ``OUT`` under the rules above and records them in the manifest."""

    def __init__(self, out: Path, items: Sequence[Item], overwrite: bool, resume: bool):
        self.out = Path(out)
        self.manifest = Manifest(self.out)
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


def reason(exc: BaseException, culprits: dict[int, str]) -> str:
    """One line for a failed input: a :class:`SpecinterpError`'s message, else the exception named with
    the plugin it came from (``culprits``: ``id(object) -> "explainer 'cam'"``, matched against the
    ``self`` of each frame of its traceback, the outermost first)."""
    if isinstance(exc, SpecinterpError):
        return _one_line(str(exc))
    who = next((culprits[id(frame.f_locals.get("self"))] for frame, _ in traceback.walk_tb(exc.__traceback__)
                if id(frame.f_locals.get("self")) in culprits), None)
    if isinstance(exc, MemoryError):
        return f"out of memory{f' in {who}' if who else ''} (MemoryError)"
    detail = _one_line(str(exc))
    if len(detail) > MAX_DETAIL:
        detail = detail[:MAX_DETAIL] + "..."
    kind = type(exc).__name__ + (f": {detail}" if detail else "")
    return f"{who} raised {kind}" if who else f"unexpected {kind}"


def _one_line(text: str) -> str:
    return re.sub(r"\s*\n\s*", " ", text.strip())
