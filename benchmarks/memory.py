"""Peak memory and time of `specinterp explain` on long audio (the CLI in a child process).

    python benchmarks/memory.py [--hours 2] [--explainer cam] [--render png,wav,html]

Writes a WAV of the given length (seeded tones, noise and beats, 22050 Hz, 16-bit) to a temporary
folder, explains it, and records the child's peak resident memory (getrusage ru_maxrss), its wall
time and what it wrote in benchmarks/results/memory.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
RATE = 22050


def write_long_song(path: Path, seconds: float, seed: int = 0) -> None:
    """Minute after minute of tones, noise and a beat (no two minutes alike), written in blocks."""
    rng = np.random.default_rng(seed)
    t = np.arange(RATE * 60) / RATE
    with sf.SoundFile(path, "w", RATE, 1, subtype="PCM_16") as f:
        for minute in range(int(np.ceil(seconds / 60))):
            freqs = rng.uniform(80, 4000, 3)
            x = sum(np.sin(2 * np.pi * fr * t) for fr in freqs) / 3
            x = 0.4 * x * (0.6 + 0.4 * (np.sin(2 * np.pi * rng.uniform(1, 3) * t) > 0)) + 0.05 * rng.standard_normal(len(t))
            f.write(x[: int(min(60, seconds - 60 * minute) * RATE)].astype(np.float32))


def git_commit() -> str:
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO).stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=2.0)
    parser.add_argument("--explainer", default="cam")
    parser.add_argument("--model", default="camcnn")
    parser.add_argument("--render", default="png,wav,html")
    parser.add_argument("--json", type=Path, default=REPO / "benchmarks" / "results" / "memory.json")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        song = Path(folder) / "long.wav"
        write_long_song(song, args.hours * 3600)
        began = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", "specinterp", "explain", "--model", args.model, "--explainer",
                              args.explainer, "--render", args.render, "--out", str(Path(folder) / "out"), str(song)],
                             capture_output=True, text=True)
        seconds = time.perf_counter() - began
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        written = sorted(p.name for p in (Path(folder) / "out").glob("*")) if run.returncode == 0 else []
    result = {"hours": args.hours, "model": args.model, "explainer": args.explainer, "render": args.render,
              "exit_code": run.returncode, "peak_rss_mib": round(peak_mib), "wall_seconds": round(seconds, 1),
              "written": written, "stderr_tail": run.stderr.strip().splitlines()[-3:] if run.returncode else [],
              "date": date.today().isoformat(), "commit": git_commit(),
              "machine": f"{platform.machine()}, {platform.processor() or 'cpu'}, 2 cores (shared)"}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
