"""Find near-identical recordings in a GTZAN copy: pairs of clips whose log-mels line up at some time offset.

    nice python scripts/find_repetitions.py [--data ../shared/gtzan] [--threshold 0.4] [--min-overlap 10]

Each clip's log-mel (the package's default front end, cached) is pooled to about 93 ms frames and cut to
the bands below 7 kHz, so copies taken from a 16 kHz source still match their 22 kHz twins. Every band
is standardized over the clip's time; every frame loses its mean over bands (loudness alone would match
any two fades or quiet intros) and is scaled to unit length. The score of a pair at one offset is the
mean cosine similarity of the overlapping frames, and a pair's score is its best offset with at least
``--min-overlap`` seconds in common. On the local GTZAN copy the same excerpt twice scores 0.84-1.00,
overlapping excerpts of one recording 0.4-0.55 and unrelated clips below 0.33. Excerpts of one
recording that do not overlap in time are not found this way.

Prints the pairs at or above ``--threshold`` (score, offset) and, beside them, how each group of
``plugins/datasets/splits/repetitions.txt`` (or ``--known``) scores in this copy.
"""

from __future__ import annotations

import argparse
import os
from itertools import combinations
from pathlib import Path

import numpy as np

from specinterp import features, frontend
from specinterp.interfaces import Clip
from specinterp.splits import read_groups
from specinterp_plugins.datasets.gtzan import GTZAN

REPO = Path(__file__).resolve().parents[1]
KNOWN = REPO / "plugins" / "datasets" / "splits" / "repetitions.txt"
POOL = 4  # STFT frames per pooled frame (~93 ms at the default hop)
TOP_HZ = 7000.0  # bands above this are left out (some clips come from a 16 kHz copy)


def band_count(config: frontend.FrontendConfig, top_hz: float = TOP_HZ) -> int:
    """How many of the HTK mel bands have their centre below ``top_hz``."""
    centres = np.linspace(_mel(config.f_min), _mel(config.top_hz), config.n_mels + 2)[1:-1]
    return int((centres < _mel(top_hz)).sum())


def _mel(hz: float) -> float:
    return 2595.0 * np.log10(1.0 + hz / 700.0)


def profile(spec: np.ndarray, bands: int) -> np.ndarray:
    """``(bands, frames)``: pooled in time, each band standardized, each frame of unit length."""
    frames = spec.shape[1] // POOL
    x = spec[:bands, : frames * POOL].reshape(bands, frames, POOL).mean(axis=2)
    x = (x - x.mean(axis=1, keepdims=True)) / (x.std(axis=1, keepdims=True) + 1e-6)
    x -= x.mean(axis=0, keepdims=True)  # loudness alone (fades, quiet intros) would match any two clips
    return x / (np.linalg.norm(x, axis=0, keepdims=True) + 1e-6)


def scores(profiles: list[np.ndarray], min_overlap: int) -> tuple[np.ndarray, np.ndarray]:
    """Best mean frame cosine over offsets for every pair ``i < j``: ``(score, offset)`` matrices.

    The offset, in pooled frames, is how much later in the recording clip ``j`` starts than clip ``i``.
    Pairs without ``min_overlap`` frames in common at any offset score -1.
    """
    n = len(profiles)
    lengths = np.array([p.shape[1] for p in profiles])
    size = 1 << int(np.ceil(np.log2(2 * lengths.max())))
    spectra = np.stack([np.fft.rfft(p, size, axis=1) for p in profiles])  # (clips, bands, bins)
    lags = np.fft.fftfreq(size, 1 / size).astype(int)  # sums[L] = sum_t a[t] b[t + L], circular index -> L
    best, offset = np.full((n, n), -1.0), np.zeros((n, n), dtype=int)
    for i in range(n - 1):
        sums = np.fft.irfft((np.conj(spectra[i])[None] * spectra[i + 1 :]).sum(axis=1), size, axis=1)
        common = np.minimum(lengths[i], lengths[i + 1 :, None] - lags) - np.maximum(0, -lags)
        mean = np.where(common >= min_overlap, sums / np.maximum(common, 1), -1.0)
        k = mean.argmax(axis=1)
        best[i, i + 1 :] = mean[np.arange(len(k)), k]
        offset[i, i + 1 :] = -lags[k]
    return best, offset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path,
                        default=Path(os.environ.get("SPECINTERP_GTZAN", REPO.parent / "shared" / "gtzan")))
    parser.add_argument("--threshold", type=float, default=0.4, help="report pairs scoring at least this")
    parser.add_argument("--min-overlap", type=float, default=10.0, help="seconds two clips must share at an offset")
    parser.add_argument("--known", type=Path, default=KNOWN, help="groups file to cross-check")
    args = parser.parse_args()

    config = frontend.DEFAULT
    clips: list[Clip] = GTZAN(args.data).clips()
    bands = band_count(config)
    profiles = [profile(spec, bands) for spec in features.logmels(clips).values()]
    frame_s = config.seconds(POOL)
    best, offset = scores(profiles, round(args.min_overlap / frame_s))
    ids = [c.id for c in clips]

    print(f"{len(clips)} clips, {bands} bands below {TOP_HZ:.0f} Hz, frames of {1000 * frame_s:.0f} ms, "
          f"overlap >= {args.min_overlap:g} s")
    print(f"\npairs scoring >= {args.threshold:g} (score, second clip's start minus first's):")
    found = set()
    for i, j in sorted(zip(*np.nonzero(best >= args.threshold), strict=True), key=lambda p: -best[p]):
        found.add(frozenset((ids[i], ids[j])))
        print(f"  {best[i, j]:.3f}  {ids[i]} {ids[j]}  offset {offset[i, j] * frame_s:+.1f} s")

    if args.known.is_file():
        index = {c: k for k, c in enumerate(ids)}
        print(f"\ngroups of {args.known.name} with two or more clips in this copy:")
        listed = set()
        for group in read_groups(args.known):
            present = [c for c in group if c in index]
            pairs = list(combinations(present, 2))
            listed |= {frozenset(p) for p in pairs}
            if pairs:
                cells = ", ".join(f"{a} {b}: {best[tuple(sorted((index[a], index[b])))]:.3f}" for a, b in pairs)
                print(f"  {cells}")
        missing = sorted(sorted(p) for p in found - listed)
        print(f"\nfound here but in no listed group: {len(missing)}")
        for a, b in missing:
            print(f"  {a} {b}")


if __name__ == "__main__":
    main()
