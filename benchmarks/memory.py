"""Peak memory and time of `specinterp explain` on long audio (the CLI in a child process).

    python benchmarks/memory.py [--hours 1] [--explainer cam] [--render png,wav,html] [--smoke]

Writes a WAV of the given length (seeded tones, noise and beats, 22050 Hz, 16-bit) to a temporary
folder, explains it, and records the child's peak resident memory (getrusage ru_maxrss), its wall and
CPU seconds and what it wrote (``record.append("memory", ...)``; the issue's target for one hour with
cam: <= 60 s and <= 1.5 GiB). ``--smoke``: 30 seconds of audio, not recorded.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

import record

RATE = 22050


def write_long_song(path: Path, seconds: float, seed: int = 0) -> None:
    """Minute after minute of tones, noise and a beat (no two minutes alike), written in blocks."""
    rng = np.random.default_rng(seed)
    t = np.arange(RATE * 60) / RATE
    with sf.SoundFile(path, "w", RATE, 1, subtype="PCM_16") as f:
        for minute in range(int(np.ceil(seconds / 60))):
            freqs = rng.uniform(80, 4000, 3)
            x = sum(np.sin(2 * np.pi * fr * t) for fr in freqs) / 3
            gate = 0.6 + 0.4 * (np.sin(2 * np.pi * rng.uniform(1, 3) * t) > 0)
            x = 0.4 * x * gate + 0.05 * rng.standard_normal(len(t))
            f.write(x[: int(min(60, seconds - 60 * minute) * RATE)].astype(np.float32))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=1.0)
    parser.add_argument("--explainer", default="cam")
    parser.add_argument("--model", default="camcnn")
    parser.add_argument("--render", default="png,wav,html")
    parser.add_argument("--smoke", action="store_true", help="30 s of audio, not recorded")
    args = parser.parse_args()
    hours = 30 / 3600 if args.smoke else args.hours
    with tempfile.TemporaryDirectory() as folder:
        song = Path(folder) / "long.wav"
        write_long_song(song, hours * 3600)
        began = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", "specinterp", "explain", "--model", args.model, "--explainer",
                              args.explainer, "--render", args.render, "--out", str(Path(folder) / "out"), str(song)],
                             capture_output=True, text=True)
        seconds = time.perf_counter() - began
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        written = sorted(p.name for p in (Path(folder) / "out").glob("*")) if run.returncode == 0 else []
    if run.returncode:
        sys.exit(f"specinterp explain failed: {run.stderr.strip().splitlines()[-3:]}")
    figures = {"hours": hours, "model": args.model, "explainer": args.explainer, "render": args.render,
               "peak_rss_mib": round(usage.ru_maxrss / 1024), "wall_s": round(seconds, 1),
               "cpu_s": round(usage.ru_utime + usage.ru_stime, 1), "written": written}
    print(f"{hours:g} h: {figures['wall_s']} s wall, {figures['cpu_s']} s CPU, peak RSS {figures['peak_rss_mib']} MiB")
    record.append("memory", figures, args.smoke)


if __name__ == "__main__":
    main()
