"""The tutorial notebook (examples/tutorial.ipynb) is committed without outputs, matches its generator,
and runs from examples/ showing what its text promises: the explanation's report, the side-by-side
figure, audio players, and the own model's prediction."""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import nbformat
import pytest
from ipykernel.kernelspec import write_kernel_spec
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NOTEBOOK = EXAMPLES / "tutorial.ipynb"
KERNEL = "specinterp-tutorial"
CELL_TIMEOUT = 120  # seconds per cell; the whole notebook takes ~10 s of CPU


def generator() -> ModuleType:
    """examples/make_tutorial.py as a module."""
    spec = importlib.util.spec_from_file_location("make_tutorial", EXAMPLES / "make_tutorial.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_notebook_has_no_outputs_and_matches_its_generator() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code, "the tutorial has no code cells"
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
    assert NOTEBOOK.read_text() == generator().text(), "run python examples/make_tutorial.py"


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory, monkeypatch_module) -> nbformat.NotebookNode:
    """The notebook run from examples/ on a kernel of this interpreter (a kernel spec written here,
    offline, found first through JUPYTER_PATH), one torch thread as the suite shares its cores."""
    jupyter = tmp_path_factory.mktemp("jupyter")
    write_kernel_spec(jupyter / "kernels" / KERNEL, overrides={"env": {"OMP_NUM_THREADS": "1"}})
    monkeypatch_module.setenv("JUPYTER_PATH", str(jupyter))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name=KERNEL,
                   resources={"metadata": {"path": str(EXAMPLES)}}).execute()
    return notebook


def outputs(notebook: nbformat.NotebookNode, output_type: str) -> list:
    return [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs
            if out.output_type == output_type]


def printed(notebook: nbformat.NotebookNode) -> str:
    return "".join(out.text for out in outputs(notebook, "stream") if out.name == "stdout")


def test_the_tutorial_runs_and_shows_what_it_explains(executed: nbformat.NotebookNode) -> None:
    assert not outputs(executed, "error")
    reports = [out.data for out in outputs(executed, "execute_result") if "text/html" in out.data]
    assert len(reports) == 2, "the song's and the own model's explanations display themselves"
    for report in reports:
        assert 'class="specinterp"' in report["text/html"] and "<audio" in report["text/html"]
        assert report["image/png"], "the figure for front ends that show no HTML"
    figures = [out for out in outputs(executed, "display_data") if "image/png" in out.data]
    assert len(figures) == 1, "the three explainers side by side"
    players = [out for out in outputs(executed, "display_data") if "<audio" in out.data.get("text/html", "")]
    assert len(players) == 3, "original, what the network used, what it ignored"
    text = printed(executed)
    assert re.search(r"^predicted: \w+$", text, re.MULTILINE)
    assert re.search(r"^cam vs gradcam: r = -?\d\.\d\d$", text, re.MULTILINE)
    assert re.search(r"held-out accuracy: (0\.9\d|1\.00)", text), "the own model learned the three sounds"
    assert re.search(r"^own model's prediction: (tone|clicks|noise)\b", text, re.MULTILINE)
    assert re.search(r"^timeline: .*\bclicks\b", text, re.MULTILINE)
    assert re.search(r"integrated-gradients: tone \d\.\d\d, clicks \d\.\d\d, noise \d\.\d\d", text)
