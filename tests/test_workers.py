"""explain over many files: worker processes write what one process writes, failures stay one line, torchrun's
ranks write each file once into their own manifests, and the throughput benchmark runs."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from conftest import REPO, SR, tone_mix
from specinterp import batch, parallel
from specinterp.outputs import MANIFEST, Manifest

SONGS = [f"song{i}.wav" for i in range(4)]
THROUGHPUT = re.compile(r"^explained 4 files \(0:00:08 of audio\) in \d+\.\d s: \d+\.\d\d files/s, \d+\.\dx real time$",
                        re.MULTILINE)


def specinterp(*args, env: dict | None = None,
               module: tuple[str, ...] = ("-m", "specinterp")) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *module, *map(str, args)], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def explain(out: Path, *args, render: str = "png,wav", env: dict | None = None) -> subprocess.CompletedProcess:
    return specinterp("explain", "--explainer", "cam", "--render", render, "--out", out, *args, env=env)


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / MANIFEST).read_text().splitlines()]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def music(tmp_path_factory) -> Path:
    """Four 2 s songs and a file that is not audio."""
    folder = tmp_path_factory.mktemp("music")
    for i, name in enumerate(SONGS):
        sf.write(folder / name, tone_mix(2.0, (220.0 * (1 + i), 1760.0), seed=i), SR)
    (folder / "broken.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEnot audio at all")
    return folder


def test_two_workers_write_what_one_process_writes(music, tmp_path):
    alone, pooled = tmp_path / "alone", tmp_path / "pooled"
    first, second = explain(alone, music), explain(pooled, music, "--workers", 2)
    for result in (first, second):
        assert result.returncode == 1 and "Traceback" not in result.stderr
        assert "4 done, 1 failed:\n" in result.stderr
        assert f"  {music / 'broken.wav'}: cannot decode audio" in result.stderr
        assert THROUGHPUT.search(result.stderr), result.stderr[-500:]
    outputs = sorted(f"song{i}.cam.{kind}" for i in range(4) for kind in ("png", "wav"))
    assert files_under(alone) == files_under(pooled) == sorted(outputs + [MANIFEST])
    for name in outputs:
        if name.endswith(".png"):
            assert (alone / name).read_bytes() == (pooled / name).read_bytes(), name
        else:
            assert np.array_equal(sf.read(alone / name)[0], sf.read(pooled / name)[0]), name
    assert records(alone) == records(pooled)  # same inputs, jobs and outputs, in input order
    assert second.stdout.replace(str(pooled), "OUT") == first.stdout.replace(str(alone), "OUT")


KILLER = '''
import os
import signal
from pathlib import Path

from specinterp import hookimpl
from specinterp.interfaces import Renderer


class Killer(Renderer):
    """Kills its own process on songs named die* (as the out-of-memory killer would); else writes the label."""

    name = "killer"
    suffix = ".txt"

    def render(self, explanation, out_dir):
        if Path(explanation.source).name.startswith("die"):
            os.kill(os.getpid(), signal.SIGKILL)
        target = Path(out_dir) / f"{explanation.stem}.{explanation.explainer}.txt"
        target.write_text(explanation.prediction.label)
        return [target]


@hookimpl
def register_renderers(register):
    register(Killer())
'''


def test_a_worker_that_dies_fails_its_file_and_the_run_goes_on(tmp_path):
    site = tmp_path / "site"
    info = site / "killer_plugin-0.1.dist-info"
    info.mkdir(parents=True)
    (site / "killer_plugin.py").write_text(textwrap.dedent(KILLER))
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: killer-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[specinterp]\nkiller = killer_plugin\n")
    (tmp_path / "in").mkdir()
    for i, name in enumerate(["die", "m1", "m2", "m3", "m4", "m5", "m6"]):  # in this order: die, then 2 x 2 in flight
        sf.write(tmp_path / "in" / f"{name}.wav", tone_mix(1.0, (330.0 * (1 + i),), seed=i), SR)
    result = explain(tmp_path / "out", tmp_path / "in", "--workers", 2, render="killer",
                     env={"PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))})
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr[-1500:]
    assert f"  {tmp_path / 'in' / 'die.wav'}: {parallel.WORKER_DIED}" in result.stderr
    assert {"m4.cam.txt", "m5.cam.txt", "m6.cam.txt"} <= set(files_under(tmp_path / "out"))  # handed to new workers


def test_two_torchrun_ranks_write_each_file_once_and_resume_skips_them(music, tmp_path):
    out = tmp_path / "out"
    run = specinterp("--nproc-per-node", 2, "--master-port", free_port(), "-m", "specinterp", "explain", "--explainer",
                     "cam", "--render", "wav", "--out", out, music, module=("-m", "torch.distributed.run"))
    assert run.returncode == 1, run.stderr[-1500:]  # a rank exited 1 (broken.wav failed); torchrun says so
    assert run.stderr.count("4 done, 1 failed:\n") == 1 and f"  {music / 'broken.wav'}: cannot decode" in run.stderr
    assert run.stderr.count("explained 4 files") == 1  # rank 0 alone sums up, for both ranks
    wavs = [f"song{i}.cam.wav" for i in range(4)]
    assert all(run.stdout.count(f"wrote {out / wav}\n") == 1 for wav in wavs), run.stdout
    assert files_under(out) == sorted(wavs + [".specinterp-manifest.rank0.jsonl", ".specinterp-manifest.rank1.jsonl"])
    ranks = [Manifest(out, rank).path.read_text().splitlines() for rank in (0, 1)]
    assert sorted(json.loads(line)["outputs"][0] for lines in ranks for line in lines) == wavs and all(ranks)
    resumed = explain(out, music, "--resume", render="wav")
    assert resumed.returncode == 1 and "0 done, 4 done before (--resume), 1 failed:" in resumed.stderr
    assert "wrote" not in resumed.stdout and files_under(out)[-4:] == wavs


def test_items_are_handed_out_in_order_at_most_ahead_at_a_time():
    items = [batch.Item(Path(f"{i}.wav"), Path(), str(i)) for i in range(12)]
    running: list[int] = []
    most = 0

    def start(item):
        nonlocal most
        running.append(int(item.stem))
        most = max(most, len(running))
        return parallel.Task(None, Path(item.stem))

    handed = []
    for item, value in parallel.ordered(items, lambda i: ("skipped", "") if int(i.stem) % 3 == 0 else None, start, 3):
        if isinstance(value, parallel.Task):
            running.remove(int(item.stem))
        handed.append(item.stem)
    assert handed == [str(i) for i in range(12)] and most == 3


def test_each_rank_writes_its_own_manifest_and_all_are_read(tmp_path):
    song = tmp_path / "a.wav"
    sf.write(song, tone_mix(0.5, (440.0,), seed=1), SR)
    Manifest(tmp_path).add(song, {"explainer": "cam"}, [tmp_path / "a.cam.wav"])
    Manifest(tmp_path, rank=1).add(song, {"explainer": "cam"}, [tmp_path / "new" / "a.cam.wav"])
    Manifest(tmp_path, rank=0).add(song, {"explainer": "gradcam"}, [tmp_path / "a.gradcam.wav"])
    assert sorted(p.name for p in tmp_path.glob(".specinterp-manifest*")) == [
        ".specinterp-manifest.jsonl", ".specinterp-manifest.rank0.jsonl", ".specinterp-manifest.rank1.jsonl"]
    manifest = Manifest(tmp_path)
    assert manifest.last(song, {"explainer": "cam"})["outputs"] == ["new/a.cam.wav"]  # a rank's file is read last
    assert len(manifest.records) == 3
    (tmp_path / "a.gradcam.wav").write_bytes((tmp_path / "a.wav").read_bytes())
    items, _ = batch.scan([tmp_path], tmp_path / "out")
    assert [item.source.name for item in items] == ["a.wav"]  # the output listed by rank 0's manifest is skipped


def test_throughput_benchmark_smoke():
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "throughput.py"), "--smoke"], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-1500:]
    record = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("{")))
    assert record["benchmark"] == "throughput" and set(record["workers"]) == {"1", "2"}
    runs = record["workers"].values()
    assert all(run["files_per_s"] > 0 and run["reported"].startswith("explained 3 files") for run in runs)
    assert "appended" not in done.stdout
