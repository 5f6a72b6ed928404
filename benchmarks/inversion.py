"""Phase-preserving inversion: spectral convergence of an all-ones mask and time per clip.

    python benchmarks/inversion.py [--data ../shared/gtzan] [--clips 20] [--griffin-lim]

Takes the first N clips (sorted) of the GTZAN folder; with --griffin-lim also measures the study's
route (log-mel -> librosa mel inversion with Griffin-Lim) on the first three for comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from specinterp import audio, frontend

REPO = Path(__file__).resolve().parents[1]


def griffin_lim_route(x: np.ndarray) -> np.ndarray:
    """The study's inverse: mel power spectrogram -> librosa.feature.inverse.mel_to_audio (Griffin-Lim)."""
    import librosa

    mel = librosa.feature.melspectrogram(y=x, sr=22050, n_fft=2048, hop_length=512, n_mels=128)
    return librosa.feature.inverse.mel_to_audio(mel, sr=22050, n_fft=2048, hop_length=512, length=len(x))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("SPECINTERP_GTZAN", REPO.parent / "shared" / "gtzan")))
    parser.add_argument("--clips", type=int, default=20)
    parser.add_argument("--griffin-lim", action="store_true")
    parser.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "inversion.json")
    args = parser.parse_args()

    every = sorted(args.data.glob("*/*.ogg"))
    paths = every[:: max(1, len(every) // args.clips)][: args.clips]  # spread over the genres
    inverter = frontend.MaskInverter()
    rows = []
    for path in paths:
        x = audio.load(path)
        mask = torch.ones(128, frontend.DEFAULT.frames(len(x)))
        started = time.perf_counter()
        with torch.no_grad():
            y = inverter(torch.from_numpy(x), mask).numpy()
        seconds = time.perf_counter() - started
        rows.append({"clip": str(path.relative_to(args.data)), "audio_seconds": len(x) / 22050,
                     "spectral_convergence": frontend.spectral_convergence(x, y), "inversion_seconds": seconds})
        print(f"{rows[-1]['clip']:<28} SC {rows[-1]['spectral_convergence']:.2e}  {seconds:.3f} s")
    result = {
        "clips": len(rows), "max_spectral_convergence": max(r["spectral_convergence"] for r in rows),
        "mean_inversion_seconds": float(np.mean([r["inversion_seconds"] for r in rows])), "rows": rows,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads",
    }
    if args.griffin_lim:
        gl = []
        for path in paths[:3]:
            x = audio.load(path)
            started = time.perf_counter()
            y = griffin_lim_route(x)
            gl.append({"clip": str(path.relative_to(args.data)), "spectral_convergence": frontend.spectral_convergence(x, y),
                       "seconds": time.perf_counter() - started})
            print(f"griffin-lim {gl[-1]['clip']:<28} SC {gl[-1]['spectral_convergence']:.3f}  {gl[-1]['seconds']:.1f} s")
        result["griffin_lim"] = gl
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2))
    print(f"max SC {result['max_spectral_convergence']:.2e}, mean {result['mean_inversion_seconds']:.3f} s per clip")


if __name__ == "__main__":
    main()
