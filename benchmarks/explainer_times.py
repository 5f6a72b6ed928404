"""Seconds each built-in explainer takes on a 30 s clip with its default options.

    python benchmarks/explainer_times.py [--explainers occlusion scorecam] [--model camcnn] [--repeat 3] [--smoke]

The clip is GTZAN's country.00003 when ../shared/gtzan exists beside the repository, else a seeded
synthesized 30 s signal (chords, a beat, noise). Per explainer it times the explainer's part (its maps
over all windows, stitched: ``specinterp.api.song_maps``, after one shared prediction) and the whole
command (``specinterp explain --model M --explainer X clip``, all renderers, in a child process,
start-up included). Each gets wall seconds and CPU seconds (user + system, all threads): on a machine
shared with other jobs the wall time grows while the CPU time barely does, and on an idle machine the
wall time is at most the CPU time. The load average at the start is recorded with them; with
``--repeat N`` each figure is the least of N runs (the one the other jobs disturbed least).

The record (date, commit, machine, load, versions, input, seconds) is printed and appended as one JSON
line to benchmarks/results/explainer_times.jsonl (benchmarks/record.py). ``--smoke``: a 3 s synthesized input and the
explainers' parts only, printed and not recorded (a check, in CI time, that every explainer runs).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import soundfile as sf

import record
from specinterp import api, audio, frontend, inference
from specinterp.plugins import registry

GTZAN_CLIP = record.GTZAN / "country" / "country.00003.ogg"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def fastest(runs: list[dict[str, float] | None]) -> dict[str, float] | None:
    """The least wall and the least CPU seconds of several runs (``None`` if any failed)."""
    if any(run is None for run in runs):
        return None
    return {key: min(run[key] for run in runs) for key in ("wall", "cpu")}


def explainer_seconds(names: list[str], model: str, clip: Path) -> tuple[dict[str, dict[str, float]], int]:
    """Each explainer's part on ``clip`` (wall and CPU seconds), after one shared prediction; the window count."""
    loaded = api.load_model(model)
    spectrogram = frontend.log_mel(audio.load(clip, loaded.frontend.sample_rate), loaded.frontend)
    prediction, windows = inference.predict(loaded.module, spectrogram, loaded.classes, None, loaded.frontend)
    seconds = {}
    for name in names:
        method = registry().get("explainers", name)
        method.check(loaded.module, loaded.name)
        wall, cpu = time.perf_counter(), time.process_time()
        api.song_maps(method, loaded, windows, prediction.index, {})
        seconds[name] = {"wall": round(time.perf_counter() - wall, 4), "cpu": round(time.process_time() - cpu, 4)}
        print(f"{name:<22} explainer {seconds[name]['wall']:7.2f} s wall {seconds[name]['cpu']:7.2f} s CPU", flush=True)
    return seconds, len(windows)


def command_seconds(name: str, model: str, clip: Path, out: Path) -> dict[str, float] | None:
    """``specinterp explain`` for one explainer in a child process: wall and CPU seconds (``None``: it failed)."""
    wall, cpu = time.perf_counter(), children_cpu()
    run = subprocess.run([sys.executable, "-m", "specinterp", "explain", "--model", model, "--explainer", name,
                          "--out", str(out / name), str(clip)], capture_output=True, text=True)
    seconds = {"wall": round(time.perf_counter() - wall, 2), "cpu": round(children_cpu() - cpu, 2)}
    if run.returncode:
        print(f"{name}: specinterp explain failed: {run.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    print(f"{name:<22} command   {seconds['wall']:7.2f} s wall {seconds['cpu']:7.2f} s CPU", flush=True)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--explainers", nargs="+", help="default: every registered explainer")
    parser.add_argument("--model", default="camcnn")
    parser.add_argument("--repeat", type=int, default=1, help="runs per figure; the least is recorded")
    parser.add_argument("--smoke", action="store_true",
                        help="3 s synthesized input, explainers' parts only, not recorded")
    args = parser.parse_args()
    names = args.explainers or sorted(registry().explainers)
    with tempfile.TemporaryDirectory() as folder:
        if GTZAN_CLIP.exists() and not args.smoke:
            clip, described = GTZAN_CLIP, "GTZAN country.00003 (30 s)"
        else:
            seconds = 3.0 if args.smoke else 30.0
            clip, described = Path(folder) / "synthesized.wav", f"synthesized {seconds:g} s, seed 0"
            sf.write(clip, record.synthesized(seconds), record.RATE, subtype="PCM_16")
        print(f"{described}, model {args.model}, load average {os.getloadavg()}", flush=True)
        parts = [explainer_seconds(names, args.model, clip) for _ in range(args.repeat)]
        explain, windows = {name: fastest([run[name] for run, _ in parts]) for name in names}, parts[0][1]
        command = {} if args.smoke else {name: fastest([command_seconds(name, args.model, clip, Path(folder) / str(run))
                                                        for run in range(args.repeat)]) for name in names}
    figures = {"input": described, "model": args.model, "windows": windows, "repeat": args.repeat,
               "explainers": {name: {"explainer_s": explain[name], "command_s": command.get(name),
                                     "options": registry().get("explainers", name).options} for name in names}}
    record.append("explainer_times", figures, args.smoke)


if __name__ == "__main__":
    main()
