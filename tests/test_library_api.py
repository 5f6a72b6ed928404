"""One API under the CLI: explain_many, --json, -q, plugin errors turned into user errors in one place."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import specinterp
from conftest import SR, tone_mix
from specinterp.interfaces import SpecinterpError, plugin_errors


def songs(folder: Path, count: int = 2) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"song{i}.wav"
        sf.write(path, tone_mix(3.0, (220.0 * (i + 1), 880.0), seed=i), SR)
        paths.append(path)
    return paths


def test_explain_many_gives_a_result_per_input_in_order_then_the_tally(tmp_path):
    files = songs(tmp_path / "in")
    missing = tmp_path / "in" / "absent.wav"
    run = specinterp.explain_many([files[0], missing, files[1]], tmp_path / "out", renderers=("png",))
    results = list(run)
    assert [r.source for r in results] == files  # the missing path gives no file: it is a failure of the scan
    assert all(r.status == "done" and r.prediction is not None for r in results)
    assert all(p.exists() and p.parent == tmp_path / "out" for r in results for p in r.written)
    assert run.tally.counts["done"] == 2 and run.tally.failures == [(missing, "no such file or folder")]
    assert run.exit_code() == 1
    again = list(specinterp.explain_many(files, tmp_path / "out", renderers=("png",)))
    assert [r.status for r in again] == ["skipped", "skipped"] and "already explained" in again[0].note
    resumed = list(specinterp.explain_many(files, tmp_path / "out", renderers=("png",), resume=True))
    assert [r.status for r in resumed] == ["earlier", "earlier"]


def test_explain_many_refuses_an_unknown_explainer_before_any_work(tmp_path):
    with pytest.raises(SpecinterpError, match="nope"):
        specinterp.explain_many(songs(tmp_path / "in"), tmp_path / "out", explainer="nope")
    assert not (tmp_path / "out").exists()  # the folder it made is gone again


def run_cli(*args: object) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "specinterp", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def test_json_prints_a_record_per_input_and_the_summary(tmp_path):
    files = songs(tmp_path / "in")
    done = run_cli("explain", "--explainer", "cam", "--render", "png", "--json", "--out", tmp_path / "out",
                   files[0], tmp_path / "absent.wav", files[1])
    assert done.returncode == 1
    lines = [json.loads(line) for line in done.stdout.splitlines()]  # nothing but JSON on stdout
    assert [line["input"] for line in lines[:2]] == [str(f) for f in files]
    assert lines[0]["status"] == "done" and lines[0]["prediction"] and 0 < lines[0]["probability"] <= 1
    assert lines[2] == {"summary": {"done": 2}, "failed": [{"input": str(tmp_path / "absent.wav"),
                                                            "reason": "no such file or folder"}],
                        "audio_seconds": 6.0, "exit_code": 1}


def test_quiet_prints_only_the_summary(tmp_path):
    files = songs(tmp_path / "in")
    done = run_cli("-q", "explain", "--explainer", "cam", "--render", "png", "--out", tmp_path / "out",
                   files[0], tmp_path / "absent.wav", files[1])
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines() == ["2 done, 1 failed:", f"  {tmp_path / 'absent.wav'}: no such file or folder"]
    loud = run_cli("-v", "explain", "--explainer", "cam", "--render", "png", "--overwrite", "--out", tmp_path / "out",
                   *files)
    assert loud.returncode == 0 and "2 file(s) to explain with cam on camcnn" in loud.stderr
    assert loud.stdout.count("  wrote ") == 2


def test_a_plugins_value_error_becomes_one_line_and_other_errors_pass():
    with pytest.raises(SpecinterpError) as caught, plugin_errors("explainer 'x' on model 'y'"):
        raise ValueError("option 'layer': no layer 'conv9'\n(layers: conv1, conv2)")
    assert str(caught.value) == "explainer 'x' on model 'y': option 'layer': no layer 'conv9' (layers: conv1, conv2)"
    with pytest.raises(KeyError), plugin_errors("explainer 'x'"):  # a plugin's bug is not the user's error
        raise KeyError("weights")


def test_an_explainers_bad_option_value_is_the_users_error():
    with pytest.raises(SpecinterpError, match=r"^explainer 'gradcam' on model 'camcnn': .*conv9"):
        specinterp.explain(np.zeros(SR * 3, dtype=np.float32) + 0.01, explainer="gradcam", options={"layer": "conv9"})


def test_the_contracts_do_not_import_the_api():
    code = ("import sys, specinterp.interfaces, specinterp.rendering\n"
            "print('specinterp.api' in sys.modules)")
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert found.strip() == "False"


def test_open_dataset_by_name_needs_a_folder(monkeypatch):
    monkeypatch.delenv("SPECINTERP_GTZAN", raising=False)
    message = r"^dataset 'gtzan' needs a folder: pass --data PATH or set SPECINTERP_GTZAN$"
    with pytest.raises(SpecinterpError, match=message):
        specinterp.open_dataset("gtzan")


def test_assess_is_a_library_call(tmp_path):
    import specinterp.assessment_run  # noqa: F401  (a submodule imported first must not shadow the function)

    lines = []
    result = specinterp.assess("camcnn", "cam", "synthetic", out=tmp_path, limit=2, sanity_clips=1, depths=1,
                               metrics="randomization,deletion-insertion", log=lines.append)
    assert set(result.summary) == {"cam", "random-map"} and result.meta["clips"] == 2
    assert [p.name for p in result.written] == ["assessment.csv", "assessment.json", "curves.png"]
    assert lines[0].startswith("camcnn (") and "2 test clips x 2 explainers" in lines[0]


def test_listen_gives_what_the_network_used_and_ignored(tmp_path):
    path = songs(tmp_path)[0]
    explanation = specinterp.explain(path, explainer="cam")
    used, ignored = specinterp.listen(explanation), specinterp.listen(explanation, "cam", complement=True)
    original, _ = sf.read(path, dtype="float32")
    assert used.shape == ignored.shape == original.shape and used.dtype == np.float32
    assert np.abs(used + ignored - original).max() < 1e-4  # the masks sum to one
    assert 0 < np.abs(used).sum() < np.abs(original).sum()
    with pytest.raises(SpecinterpError, match=r"^no map 'gradcam' in this explanation \(maps: cam\)$"):
        specinterp.listen(explanation, "gradcam")
