import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import REPO
from specinterp import plugins
from specinterp.cli import cli


def _write_dist(site: Path, dist: str, module: str, source: str, ep_name: str) -> None:
    """An installed distribution as pip lays it out: the module plus a .dist-info with entry points."""
    site.mkdir(parents=True, exist_ok=True)
    (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{dist.replace('-', '_')}-0.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.3\n")
    (info / "entry_points.txt").write_text(f"[specinterp]\n{ep_name} = {module}\n")


@pytest.fixture
def extra_site(tmp_path, monkeypatch):
    site = tmp_path / "site"
    monkeypatch.syspath_prepend(str(site))
    plugins.reset()
    yield site
    plugins.reset()


def test_builtins_load_through_entry_points():
    reg = plugins.registry()
    assert {"camcnn", "cam", "gtzan", "png", "wav"} <= set(reg.plugins)
    assert reg.plugins["camcnn"].distribution == "specinterp"
    assert reg.plugins["cam"].provides == {"explainers": ["cam"]}
    assert all(reg.plugins[name].error is None for name in ("camcnn", "cam", "gtzan", "png", "wav"))


def test_broken_plugins_are_recorded_and_skipped(extra_site):
    _write_dist(extra_site, "broken-import", "broken_import", "raise RuntimeError('boom at import')\n", "broken1")
    _write_dist(extra_site, "broken-hook", "broken_hook", """
        from specinterp import hookimpl
        @hookimpl
        def register_explainers(register):
            raise ValueError('bad hook')
    """, "broken2")
    _write_dist(extra_site, "wrong-type", "wrong_type", """
        from specinterp import hookimpl
        @hookimpl
        def register_models(register):
            register(object())
    """, "broken3")
    reg = plugins.registry()
    assert reg.plugins["broken1"].error == "RuntimeError: boom at import"
    assert reg.plugins["broken2"].error == "ValueError: bad hook"
    assert "expects ModelPlugin" in reg.plugins["broken3"].error
    assert "cam" in reg.explainers and "camcnn" in reg.models  # the rest keep working
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0
    listed = {p["name"]: p for p in json.loads(result.output)}
    assert listed["broken1"]["distribution"] == "broken-import" and listed["broken1"]["version"] == "0.3"
    assert listed["cam"]["provides"] == {"explainers": ["cam"]}
    text = CliRunner().invoke(cli, ["plugins"]).output
    assert "ERROR RuntimeError: boom at import" in text


def test_unknown_names_give_one_line_errors():
    result = CliRunner().invoke(cli, ["explain", "--explainer", "nonesuch", str(REPO / "examples" / "example.ogg")])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: unknown explainer 'nonesuch' (available: ")


def test_third_party_package_installed_with_pip_provides_an_explainer(tmp_path, song):
    """pip-installs examples/specinterp-loudness into a throwaway folder; `specinterp explain` uses it."""
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(REPO / "examples" / "specinterp-loudness")], check=True,
                   capture_output=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    listing = subprocess.run([sys.executable, "-m", "specinterp", "plugins", "--json"], env=env,
                             capture_output=True, text=True, check=True).stdout
    entry = {p["name"]: p for p in json.loads(listing)}["loudness"]
    assert entry["distribution"] == "specinterp-loudness" and entry["provides"] == {"explainers": ["loudness"]}
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "specinterp", "explain", "--explainer", "loudness", "--out", str(out),
                          str(song)], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert (out / "song.loudness.png").stat().st_size > 10_000
    assert (out / "song.loudness.wav").is_file()
