"""Clip-level splits that datasets share: stratified random, or given by lists of clip paths.

Public for dataset plugins, built-in or not (no dataset imports another's module). Splits are always
by clip, never by window, so windows of one song never land on both sides.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from specinterp.interfaces import Clip, Split

PARTS = ("train", "valid", "test")


def random_split(clips: list[Clip], seed: int, fractions: tuple[float, float] = (0.15, 0.15)) -> Split:
    """Stratified by label: per class, ``fractions`` of its clips go to valid and test, at least one each
    when the class has three or more clips."""
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
    return Split("random", {p: sorted(v, key=lambda c: c.id) for p, v in parts.items()})


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
