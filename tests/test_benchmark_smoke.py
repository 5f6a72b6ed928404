"""The side-by-side benchmark scripts run in ``--smoke`` mode: each exits 0, prints its JSON record with
the figures docs/benchmarks.md is made from, and records nothing under benchmarks/results."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"


def results_state() -> dict[str, tuple[int, int]]:
    """Size and modification time of every file under benchmarks/results."""
    if not RESULTS.exists():
        return {}
    return {str(p.relative_to(RESULTS)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in RESULTS.rglob("*") if p.is_file()}


def smoke_record(script: str, *args: str) -> dict:
    """Run ``benchmarks/<script> --smoke`` with this interpreter; its printed record (checked: exit 0, nothing
    recorded)."""
    before = results_state()
    run = subprocess.run([sys.executable, f"benchmarks/{script}", "--smoke", *args], check=False, cwd=REPO,
                         capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr[-2000:]
    assert results_state() == before, "a --smoke run wrote under benchmarks/results"
    records = [json.loads(line) for line in run.stdout.splitlines() if line.startswith('{"benchmark"')]
    assert len(records) == 1, run.stdout[-2000:]
    assert "appended to" not in run.stdout
    return records[0]


def test_peers_smoke() -> None:
    record = smoke_record("peers.py")
    assert record["benchmark"] == "peers" and record["windows"] >= 1
    assert {"specinterp", "specinterp_song_maps", "captum"} <= set(record["seconds"])
    assert record["ratio_specinterp_captum"] > 0
    assert record["pearson_specinterp_captum"]["mean"] > 0.999  # the same maps: a like-for-like comparison
    if record["pytorch_grad_cam_skipped"] is None:
        assert record["pearson_specinterp_pytorch_grad_cam"]["mean"] > 0.99
        assert record["ratio_specinterp_pytorch_grad_cam"] > 0


def test_inversion_smoke() -> None:
    record = smoke_record("inversion.py")
    assert record["benchmark"] == "inversion" and record["griffin_lim_iterations"] == 4
    assert record["specinterp"]["max_spectral_convergence"] < 1e-4  # an all-ones mask gives the input back
    assert record["griffin_lim"]["clips"] == 1 and record["griffin_lim"]["spectral_convergence_range"][0] > 0.01
    assert 0 < record["ratio_specinterp_griffin_lim"] < 1


def test_forward_smoke() -> None:
    record = smoke_record("forward.py", "--variants")
    assert record["benchmark"] == "forward" and record["model"] == "camcnn" and record["windows"] == 2
    assert record["forward_gflop"] > 0 and record["bound_s"] > 0 and record["matmul_gflops"] > 0
    assert [layer["kind"] for layer in record["layers"]] == ["Conv2d"] * 5 + ["Linear"]
    ratio = record["forward_s"]["min"] / record["bound_s"]
    assert record["ratio_forward_bound"] == pytest.approx(ratio, rel=0.05, abs=0.01)
    assert "inference_mode + channels_last + batch norm folded" in record["variants"]
