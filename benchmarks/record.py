"""What every benchmark script shares: the test music, the provenance of a figure, and its JSON record.

Each script appends one JSON line per run to ``benchmarks/results/<name>.jsonl``::

    {"benchmark": name, "date", "commit", "machine", "load_average_1_5_15", "versions", "command", ...figures}

``benchmarks/make_docs.py`` renders ``docs/benchmarks.md``'s generated section from the last record of
each file. With ``--smoke`` a script runs on a tiny input and records nothing (``append`` prints only).
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
GTZAN = REPO.parent / "shared" / "gtzan"
RATE = 22050


def synthesized(seconds: float, seed: int = 0, rate: int = RATE) -> np.ndarray:
    """Seeded test music: a new chord every second, kick and hi-hat on eighth notes, a little noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    roots = rng.uniform(110, 440, int(np.ceil(seconds)) + 1)[t.astype(int)]
    chord = sum(np.sin(2 * np.pi * roots * ratio * t) for ratio in (1.0, 1.25, 1.5)) / 3
    beat = (t * 4) % 1.0  # phase within an eighth note at 120 bpm
    kick = np.sin(2 * np.pi * 60 * t) * np.exp(-30 * beat) * (np.floor(t * 4) % 2 == 0)
    hat = rng.standard_normal(len(t)) * np.exp(-80 * beat) * 0.3
    return (0.3 * chord + 0.5 * kick + 0.2 * hat + 0.02 * rng.standard_normal(len(t))).astype(np.float32)


def git_commit() -> str:
    """Short commit, ``+dirty`` when tracked files other than the records and the page made from them differ."""
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True, cwd=REPO).stdout.strip()

    dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!benchmarks/results",
                ":!docs/benchmarks.md")
    return git("rev-parse", "--short", "HEAD") + ("+dirty" if dirty else "")


def machine() -> str:
    """Architecture, processor model and core count, e.g. ``x86_64, AMD EPYC 7B13, 2 cores``."""
    model = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.machine()}, {model}, {os.cpu_count()} cores"


def versions(*extra: str) -> dict[str, str]:
    """Python, torch, torchaudio, captum, numpy, specinterp (and ``extra`` distributions) versions; torch's threads."""
    from importlib.metadata import PackageNotFoundError, version

    import torch

    found = {"python": platform.python_version(), "torch_threads": str(torch.get_num_threads())}
    for name in ("torch", "torchaudio", "captum", "numpy", "specinterp", *extra):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "absent"
    return found


def provenance(*extra_versions: str) -> dict:
    """Date, commit, machine, load average, versions and the command line of this run."""
    return {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "commit": git_commit(),
            "machine": machine(), "load_average_1_5_15": [round(v, 2) for v in os.getloadavg()],
            "versions": versions(*extra_versions),
            "command": "python " + " ".join(shlex.quote(a)
                                            for a in [os.path.relpath(sys.argv[0], REPO), *sys.argv[1:]])}


def append(name: str, figures: dict, smoke: bool = False, *extra_versions: str) -> dict:
    """The record of this run (provenance + ``figures``), printed, and unless ``smoke`` appended to
    ``benchmarks/results/<name>.jsonl``."""
    record = {"benchmark": name, **provenance(*extra_versions), **figures}
    print(json.dumps(record))
    if not smoke:
        RESULTS.mkdir(parents=True, exist_ok=True)
        with (RESULTS / f"{name}.jsonl").open("a") as f:
            f.write(json.dumps(record) + "\n")
        print(f"appended to {RESULTS / f'{name}.jsonl'}")
    return record


def last(name: str) -> dict | None:
    """The newest record of benchmark ``name`` (``None`` if none was recorded)."""
    path = RESULTS / f"{name}.jsonl"
    if not path.exists():
        return None
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    return json.loads(lines[-1]) if lines else None
