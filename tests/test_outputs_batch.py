"""Outputs and batches through the CLI, as a user runs it (a subprocess each time): outputs never touch
inputs or each other, rescans skip our own outputs, --resume redoes only what failed, any exception
fails one file and the batch goes on, --out is checked before any work."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from urllib.parse import quote

import pytest
import soundfile as sf

from conftest import SR, default_sigint, tone_mix
from specinterp import batch
from specinterp.outputs import MANIFEST, Manifest, atomic_write


def specinterp(*args, env: dict | None = None) -> subprocess.CompletedProcess:
    """``python -m specinterp ARGS`` in a subprocess; its exit code, stdout and stderr."""
    return subprocess.run([sys.executable, "-m", "specinterp", *map(str, args)], check=False, capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=600, preexec_fn=default_sigint)


def song(path: Path, seed: int, seconds: float = 2.0) -> Path:
    """A short seeded tone mix, written where asked (folders created)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, tone_mix(seconds, (220.0 * (1 + seed), 1760.0), seed=seed), SR)
    return path


def explain(*args, env: dict | None = None) -> subprocess.CompletedProcess:
    return specinterp("explain", "--explainer", "cam", "--render", "wav", *args, env=env)


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def no_traceback(result: subprocess.CompletedProcess) -> bool:
    return "Traceback" not in result.stdout + result.stderr


# ---------------------------------------------------------------- outputs never touch inputs or each other

def test_a_users_file_is_never_overwritten(tmp_path):
    folder = tmp_path / "music"
    song(folder / "song.wav", 1)
    recording = song(folder / "song.cam.wav", 2)  # the user's own recording, named like an output
    before = recording.read_bytes()
    result = explain(folder, "--out", folder)
    assert recording.read_bytes() == before
    assert result.returncode == 1 and no_traceback(result)
    assert (f"{folder / 'song.wav'}: its output {folder / 'song.cam.wav'} is an input of this run; "
            "refusing to overwrite it (choose another --out)") in result.stderr
    assert (folder / "song.cam.cam.wav").is_file()  # the recording itself is explained, beside it
    alone = explain(folder / "song.wav", "--out", folder)  # not an input now: an existing file, left alone
    assert recording.read_bytes() == before
    assert alone.returncode == 0 and no_traceback(alone)
    assert f"{folder / 'song.wav'}: skipped: {folder / 'song.cam.wav'} exists; --overwrite replaces it" in alone.stdout
    assert "0 done, 1 skipped, 0 failed" in alone.stderr


def test_outputs_are_distinct_and_a_rescan_skips_them(tmp_path):
    music = tmp_path / "music"
    inputs = [song(music / "albumA" / "01 Intro.wav", 1), song(music / "albumB" / "01 Intro.wav", 2),
              song(music / "song.wav", 3), song(music / "song.ogg", 4)]
    first = explain(music, "--out", music)  # --out inside (here: equal to) the folder scanned
    assert first.returncode == 0, first.stderr
    outputs = ["albumA/01 Intro.cam.wav", "albumB/01 Intro.cam.wav", "song.ogg.cam.wav", "song.wav.cam.wav"]
    assert files_under(music) == sorted([p.relative_to(music).as_posix() for p in inputs] + outputs + [MANIFEST])
    assert first.stdout.count("  wrote ") == 4
    assert len({(music / name).read_bytes() for name in outputs}) == 4
    # a killed run's leftovers: a temporary file and a hidden WAV; neither is an input of the next run
    (music / ".song.wav.cam.wav.x1y2.part").write_bytes(b"half")
    song(music / ".leftover.wav", 5)
    again = explain(music, "--out", music, "--overwrite")
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("  wrote ") == 4  # the four songs, not the four outputs
    assert not list(music.rglob("*.cam.cam.wav")) and not (music / ".leftover.cam.wav").exists()
    assert "song.wav.cam.png, song.ogg.cam.png" in specinterp("explain", "--help").stdout  # the rule, documented


def test_names_are_unique_per_output_folder():
    found = [(Path("m/song.wav"), Path()), (Path("m/Song.ogg"), Path()), (Path("m/song.wav.mp3"), Path()),
             (Path("a/x.wav"), Path("d")), (Path("b/x.wav"), Path("d")), (Path("m/other.wav"), Path())]
    assert [item.stem for item in batch._named(found)] == ["song.wav", "Song.ogg", "song.wav.mp3", "x.wav.1",
                                                          "x.wav.2", "other"]


def test_renderers_name_their_files_by_the_stem_given(tmp_path, monkeypatch):
    from specinterp import api
    from specinterp_plugins.renderers import html

    explanation = api.explain(song(tmp_path / "song.ogg", 1), "camcnn", "cam")
    monkeypatch.setattr(html, "INLINE_SECONDS", 1.0)  # the page links the WAVs beside it by name
    written = api.render(explanation, tmp_path / "out", ("png", "html"), stem="song.ogg")
    assert [p.name for p in written] == ["song.ogg.cam.png", "song.ogg.original.wav", "song.ogg.cam.wav",
                                         "song.ogg.cam.complement.wav", "song.ogg.cam.html"]
    page = written[-1].read_text()
    assert all(f'src="{quote(p.name)}"' in page for p in written[1:4])


def test_temporary_files_are_hidden_and_not_audio(tmp_path):
    names = []
    atomic_write(tmp_path / "x.cam.wav", lambda tmp: names.append(tmp.name) or tmp.write_bytes(b"data"))
    assert names[0].startswith(".x.cam.wav.") and names[0].endswith(".part")
    assert [p.name for p in tmp_path.iterdir()] == ["x.cam.wav"]


def test_a_manifest_cut_short_by_a_killed_run_still_reads(tmp_path):
    source = song(tmp_path / "a.wav", 1)
    Manifest(tmp_path).add(source, {"explainer": "cam"}, [tmp_path / "a.cam.wav"])
    with open(tmp_path / MANIFEST, "a") as handle:
        handle.write('{"input": "/elsewhere.wav", "jo')  # killed mid-line
    Manifest(tmp_path).add(source, {"explainer": "gradcam"}, [tmp_path / "sub" / "a.gradcam.wav"])
    manifest = Manifest(tmp_path)
    assert len(manifest.records) == 2
    assert manifest.last(source, {"explainer": "gradcam"})["outputs"] == ["sub/a.gradcam.wav"]
    assert manifest.outputs() == {(tmp_path / "a.cam.wav").resolve(), (tmp_path / "sub" / "a.gradcam.wav").resolve()}


# ---------------------------------------------------------------- batches: failures, --resume

def test_a_batch_with_bad_files_then_resume_redoes_only_those(tmp_path):
    folder, out = tmp_path / "batch", tmp_path / "out"
    for i in range(4):
        song(folder / f"good{i}.wav", i)
    for name in ("bad0.wav", "bad1.wav"):
        (folder / name).write_bytes(b"RIFF\x10\x00\x00\x00WAVEnot audio at all")
    first = explain(folder, "--out", out)
    assert first.returncode == 1 and no_traceback(first)
    assert files_under(out) == sorted([f"good{i}.cam.wav" for i in range(4)] + [MANIFEST])
    assert "4 done, 2 failed:" in first.stderr
    assert all(f"{folder / name}: " in first.stderr for name in ("bad0.wav", "bad1.wav"))
    stamps = {name: (out / name).stat().st_mtime_ns for name in files_under(out) if name != MANIFEST}
    song(folder / "bad0.wav", 7)  # repaired
    song(folder / "good1.wav", 8)  # changed since its explanation: redone
    second = explain(folder, "--out", out, "--resume")
    assert second.returncode == 1 and no_traceback(second)
    assert "2 done, 3 done before (--resume), 1 failed:" in second.stderr
    assert f"{folder / 'bad1.wav'}: " in second.stderr and f"{folder / 'bad0.wav'}: " in second.stdout
    assert "good0.wav" not in second.stdout and "good2.wav" not in second.stdout
    assert {name: (out / name).stat().st_mtime_ns for name in stamps if name != "good1.cam.wav"} == \
        {name: stamp for name, stamp in stamps.items() if name != "good1.cam.wav"}
    assert (out / "good1.cam.wav").stat().st_mtime_ns != stamps["good1.cam.wav"] and (out / "bad0.cam.wav").is_file()
    plain = explain(folder, "--out", out)  # no flag: nothing is overwritten, each skip is said
    assert plain.returncode == 1 and plain.stdout.count("skipped: already explained into") == 5


# ---------------------------------------------------------------- any exception fails one file only

PLUGIN = '''
import os
import signal
import time
from pathlib import Path

import torch

from specinterp import hookimpl
from specinterp.interfaces import Explainer, Renderer

CALLS = []


def maps(windows):
    generator = torch.Generator().manual_seed(len(CALLS))
    return {"noise": torch.rand(len(windows), windows.shape[2], windows.shape[3], generator=generator)}


class Boom(Explainer):
    """Fails its first call the way torch does, then works."""

    name = "boom"

    def attribute(self, model, windows, target, **options):
        CALLS.append(1)
        if len(CALLS) == 1:
            raise RuntimeError("CUDA error: an illegal memory access was encountered\\nmore detail")
        return maps(windows)


class Cautious(Explainer):
    """Works, and leaves a caution on the prediction."""

    name = "cautious"

    def attribute(self, model, windows, target, **options):
        return maps(windows)

    def describe(self, explanation):
        explanation.prediction.warning = "the input is nearly silent; the prediction means little"
        return ""


class Fragile(Renderer):
    """Runs out of memory on songs named heavy*, and is interrupted (a real SIGINT) on songs named stop*."""

    name = "fragile"
    suffix = ".txt"

    def render(self, explanation, out_dir):
        name = Path(explanation.source).name
        if name.startswith("heavy"):
            raise MemoryError()
        if name.startswith("stop"):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        target = Path(out_dir) / f"{explanation.stem}.{explanation.explainer}.txt"
        target.write_text(explanation.prediction.label)
        return [target]


@hookimpl
def register_explainers(register):
    register(Boom())
    register(Cautious())


@hookimpl
def register_renderers(register):
    register(Fragile())
'''


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory) -> dict:
    """PYTHONPATH holding an installed-looking distribution with the plugins above."""
    site = tmp_path_factory.mktemp("site")
    (site / "fragile_plugins.py").write_text(textwrap.dedent(PLUGIN))
    info = site / "fragile_plugins-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fragile-plugins\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[specinterp]\nfragile = fragile_plugins\n")
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}


def test_an_exception_from_an_explainer_or_renderer_fails_that_file_only(tmp_path, plugin_env):
    files = [song(tmp_path / "in" / name, i) for i, name in enumerate(["a.wav", "b.wav", "heavy.wav", "z.wav"])]
    out = tmp_path / "out"
    result = specinterp("explain", "--explainer", "boom", "--render", "wav,fragile", "--out", out, *files,
                        env=plugin_env)
    assert result.returncode == 1 and no_traceback(result)
    assert "2 done, 2 failed:" in result.stderr
    assert (f"  {files[0]}: explainer 'boom' raised RuntimeError: CUDA error: an illegal memory access was "
            "encountered more detail") in result.stderr
    assert f"  {files[2]}: out of memory in renderer 'fragile' (MemoryError)" in result.stderr
    assert files_under(out) == sorted(["b.boom.noise.wav", "b.boom.txt", "z.boom.noise.wav", "z.boom.txt", MANIFEST])


def test_interrupt_stops_the_run_and_leaves_no_partial_output(tmp_path, plugin_env):
    files = [song(tmp_path / "in" / name, i) for i, name in enumerate(["a.wav", "stop.wav", "z.wav"])]
    out = tmp_path / "out"
    result = specinterp("explain", "--explainer", "cam", "--render", "wav,fragile", "--out", out, *files,
                        env=plugin_env)
    assert result.returncode == 130 and no_traceback(result)
    assert result.stderr.strip().splitlines()[-1] == (
        "Error: interrupted with 1 of 3 files processed; the file in progress left no output "
        "(rerun with --resume to go on)")
    assert [p.name for p in out.iterdir()] and files_under(out) == sorted(["a.cam.wav", "a.cam.txt", MANIFEST])
    assert "z.wav" not in result.stdout


def test_the_prediction_warning_is_printed_under_the_prediction(tmp_path, plugin_env):
    result = specinterp("explain", "--explainer", "cautious", "--render", "fragile", "--out", tmp_path / "out",
                        song(tmp_path / "quiet.wav", 3), env=plugin_env)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{tmp_path / 'quiet.wav'}: ")
    assert lines[1] == "  warning: the input is nearly silent; the prediction means little"


# ---------------------------------------------------------------- --out and inputs checked first

@pytest.mark.parametrize("where, message", [
    ("a-file", "Error: --out {out}: is a file, not a folder"),
    ("a-file/sub", "Error: --out {out}: {base}/a-file is a file, not a folder"),
])
def test_a_bad_out_is_one_line_before_any_work(tmp_path, where, message):
    (tmp_path / "a-file").write_text("mine")
    out = tmp_path / where
    result = explain(song(tmp_path / "x.wav", 1), "--out", out)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip() == message.format(out=out, base=tmp_path)
    assert (tmp_path / "a-file").read_text() == "mine"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes in read-only folders")
def test_a_read_only_out_is_one_line_before_any_work(tmp_path):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        result = explain(song(tmp_path / "x.wav", 1), "--out", out)
    finally:
        out.chmod(0o755)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().startswith(f"Error: --out {out}: cannot write in this folder (")


def test_no_audio_and_missing_paths_are_sentences(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("no audio here")
    nothing = explain(empty, "--out", tmp_path / "out")
    assert nothing.returncode == 2 and no_traceback(nothing)
    assert nothing.stderr.strip().startswith(f"Error: {empty}: no audio files in this folder (looked for ")
    assert not (tmp_path / "out").exists()  # the folder it made for nothing is gone again
    long = song(tmp_path / "long.wav", 2, seconds=4.0)
    missing = explain(song(tmp_path / "x.wav", 1), tmp_path / "missing.ogg", empty, long, "--max-duration", 3,
                      "--out", tmp_path / "out")
    assert missing.returncode == 1 and no_traceback(missing)
    assert "1 done, 3 failed:" in missing.stderr
    assert f"  {tmp_path / 'missing.ogg'}: no such file or folder" in missing.stderr
    assert f"  {empty}: no audio files in this folder" in missing.stderr
    [refused] = [line for line in missing.stderr.splitlines() if line.startswith(f"  {long}: ")]
    assert "more than --max-duration" in refused


def test_several_folders_keep_their_names_under_out(tmp_path):
    """albumA/01 Intro.wav and albumB/01 Intro.wav land in OUT/albumA and OUT/albumB, not numbered side by side."""
    for album in ("albumA", "albumB"):
        (tmp_path / album).mkdir()
        sf.write(tmp_path / album / "01 Intro.wav", tone_mix(1.5, (440.0,), seed=8), SR)
    out = tmp_path / "out"
    result = subprocess.run([sys.executable, "-m", "specinterp", "explain", "--explainer", "cam", "--render", "png",
                             "--out", str(out), str(tmp_path / "albumA"), str(tmp_path / "albumB")],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (out / "albumA" / "01 Intro.cam.png").is_file() and (out / "albumB" / "01 Intro.cam.png").is_file()
