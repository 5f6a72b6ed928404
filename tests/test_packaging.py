"""Packaging conventions: one version everywhere (pyproject, the package, the CLI, the changelog), PEP 561."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import specinterp
from specinterp.cli import cli

REPO = Path(__file__).resolve().parents[1]
SEMVER = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)")
RELEASE = re.compile(r"^## \[(?P<version>[^\]]+)\] - (?P<date>\d{4}-\d{2}-\d{2})$", re.MULTILINE)


def pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def test_one_semantic_version_in_pyproject_package_cli_and_changelog():
    version = pyproject()["project"]["version"]
    assert SEMVER.fullmatch(version), version
    releases = [m["version"] for m in RELEASE.finditer((REPO / "CHANGELOG.md").read_text())]
    assert releases and releases[0] == version, f"CHANGELOG.md's newest release is {releases[:1]}, pyproject {version}"
    assert releases == sorted(releases, key=lambda v: tuple(map(int, v.split("."))), reverse=True)
    assert specinterp.__version__ == version
    result = CliRunner().invoke(cli, ["--version"], prog_name="specinterp")
    assert result.exit_code == 0 and result.output.strip() == f"specinterp, version {version}", (
        f"{result.output.strip()!r}: reinstall (pip install -e .) after changing the version")


def test_the_package_is_typed_and_installs_its_marker():
    assert (REPO / "specinterp" / "py.typed").is_file()
    assert "py.typed" in pyproject()["tool"]["setuptools"]["package-data"]["specinterp"]
