"""Whole-process time of ``specinterp explain --explainer cam`` on a 3-minute song, beside ``import torch, torchaudio``.

    python benchmarks/startup.py [--seconds 180] [--repeat 5] [--explainer cam] [--smoke]

The song is ``examples/example.ogg`` (20 s) looped to the length asked, written as a 22050 Hz WAV. Each
repeat runs, in fresh child processes one after the other, ``python -c "import torch, torchaudio"`` and
``specinterp explain`` (all renderers, a fresh --out); the least of the repeats is kept for each, and
our own cost is their difference (the issue's target: <= 2.5 s). A third child runs the same
explanation in-process with each stage timed (load plugins and model, decode, log-mel, predict,
explain, render) so the difference can be read. ``--smoke``: a 3 s song, one repeat, not recorded.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

import record

EXAMPLE = record.REPO / "examples" / "example.ogg"

STAGES = r"""
import json, sys, time
marks = [("start", time.perf_counter())]
def mark(name): marks.append((name, time.perf_counter()))
import torch, torchaudio; mark("import torch, torchaudio")
from specinterp import api, audio, frontend, inference, samples; mark("import specinterp")
loaded = api.load_model("camcnn"); front = loaded.frontend; mark("plugins and model")
waveform = samples.collect(audio.stream(sys.argv[1], front.sample_rate, None), front.sample_rate); mark("decode")
spectrogram = frontend.log_mel(waveform, front); mark("log-mel")
prediction, windows = inference.predict(loaded.module, spectrogram, loaded.classes, None, front); mark("predict")
method = api.registry().get("explainers", sys.argv[3])
api.song_maps(method, loaded, windows, prediction.index, {}); mark("explain")
explanation = api.explain(waveform, loaded, sys.argv[3])
mark("(explain again, whole)")
for name in ("png", "html"):
    api.render(explanation, sys.argv[2], (name,)); mark(f"render {name}")
print(json.dumps({b[0]: round(b[1] - a[1], 3) for a, b in zip(marks, marks[1:])}))
"""


def looped_song(path: Path, seconds: float) -> None:
    """``examples/example.ogg`` repeated to ``seconds``, as a 16-bit WAV."""
    clip, rate = sf.read(EXAMPLE, dtype="float32")
    sf.write(path, np.resize(clip, int(seconds * rate)), rate, subtype="PCM_16")


def child_seconds(command: list[str]) -> float:
    """Wall seconds of a child process (it must succeed)."""
    began = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--explainer", default="cam")
    parser.add_argument("--smoke", action="store_true", help="3 s song, one repeat, not recorded")
    args = parser.parse_args()
    seconds, repeat = (3.0, 1) if args.smoke else (args.seconds, args.repeat)
    with tempfile.TemporaryDirectory() as folder:
        song = Path(folder) / "song.wav"
        looped_song(song, seconds)
        imports, explains = [], []
        for run in range(repeat):
            imports.append(child_seconds([sys.executable, "-c", "import torch, torchaudio"]))
            explains.append(child_seconds([sys.executable, "-m", "specinterp", "explain", "--explainer", args.explainer,
                                           "--out", str(Path(folder) / f"out{run}"), str(song)]))
            print(f"run {run + 1}: import {imports[-1]:.2f} s, explain {explains[-1]:.2f} s", flush=True)
        staged = subprocess.run([sys.executable, "-c", STAGES, str(song), str(Path(folder) / "staged"), args.explainer],
                                check=True, capture_output=True, text=True)
        stages = json.loads(staged.stdout.strip().splitlines()[-1])
    figures = {"input": f"examples/example.ogg looped to {seconds:g} s, WAV 22050 Hz", "explainer": args.explainer,
               "repeat": repeat, "import_torch_s": round(min(imports), 2), "explain_s": round(min(explains), 2),
               "own_s": round(min(explains) - min(imports), 2), "stages_s": stages}
    for name, value in stages.items():
        print(f"  {name:<26} {value:6.2f} s")
    print(f"explain {figures['explain_s']} s - import torch, torchaudio {figures['import_torch_s']} s = "
          f"{figures['own_s']} s of our own (target <= 2.5 s)")
    record.append("startup", figures, args.smoke)


if __name__ == "__main__":
    main()
