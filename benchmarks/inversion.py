"""Phase-preserving inversion beside the study's Griffin-Lim route: spectral convergence of an all-ones mask,
seconds per clip.

    python benchmarks/inversion.py [--data ../shared/gtzan] [--clips 20] [--griffin-lim 3] [--iterations 32] [--smoke]

specinterp's route (``frontend.MaskInverter``: the mel mask spread onto the STFT bins and applied to the
song's own complex STFT, inverted with its phase) runs on N clips spread over the GTZAN folder (sorted,
every len/N-th), or on N seeded synthesized 30 s clips when the folder is absent. The study's route
(mel power -> ``librosa.feature.inverse.mel_to_audio``, Griffin-Lim) runs on the first ``--griffin-lim``
of them. Per route: spectral convergence against the input and seconds per clip (after an untimed
warm-up of each); the ratio compares the two on the clips both ran. The record is appended to
benchmarks/results/inversion.jsonl (``record.append``); ``--smoke``: one 3 s synthesized clip, Griffin-Lim
on it with 4 iterations, nothing recorded.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

import record
from specinterp import audio, frontend

SMOKE_ITERATIONS = 4


def griffin_lim_route(x: np.ndarray, iterations: int) -> np.ndarray:
    """The study's inverse: mel power spectrogram -> librosa.feature.inverse.mel_to_audio (Griffin-Lim)."""
    import librosa

    mel = librosa.feature.melspectrogram(y=x, sr=record.RATE, n_fft=2048, hop_length=512, n_mels=128)
    return librosa.feature.inverse.mel_to_audio(mel, sr=record.RATE, n_fft=2048, hop_length=512, length=len(x),
                                                n_iter=iterations)


def specinterp_route(inverter: frontend.MaskInverter, x: np.ndarray) -> np.ndarray:
    """specinterp's inverse of an all-ones mask: the song's STFT resynthesized with its own phase."""
    mask = torch.ones(128, frontend.DEFAULT.frames(len(x)))
    with torch.no_grad():
        return inverter(torch.from_numpy(x), mask).numpy()


def clips(data: Path, count: int, smoke: bool) -> tuple[list[tuple[str, np.ndarray]], str]:
    """``count`` named clips at 22050 Hz and a description: GTZAN's (spread over the genres), else synthesized."""
    if smoke:
        return [("synthesized-3s", record.synthesized(3))], "synthesized 3 s, seed 0"
    every = sorted(data.glob("*/*.ogg"))
    if not every:
        return ([(f"synthesized-{seed}", record.synthesized(30, seed)) for seed in range(count)],
                f"{count} synthesized 30 s clips, seeds 0..{count - 1} ({data} has no clips)")
    chosen = every[:: max(1, len(every) // count)][:count]
    return ([(str(path.relative_to(data)), audio.load(path, record.RATE)) for path in chosen],
            f"{len(chosen)} GTZAN clips spread over the genres")


def timed(route, *args) -> tuple[np.ndarray, float]:
    """The route's output and its wall seconds."""
    started = time.perf_counter()
    out = route(*args)
    return out, time.perf_counter() - started


def measure(named: list[tuple[str, np.ndarray]], griffin_lim: int, iterations: int) -> list[dict]:
    """Per clip: its length, and per route run on it the spectral convergence and seconds."""
    inverter = frontend.MaskInverter()
    specinterp_route(inverter, named[0][1])  # warm-ups: first calls' one-time costs (librosa's imports, caches)
    if griffin_lim:
        griffin_lim_route(named[0][1][: record.RATE], 1)
    rows = []
    for index, (name, x) in enumerate(named):
        y, seconds = timed(specinterp_route, inverter, x)
        ours = {"spectral_convergence": frontend.spectral_convergence(x, y), "seconds": round(seconds, 4)}
        row = {"clip": name, "audio_seconds": round(len(x) / record.RATE, 2), "specinterp": ours}
        if index < griffin_lim:
            y, seconds = timed(griffin_lim_route, x, iterations)
            row["griffin_lim"] = {"spectral_convergence": round(frontend.spectral_convergence(x, y), 4),
                                  "seconds": round(seconds, 2)}
        rows.append(row)
        routes = [route for route in ("specinterp", "griffin_lim") if route in row]
        print(f"{name:<28} " + "   ".join(f"{route} SC {row[route]['spectral_convergence']:.3g} "
                                           f"{row[route]['seconds']:.3f} s" for route in routes), flush=True)
    return rows


def summary(rows: list[dict]) -> dict:
    """Spectral convergence and mean seconds per clip of each route, and specinterp / Griffin-Lim on the clips
    both ran."""
    found = {"specinterp": {
        "clips": len(rows), "max_spectral_convergence": max(r["specinterp"]["spectral_convergence"] for r in rows),
        "mean_seconds_per_clip": round(float(np.mean([r["specinterp"]["seconds"] for r in rows])), 4)}}
    both = [r for r in rows if "griffin_lim" in r]
    if both:
        convergence = [r["griffin_lim"]["spectral_convergence"] for r in both]
        found["griffin_lim"] = {
            "clips": len(both), "spectral_convergence_range": [min(convergence), max(convergence)],
            "mean_seconds_per_clip": round(float(np.mean([r["griffin_lim"]["seconds"] for r in both])), 2)}
        found["ratio_specinterp_griffin_lim"] = round(sum(r["specinterp"]["seconds"] for r in both)
                                                      / sum(r["griffin_lim"]["seconds"] for r in both), 5)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("SPECINTERP_GTZAN", record.GTZAN)))
    parser.add_argument("--clips", type=int, default=20)
    parser.add_argument("--griffin-lim", type=int, nargs="?", const=3, default=3, metavar="N",
                        help="run the study's Griffin-Lim route on the first N clips (default 3; 0: none)")
    parser.add_argument("--iterations", type=int, default=32,
                        help="Griffin-Lim iterations (librosa's default, the study's)")
    parser.add_argument("--smoke", action="store_true",
                        help="one 3 s synthesized clip, 4 Griffin-Lim iterations, not recorded")
    args = parser.parse_args()
    iterations = SMOKE_ITERATIONS if args.smoke else args.iterations

    named, described = clips(args.data, args.clips, args.smoke)
    print(f"{described}; Griffin-Lim on {min(args.griffin_lim, len(named))} with {iterations} iterations, "
          f"{torch.get_num_threads()} threads", flush=True)
    rows = measure(named, args.griffin_lim, iterations)
    found = summary(rows)
    print(f"specinterp: max SC {found['specinterp']['max_spectral_convergence']:.2e}, "
          f"{found['specinterp']['mean_seconds_per_clip']:.3f} s per clip")
    if "griffin_lim" in found:
        print(f"Griffin-Lim: SC {found['griffin_lim']['spectral_convergence_range']}, "
              f"{found['griffin_lim']['mean_seconds_per_clip']:.2f} s per clip; "
              f"specinterp / Griffin-Lim {found['ratio_specinterp_griffin_lim']:.5f}")
    record.append("inversion", {"input": described, "griffin_lim_iterations": iterations, **found, "rows": rows},
                  args.smoke, "librosa")


if __name__ == "__main__":
    main()
