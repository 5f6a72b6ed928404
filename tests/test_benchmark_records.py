"""The issue-13 benchmark scripts run in ``--smoke`` mode and docs/benchmarks.md matches the records."""

from __future__ import annotations

import subprocess
import sys

from test_benchmark_smoke import REPO, smoke_record


def test_startup_smoke() -> None:
    record = smoke_record("startup.py")
    assert record["explain_s"] > record["import_torch_s"] > 0
    assert record["own_s"] == round(record["explain_s"] - record["import_torch_s"], 2)
    assert {"plugins and model", "predict", "explain", "render png", "render html"} <= set(record["stages_s"])


def test_memory_smoke() -> None:
    record = smoke_record("memory.py")
    assert record["peak_rss_mib"] > 100 and record["wall_s"] > 0 and record["cpu_s"] > 0
    assert {"long.cam.png", "long.cam.html", "long.cam.wav", "long.cam.complement.wav"} <= set(record["written"])


def test_report_size_smoke() -> None:
    record = smoke_record("report_size.py")
    embed, link = record["modes"]["embed"], record["modes"]["link"]
    assert embed["html_bytes"] > link["html_bytes"]  # the embedded page holds the audio
    assert "song.original.wav" in link["files"] and "song.original.wav" not in embed["files"]


def test_explainer_times_smoke() -> None:
    record = smoke_record("explainer_times.py", "--explainers", "cam", "occlusion")
    assert set(record["explainers"]) == {"cam", "occlusion"}
    assert record["explainers"]["occlusion"]["options"]["stride"] == [8, 16]
    assert all(e["explainer_s"]["wall"] > 0 for e in record["explainers"].values())


def test_docs_benchmarks_is_generated_from_the_records() -> None:
    run = subprocess.run([sys.executable, "benchmarks/make_docs.py", "--check"], cwd=REPO, capture_output=True,
                         text=True)
    assert run.returncode == 0, run.stderr or run.stdout
