"""Every code sample in the docs runs: the ```python blocks of docs/*.md and README.md, and the
quickstart's ```bash blocks (the commands a new user types first).

Conventions for whoever writes a page:

- A sample runs alone, in a fresh interpreter (or bash), in a temporary folder where ``examples/`` and
  ``.venv/`` are the repository's: ``examples/example.ogg`` and ``.venv/bin/specinterp`` resolve, and what
  the sample writes stays out of the checkout.
- A comment line ``# needs: gtzan`` runs the sample only where the GTZAN copy is (``$SPECINTERP_GTZAN``, or
  ``../shared/gtzan``; the variable is set for the sample); ``# needs: example-plugin`` runs it with
  ``examples/specinterp-loudness`` installed (into a folder of the test's, on ``PYTHONPATH``);
  ``# needs: network`` (pip installs) never runs here, the tests being offline. A need is the first word
  of each comma-separated part (words after it are for the reader). Other needs are refused, so a typo
  cannot skip a sample silently.
- Output, pseudo-code and sketches go in ```console, ```text or unlabelled blocks, which are not run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from conftest import REPO, SHARED_GTZAN

PAGES = sorted((REPO / "docs").glob("*.md")) + [REPO / "README.md"]
SHELL_PAGES = {"quickstart.md"}  # pages whose ```bash samples run too
KNOWN_NEEDS = {"gtzan", "network", "example-plugin"}
EXAMPLE_PLUGIN = REPO / "examples" / "specinterp-loudness"
OPENING = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^\s`]*)")
NEEDS = re.compile(r"^#[ \t]*needs:[ \t]*(.+)$", re.MULTILINE)
TIMEOUT = 120  # seconds per sample; the slowest today takes a few


@dataclass(frozen=True)
class Sample:
    """One fenced block: the page it is on, the line its fence opens on, its language and its code."""

    page: Path
    line: int
    language: str
    code: str

    @property
    def name(self) -> str:
        return f"{self.page.name}:{self.line}"

    @property
    def needs(self) -> set[str]:
        return {part.split()[0] for found in NEEDS.findall(self.code) for part in found.split(",") if part.strip()}


def fenced_blocks(page: Path) -> list[Sample]:
    """Every fenced block of a Markdown page, its lines dedented by the fence's indent."""
    blocks, lines = [], page.read_text(encoding="utf-8").splitlines()
    index = 0
    while index < len(lines):
        opening = OPENING.match(lines[index])
        if opening is None:
            index += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        closing = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        end = next((i for i in range(index + 1, len(lines)) if closing.match(lines[i])), len(lines))
        body = [line[len(indent):] if line.startswith(indent) else line.lstrip() for line in lines[index + 1 : end]]
        blocks.append(Sample(page, index + 1, opening["info"].lower(), "\n".join(body) + "\n"))
        index = end + 1
    return blocks


def runnable(sample: Sample) -> bool:
    """Python samples everywhere; bash samples on the pages in ``SHELL_PAGES``."""
    return sample.language == "python" or (sample.language == "bash" and sample.page.name in SHELL_PAGES)


SAMPLES = [sample for page in PAGES for sample in fenced_blocks(page) if runnable(sample)]


def sample_folder(tmp_path: Path) -> Path:
    """A working folder where the docs' relative paths (``examples/``, ``.venv/``) reach the repository's."""
    (tmp_path / "examples").symlink_to(REPO / "examples", target_is_directory=True)
    (tmp_path / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    return tmp_path


@pytest.fixture(scope="module")
def example_plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding ``examples/specinterp-loudness`` installed by pip (offline: no build isolation)."""
    site = tmp_path_factory.mktemp("example-plugin")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(EXAMPLE_PLUGIN)], check=True, capture_output=True)
    return site


def sample_environment(tmp_path: Path, site: Path | None) -> dict[str, str]:
    """The test's environment, with the interpreter's scripts first on PATH, a headless Matplotlib, a
    private feature cache and, when given, an installed plugin's folder on PYTHONPATH."""
    env = dict(os.environ, MPLBACKEND="Agg", SPECINTERP_CACHE=str(tmp_path / ".cache"),
               SPECINTERP_GTZAN=str(SHARED_GTZAN))
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    if site is not None:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    return env


def skip_reason(sample: Sample) -> str | None:
    """Why this sample cannot run here, or None."""
    unknown = sample.needs - KNOWN_NEEDS
    assert not unknown, f"{sample.name}: unknown '# needs:' {sorted(unknown)} (known: {sorted(KNOWN_NEEDS)})"
    if "network" in sample.needs:
        return f"{sample.name} needs the network (it installs packages); the tests are offline"
    if "gtzan" in sample.needs and not SHARED_GTZAN.is_dir():
        return f"{sample.name} needs the GTZAN copy, absent at {SHARED_GTZAN} (set SPECINTERP_GTZAN)"
    return None


def command(sample: Sample, folder: Path) -> list[str]:
    """The command line that runs the sample in ``folder`` (the code written to a file there, so a
    traceback names its lines)."""
    if sample.language == "python":
        script = folder / "sample.py"
        script.write_text(sample.code, encoding="utf-8")
        return [sys.executable, str(script)]
    return ["bash", "-euo", "pipefail", "-c", sample.code]


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda sample: sample.name)
def test_sample_runs(sample: Sample, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    reason = skip_reason(sample)
    if reason:
        pytest.skip(reason)
    folder = sample_folder(tmp_path)
    site = request.getfixturevalue("example_plugin_site") if "example-plugin" in sample.needs else None
    result = subprocess.run(command(sample, folder), check=False, cwd=folder, env=sample_environment(tmp_path, site),
                            capture_output=True, text=True, timeout=TIMEOUT)
    assert result.returncode == 0, (f"{sample.name} exited {result.returncode}:\n{sample.code}\n"
                                    f"stdout:\n{result.stdout[-3000:]}\nstderr:\n{result.stderr[-3000:]}")


def test_samples_are_found() -> None:
    """The collector sees the samples the docs are known to hold (a broken parser would run none)."""
    names = {sample.page.name for sample in SAMPLES}
    assert {"quickstart.md", "own-model.md", "plugins.md", "api.md"} <= names
    assert any(sample.language == "bash" and not sample.needs for sample in SAMPLES)


def test_fenced_blocks_reads_indented_and_labelled_fences(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("text\n\n- item\n\n    ```python\n    x = 1\n    ```\n\n````console\n$ ```\n````\n"
                    "```bash\n# needs: gtzan, network (it installs)\nspecinterp plugins\n```\n", encoding="utf-8")
    blocks = fenced_blocks(page)
    assert [(block.line, block.language) for block in blocks] == [(5, "python"), (9, "console"), (12, "bash")]
    assert blocks[0].code == "x = 1\n"
    assert blocks[1].code == "$ ```\n"
    assert blocks[2].needs == {"gtzan", "network"}
