"""Classic baseline the CNNs must beat: per-clip MFCC and spectral statistics with an RBF SVM.

Each clip becomes the mean and standard deviation over time of 65 frame-level descriptors (130
numbers). C and gamma are chosen on the valid part by balanced accuracy, then the model is refit on
train + valid and scored once on test. Splits are the package's clip-level ones.

    python benchmarks/baseline_svm.py --split both --seed 0
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from importlib.metadata import version
from pathlib import Path
from typing import Any

import librosa
import numpy as np
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from specinterp import audio
from specinterp.interfaces import Clip, SpecinterpError, Split
from specinterp_plugins.datasets.gtzan import GENRES, GTZAN, PARTS

REPO = Path(__file__).resolve().parents[1]
DEFAULT_JSON = REPO / "benchmarks" / "results" / "baseline_svm.json"
CACHE_DIR = Path.home() / ".cache" / "specinterp" / "baseline"
SR, N_FFT, HOP, N_MFCC = audio.SAMPLE_RATE, 2048, 512, 20
FEATURES = (f"sr={SR} n_fft={N_FFT} hop={HOP}: mean and std of {N_MFCC} mfcc, {N_MFCC} delta, centroid, "
            "bandwidth, rolloff, flatness, contrast(7), zcr, rms, chroma(12)")
GRID_C = (1.0, 3.0, 10.0, 30.0, 100.0)
GRID_GAMMA: tuple[str | float, ...] = ("scale", 0.003, 0.01, 0.03)


# ---------------------------------------------------------------- features

def clip_features(path: Path) -> np.ndarray:
    """The 130 clip-level statistics of one audio file, float32."""
    y = audio.load(path, SR)
    magnitude = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP))
    power = magnitude**2
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(librosa.feature.melspectrogram(S=power, sr=SR)),
                                n_mfcc=N_MFCC)
    frames = np.vstack([
        mfcc,
        librosa.feature.delta(mfcc),
        librosa.feature.spectral_centroid(S=magnitude, sr=SR),
        librosa.feature.spectral_bandwidth(S=magnitude, sr=SR),
        librosa.feature.spectral_rolloff(S=magnitude, sr=SR),
        librosa.feature.spectral_flatness(S=magnitude),
        librosa.feature.spectral_contrast(S=magnitude, sr=SR),
        librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP),
        librosa.feature.rms(S=magnitude, frame_length=N_FFT),
        librosa.feature.chroma_stft(S=power, sr=SR),
    ])
    return np.concatenate([frames.mean(axis=1), frames.std(axis=1)]).astype(np.float32)


def stamp(path: Path) -> str:
    """Size and modification time: a cached row is reused only while the file is unchanged."""
    info = path.stat()
    return f"{info.st_size}:{info.st_mtime_ns}"


def cache_path() -> Path:
    """One .npz per feature recipe and librosa version, so changing either starts a fresh cache."""
    key = hashlib.sha256(f"{FEATURES} librosa={librosa.__version__}".encode()).hexdigest()[:12]
    return CACHE_DIR / f"features-{key}.npz"


def read_cache(path: Path) -> dict[str, tuple[str, np.ndarray]]:
    """Clip id -> (stamp, features) from the cache file, empty when there is none."""
    if not path.is_file():
        return {}
    with np.load(path, allow_pickle=False) as npz:
        columns = zip(npz["ids"].tolist(), npz["stamps"].tolist(), npz["features"], strict=True)
        return {i: (s, row) for i, s, row in columns}


def write_cache(path: Path, rows: dict[str, tuple[str, np.ndarray]]) -> None:
    """Write atomically (temporary file, then rename) with plain string and float arrays."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ids = sorted(rows)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as f:
        np.savez(f, ids=np.array(ids, dtype=str), stamps=np.array([rows[i][0] for i in ids], dtype=str),
                 features=np.stack([rows[i][1] for i in ids]))
    os.replace(f.name, path)


def features_for(clips: list[Clip], jobs: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Features by clip id, computing (over ``jobs`` processes) only those not cached, and a summary."""
    start = time.perf_counter()
    path = cache_path()
    rows = read_cache(path)
    stale = [c for c in clips if rows.get(c.id, ("",))[0] != stamp(c.path)]
    if stale:
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            computed = pool.map(clip_features, [c.path for c in stale], chunksize=4)
            rows.update({c.id: (stamp(c.path), row) for c, row in zip(stale, computed, strict=True)})
        write_cache(path, rows)
    summary = {"description": FEATURES, "per_clip": int(next(iter(rows.values()))[1].size), "computed": len(stale),
               "cached": len(clips) - len(stale), "seconds": round(time.perf_counter() - start, 2),
               "cache": str(path)}
    return {c.id: rows[c.id][1] for c in clips}, summary


# ---------------------------------------------------------------- model

def arrays(clips: list[Clip], features: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Design matrix and labels of ``clips``."""
    return np.stack([features[c.id] for c in clips]), np.array([c.label for c in clips])


def svm(c: float, gamma: str | float) -> Pipeline:
    return make_pipeline(StandardScaler(), SVC(kernel="rbf", C=c, gamma=gamma, class_weight="balanced"))


def recalls(truth: np.ndarray, predicted: np.ndarray) -> dict[int, float]:
    """Recall per label present in ``truth``."""
    return {int(k): float((predicted[truth == k] == k).mean()) for k in np.unique(truth)}


def balanced_accuracy(truth: np.ndarray, predicted: np.ndarray) -> float:
    """Mean recall over the labels present in ``truth``."""
    return float(np.mean(list(recalls(truth, predicted).values())))


def select(train: tuple[np.ndarray, np.ndarray],
           valid: tuple[np.ndarray, np.ndarray]) -> tuple[float, str | float, float]:
    """(C, gamma, valid balanced accuracy) of the best grid point; ties go to the earlier (smaller C)."""
    best: tuple[float, str | float, float] = (GRID_C[0], GRID_GAMMA[0], -1.0)
    for c in GRID_C:
        for gamma in GRID_GAMMA:
            score = balanced_accuracy(valid[1], svm(c, gamma).fit(*train).predict(valid[0]))
            if score > best[2]:
                best = (c, gamma, score)
    return best


def evaluate(split: Split, seed: int, features: dict[str, np.ndarray]) -> dict[str, Any]:
    """Choose hyperparameters on valid, refit on train + valid, score on test."""
    start = time.perf_counter()
    train, valid, test = (arrays(split.parts[p], features) for p in PARTS)
    c, gamma, valid_score = select(train, valid)
    model = svm(c, gamma).fit(np.vstack([train[0], valid[0]]), np.concatenate([train[1], valid[1]]))
    predicted = model.predict(test[0])
    per_label = recalls(test[1], predicted)
    return {
        "split": split.name, "seed": seed, "digest": split.digest(),
        "clips": {p: len(split.parts[p]) for p in PARTS},
        "missing": {p: split.missing.get(p, 0) for p in PARTS},
        "hyperparameters": {"C": c, "gamma": gamma, "valid_balanced_accuracy": round(valid_score, 4)},
        "accuracy": round(float((predicted == test[1]).mean()), 4),
        "balanced_accuracy": round(balanced_accuracy(test[1], predicted), 4),
        "per_genre": {g: {"test_clips": int((test[1] == k).sum()),
                          "accuracy": round(per_label[k], 4) if k in per_label else None}
                      for k, g in enumerate(GENRES)},
        "seconds": round(time.perf_counter() - start, 2),
    }


# ---------------------------------------------------------------- report

def environment() -> dict[str, Any]:
    """Machine and library versions, for reading the timings and numbers later."""
    return {
        "machine": {"platform": platform.platform(), "processor": platform.machine(), "cpu_count": os.cpu_count(),
                    "python": platform.python_version()},
        "versions": {name: version(name) for name in ("specinterp", "numpy", "scikit-learn", "librosa", "soundfile")},
    }


def table(result: dict[str, Any]) -> str:
    """A readable block for one split."""
    clips, missing, hp = result["clips"], result["missing"], result["hyperparameters"]
    lines = [
        f"split {result['split']} (seed {result['seed']}, digest {result['digest']}): "
        + ", ".join(f"{p} {clips[p]} (missing {missing[p]})" for p in PARTS),
        f"chosen C={hp['C']:g} gamma={hp['gamma']} (valid balanced accuracy {hp['valid_balanced_accuracy']:.3f})",
        f"{'genre':<10} {'test':>5} {'accuracy':>9}",
    ]
    for genre, row in result["per_genre"].items():
        accuracy = "-" if row["accuracy"] is None else f"{row['accuracy']:.3f}"
        lines.append(f"{genre:<10} {row['test_clips']:>5} {accuracy:>9}")
    lines += [f"{'overall':<10} {clips['test']:>5} {result['accuracy']:>9.3f}",
              f"{'balanced':<10} {'':>5} {result['balanced_accuracy']:>9.3f}",
              f"fit and score: {result['seconds']:.1f} s"]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    default_data = os.environ.get("SPECINTERP_GTZAN") or str(REPO.parent / "shared" / "gtzan")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(default_data), help="GTZAN folder (env SPECINTERP_GTZAN)")
    parser.add_argument("--split", choices=("random", "filtered", "both"), default="both")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random split")
    parser.add_argument("--jobs", type=int, default=2, help="processes for feature extraction")
    parser.add_argument("--json", type=Path, default=DEFAULT_JSON, help="where to write the results")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        dataset = GTZAN(args.data)
    except SpecinterpError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    names = ("random", "filtered") if args.split == "both" else (args.split,)
    splits = [dataset.split(name, args.seed) for name in names]
    needed = {c.id: c for s in splits for part in s.parts.values() for c in part}
    features, summary = features_for(sorted(needed.values(), key=lambda c: c.id), args.jobs)
    print(f"features: {summary['computed']} computed, {summary['cached']} cached, {summary['seconds']:.1f} s")
    results = {s.name: evaluate(s, args.seed, features) for s in splits}
    for result in results.values():
        print("\n" + table(result))
    report = {"benchmark": "baseline_svm", "data": str(args.data), **environment(), "features": summary,
              "grid": {"C": list(GRID_C), "gamma": list(GRID_GAMMA)}, "splits": results,
              "elapsed_seconds": round(time.perf_counter() - start, 2)}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nelapsed {report['elapsed_seconds']:.1f} s; wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
