"""Clip-level splits that datasets share: stratified random, or given by lists of clip paths.

Public for dataset plugins, built-in or not (no dataset imports another's module). Splits are always
by clip, never by window, so windows of one song never land on both sides. Clips known to hold one
recording (a dataset's repetitions, read with :func:`read_groups`) can be kept on one side too, with
:func:`keep_groups_together` or ``random_split(..., groups=...)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from specinterp.interfaces import Clip, SpecinterpError, Split

PARTS = ("train", "valid", "test")


def random_split(clips: list[Clip], seed: int, fractions: tuple[float, float] = (0.15, 0.15),
                 groups: Sequence[Sequence[str]] = ()) -> Split:
    """Stratified by label: per class, ``fractions`` of its clips go to valid and test, at least one each
    when the class has three or more clips.

    With ``groups`` (clip ids of one recording each), the stratified assignment is made first and then
    each group that straddles parts is moved whole by :func:`keep_groups_together`, so the sizes can
    differ from ``fractions`` by the clips moved.
    """
    rng = np.random.default_rng(seed)
    parts: dict[str, list[Clip]] = {p: [] for p in PARTS}
    for label in sorted({c.label for c in clips}):
        members = sorted((c for c in clips if c.label == label), key=lambda c: c.id)
        order = rng.permutation(len(members))
        n_valid, n_test = (max(1, round(f * len(members))) if len(members) >= 3 else 0 for f in fractions)
        chosen = [members[i] for i in order]
        parts["valid"] += chosen[:n_valid]
        parts["test"] += chosen[n_valid : n_valid + n_test]
        parts["train"] += chosen[n_valid + n_test :]
    split = Split("random", {p: sorted(v, key=lambda c: c.id) for p, v in parts.items()})
    return keep_groups_together(split, groups) if groups else split


def keep_groups_together(split: Split, groups: Sequence[Sequence[str]]) -> Split:
    """Move the clips of each group that straddles parts into the most trained part any of them is in.

    Parameters
    ----------
    split : Split
        Parts named among ``train``, ``valid`` and ``test``.
    groups : sequence of sequences of clip ids
        Clips that hold one recording. Groups sharing a clip are merged; ids absent from ``split`` are
        ignored.

    Returns
    -------
    Split
        Same name and ``missing``; a group found in several parts now sits wholly in the first of
        train, valid, test among them. Clips only ever leave test for valid or train, and valid for
        train, so the new test part is a subset of the old one: weights fitted on the old train (+ valid)
        never saw a clip of the new test part, nor, for the listed groups, its recording.
    """
    unknown = sorted(set(split.parts) - set(PARTS))
    if unknown:
        raise SpecinterpError(f"split '{split.name}': cannot keep groups together across part {unknown[0]}")
    part_of = {clip.id: part for part, clips in split.parts.items() for clip in clips}
    target: dict[str, str] = {}
    for members in _merged(groups):
        present = [m for m in members if m in part_of]
        if len({part_of[m] for m in present}) > 1:
            first = min((part_of[m] for m in present), key=PARTS.index)
            target.update(dict.fromkeys(present, first))
    parts: dict[str, list[Clip]] = {p: [] for p in split.parts}
    for part, clips in split.parts.items():
        for clip in clips:
            parts[target.get(clip.id, part)].append(clip)
    return Split(split.name, {p: sorted(v, key=lambda c: c.id) for p, v in parts.items()}, dict(split.missing))


def read_groups(path: Path) -> list[tuple[str, ...]]:
    """Groups of clip ids from a text file: one group per line, ids separated by spaces, ``#`` comments."""
    if not path.is_file():
        raise SpecinterpError(f"{path}: groups file not found")
    groups = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        ids = tuple(line.split("#", 1)[0].split())
        if len(ids) == 1:
            raise SpecinterpError(f"{path}:{number}: a group needs two or more clip ids, got only {ids[0]}")
        if ids:
            groups.append(ids)
    return groups


def _merged(groups: Sequence[Sequence[str]]) -> list[set[str]]:
    """Groups that share a clip, joined (transitively)."""
    merged: list[set[str]] = []
    for group in groups:
        joined = set(group)
        for other in [m for m in merged if m & joined]:
            joined |= other
            merged.remove(other)
        merged.append(joined)
    return merged


def listed_split(clips: list[Clip], name: str, lists: dict[str, Path]) -> Split:
    """A split given by text files of relative paths; the extension is ignored, absent clips counted."""
    by_id = {c.id: c for c in clips}
    parts: dict[str, list[Clip]] = {}
    missing: dict[str, int] = {}
    for part, path in lists.items():
        ids = [str(Path(line.strip()).with_suffix("")) for line in path.read_text().splitlines() if line.strip()]
        parts[part] = [by_id[i] for i in ids if i in by_id]
        missing[part] = len(ids) - len(parts[part])
    return Split(name, parts, missing)
