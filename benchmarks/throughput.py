"""Files per second of ``specinterp explain`` over a folder, with 1 and with 2 worker processes.

    python benchmarks/throughput.py [--clips 20] [--gtzan] [--explainer cam] [--workers 1 2] [--smoke]

The folder holds K seeded synthesized 30 s clips (``record.synthesized``, seeds 0..K-1, 16-bit WAV), or
with ``--gtzan`` K clips of ../shared/gtzan taken in turn from each genre. For each worker count W it
runs ``specinterp explain --explainer X --workers W --out FRESH FOLDER`` in a child process (start-up,
model loading and every renderer included) and records the wall seconds, the CPU seconds (user + system
of the command and its workers), files per wall second, seconds of audio per wall second, the line
the command printed itself, and each W's files per second over W = first's. Figures only mean something
on an otherwise idle machine; the load average at the start is recorded with them.

The record is printed and appended to benchmarks/results/throughput.jsonl (``record.append``).
``--smoke``: 3 clips of 3 s, printed and not recorded.
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf

import record

SMOKE_CLIPS, SMOKE_SECONDS, SECONDS = 3, 3.0, 30.0


def synthesized_clips(folder: Path, count: int, seconds: float) -> list[Path]:
    """``count`` seeded clips of ``seconds`` written into ``folder``."""
    paths = [folder / f"clip{seed:03d}.wav" for seed in range(count)]
    for seed, path in enumerate(paths):
        sf.write(path, record.synthesized(seconds, seed), record.RATE, subtype="PCM_16")
    return paths


def gtzan_clips(folder: Path, count: int) -> list[Path]:
    """``count`` GTZAN clips linked into ``folder``, one genre after another (blues.00000, classical.00000, ...)."""
    genres = [sorted(g.glob("*.*")) for g in sorted(p for p in record.GTZAN.iterdir() if p.is_dir())]
    chosen = [genres[i % len(genres)][i // len(genres)] for i in range(count)]
    for clip in chosen:
        (folder / clip.name).symlink_to(clip)
    return [folder / clip.name for clip in chosen]


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def explain(folder: Path, out: Path, explainer: str, workers: int) -> dict:
    """One ``specinterp explain`` over ``folder``: wall and CPU seconds and the throughput line it printed."""
    command = [sys.executable, "-m", "specinterp", "explain", "--explainer", explainer, "--workers", str(workers),
               "--out", str(out), str(folder)]
    wall, cpu = time.perf_counter(), children_cpu()
    done = subprocess.run(command, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - wall, children_cpu() - cpu
    if done.returncode:
        sys.exit(f"specinterp explain --workers {workers} failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    reported = next(line for line in done.stderr.splitlines() if line.startswith("explained "))
    print(f"--workers {workers}: {wall:.1f} s wall, {cpu:.1f} s CPU; {reported}", flush=True)
    return {"wall_s": round(wall, 2), "cpu_s": round(cpu, 2), "reported": reported}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=20, help="how many clips (default 20)")
    parser.add_argument("--gtzan", action="store_true", help="GTZAN clips from ../shared/gtzan instead of synthesized")
    parser.add_argument("--explainer", default="cam")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="worker counts to time (default 1 2)")
    parser.add_argument("--smoke", action="store_true",
                        help=f"{SMOKE_CLIPS} clips of {SMOKE_SECONDS:g} s, not recorded")
    args = parser.parse_args()
    count = SMOKE_CLIPS if args.smoke else args.clips
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "clips"
        folder.mkdir()
        if args.gtzan and not args.smoke:
            clips, described = gtzan_clips(folder, count), f"{count} GTZAN clips, genres in turn"
        else:
            seconds = SMOKE_SECONDS if args.smoke else SECONDS
            clips, described = synthesized_clips(folder, count, seconds), f"{count} synthesized clips of {seconds:g} s"
        audio = sum(sf.info(clip).duration for clip in clips)
        print(f"{described} ({audio:.0f} s of audio), explainer {args.explainer}", flush=True)
        runs = {w: explain(folder, Path(scratch) / f"out-{w}", args.explainer, w) for w in args.workers}
    first = args.workers[0]
    for figures in runs.values():
        figures["files_per_s"] = round(count / figures["wall_s"], 3)
        figures["audio_s_per_s"] = round(audio / figures["wall_s"], 2)
        figures["speedup"] = round(runs[first]["wall_s"] / figures["wall_s"], 2)
    record.append("throughput", {"input": described, "audio_s": round(audio, 1), "explainer": args.explainer,
                                 "workers": {str(w): figures for w, figures in runs.items()}}, args.smoke)


if __name__ == "__main__":
    main()
