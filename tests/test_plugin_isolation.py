"""Plugins cannot hijack or kill specinterp: name clashes, built-ins, BaseExceptions, Ctrl-C, overrides.

Real third-party distributions are pip-installed once (offline, into a throwaway folder) and the CLI
runs as a subprocess with them on the path before the built-ins (PYTHONPATH) and after them.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import default_sigint
from specinterp import plugins
from specinterp.interfaces import SpecinterpError

CHATTER = "chatter from echo-a at import"
BUILTIN = f"specinterp {importlib.metadata.version('specinterp')}"
HINT = "choose one with SPECINTERP_PLUGIN_OVERRIDE=explainer:echo=<distribution>"

EXPLAINER = """
import sys
from specinterp import hookimpl
from specinterp.interfaces import Explainer

class Echo(Explainer):
    requires = frozenset()
    options = {{}}

    def __init__(self, name):
        self.name = name

    def attribute(self, model, windows, target, **options):
        print("{dist} ran", file=sys.stderr)
        return {{self.name: windows[:, 0]}}
"""

# distribution -> (entry points {name: module}, module source)
PACKAGES: dict[str, tuple[dict[str, str], str]] = {
    "cam-impostor": ({"cam": "cam_impostor"}, EXPLAINER.format(dist="cam-impostor") + """
@hookimpl
def register_explainers(register):
    register(Echo("cam"))
"""),
    "echo-a": ({"echo-a": "echo_a"}, EXPLAINER.format(dist="echo-a") + f"""
print("{CHATTER}")

@hookimpl
def register_explainers(register):
    register(Echo("echo"))
    register(Echo("echo-a"))
"""),
    "echo-b": ({"echo-b": "echo_b"}, EXPLAINER.format(dist="echo-b") + """
@hookimpl
def register_explainers(register):
    register(Echo("echo"))
"""),
    "exits-at-import": ({"exits-at-import": "exits_at_import"}, "import sys\nsys.exit(3)\n"),
    "interrupts-at-import": ({"interrupts-at-import": "interrupts_at_import"}, "raise KeyboardInterrupt\n"),
    "exits-in-hook": ({"exits-in-hook": "exits_in_hook"}, EXPLAINER.format(dist="exits-in-hook") + """
@hookimpl
def register_explainers(register):
    register(Echo("half-done"))
    sys.exit(4)
"""),
    "interrupts-in-hook": ({"interrupts-in-hook": "interrupts_in_hook"}, """
from specinterp import hookimpl

@hookimpl
def register_renderers(register):
    raise KeyboardInterrupt
"""),
    "sleeper": ({"sleeper": "sleeper"}, """
import os, time
open(os.environ["SLEEPER_READY"], "w").close()
try:
    time.sleep(60)
except KeyboardInterrupt:  # swallows the user's Ctrl-C
    pass
"""),
}
EVERYTHING_BUT_SLEEPER = [name for name in PACKAGES if name != "sleeper"]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """Every package above, pip-installed (no network) into one folder in one pip run."""
    root = tmp_path_factory.mktemp("isolation")
    projects = []
    for dist, (entry_points, source) in PACKAGES.items():
        project = root / "src" / dist
        project.mkdir(parents=True)
        module = next(iter(entry_points.values()))
        (project / f"{module}.py").write_text(textwrap.dedent(source))
        eps = "\n".join(f'{name} = "{target}"' for name, target in entry_points.items())
        (project / "pyproject.toml").write_text(
            '[build-system]\nrequires = ["setuptools>=61"]\nbuild-backend = "setuptools.build_meta"\n'
            f'[project]\nname = "{dist}"\nversion = "0.3"\n'
            f"[project.entry-points.specinterp]\n{eps}\n"
            f'[tool.setuptools]\npy-modules = ["{module}"]\n')
        projects.append(str(project))
    target = root / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-index", "--target", str(target), *projects], check=True, capture_output=True)
    return target


def view(site: Path, folder: Path, dists: list[str]) -> Path:
    """A folder holding only the chosen installed distributions (module and .dist-info)."""
    folder.mkdir()
    for dist in dists:
        module = next(iter(PACKAGES[dist][0].values()))
        shutil.copy(site / f"{module}.py", folder)
        info = next(site.glob(f"{dist.replace('-', '_')}-0.3.dist-info"))
        shutil.copytree(info, folder / info.name)
    return folder


def command(folder: Path, order: str, *args: str) -> list[str]:
    """`python -m specinterp ARGS` with `folder` on sys.path before (PYTHONPATH) or after the built-ins.

    Run it outside the repository: `-m` and `-c` put the working directory first on sys.path.
    """
    if order == "first":
        return [sys.executable, "-m", "specinterp", *args]
    boot = ("import runpy, sys; sys.path.append(sys.argv.pop(1)); "
            "runpy.run_module('specinterp', run_name='__main__', alter_sys=True)")
    return [sys.executable, "-c", boot, str(folder), *args]


def environment(folder: Path, order: str, override: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != plugins.OVERRIDE_ENV}
    if order == "first":
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")]))
    if override is not None:
        env[plugins.OVERRIDE_ENV] = override
    return env


def run(folder: Path, order: str, *args: str, override: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(command(folder, order, *args), env=environment(folder, order, override),
                          cwd=folder.parent, capture_output=True, text=True, timeout=300)


def said(result: subprocess.CompletedProcess) -> list[str]:
    """The lines on stderr, less echo-a's print at import."""
    return [line for line in result.stderr.strip().splitlines() if line != CHATTER]


def listing(result: subprocess.CompletedProcess) -> dict[tuple[str, str], dict]:
    assert result.returncode == 0, result.stderr
    return {(p["name"], p["distribution"]): p for p in json.loads(result.stdout)}


@pytest.fixture(scope="module")
def everything(site, tmp_path_factory) -> Path:
    return view(site, tmp_path_factory.mktemp("view") / "everything", EVERYTHING_BUT_SLEEPER)


@pytest.mark.parametrize("order", ["first", "last"])
def test_no_plugin_replaces_a_builtin_or_kills_the_listing(everything, order):
    result = run(everything, order, "plugins", "--json")
    listed = listing(result)  # exit 0 and valid JSON: the plugin's print went to stderr
    assert CHATTER in result.stderr
    builtin, impostor = listed[("cam", "specinterp")], listed[("cam", "cam-impostor")]
    assert builtin["provides"] == {"explainers": ["cam"]}
    assert builtin["error"] == "explainer 'cam' is also registered by cam-impostor 0.3; not replaced"
    assert impostor["provides"] == {}
    assert impostor["error"] == f"explainer 'cam' is already registered by {BUILTIN} (built-in); not replaced"
    # two third-party plugins claiming one name: both told, neither used
    assert listed[("echo-a", "echo-a")]["provides"] == {"explainers": ["echo-a"]}
    for mine, other in [("echo-a", "echo-b"), ("echo-b", "echo-a")]:
        clash = f"explainer 'echo' is also registered by {other} 0.3; none is used ({HINT})"
        assert listed[(mine, mine)]["error"] == clash
    # BaseExceptions at import or in a hook are that plugin's error, and its hook registers nothing
    assert listed[("exits-at-import", "exits-at-import")]["error"] == "import raised SystemExit(3)"
    assert listed[("interrupts-at-import", "interrupts-at-import")]["error"] == "import raised KeyboardInterrupt()"
    assert listed[("exits-in-hook", "exits-in-hook")] == {
        "name": "exits-in-hook", "distribution": "exits-in-hook", "version": "0.3", "provides": {},
        "error": "register_explainers raised SystemExit(4)"}
    assert listed[("interrupts-in-hook", "interrupts-in-hook")]["error"] == (
        "register_renderers raised KeyboardInterrupt()")
    others = {key: p for key, p in listed.items() if p["distribution"] == "specinterp" and key[0] != "cam"}
    assert others and all(p["error"] is None and p["provides"] for p in others.values())


def test_listing_shows_the_clash_on_both_lines(everything):
    result = run(everything, "first", "plugins")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for owner, message in [
        ("(specinterp ", "explainer 'cam' is also registered by cam-impostor 0.3; not replaced"),
        ("(cam-impostor 0.3)", f"explainer 'cam' is already registered by {BUILTIN} (built-in); not replaced"),
    ]:
        at = next(i for i, line in enumerate(lines) if line.startswith("cam ") and owner in line)
        assert message in lines[at + 1] and "ERROR" in lines[at + 1]


def test_explain_cam_runs_the_builtin_beside_broken_plugins(everything, song, tmp_path):
    result = run(everything, "first", "explain", "--explainer", "cam", "--render", "png", "--out",
                 str(tmp_path / "out"), str(song))
    assert result.returncode == 0, result.stderr
    assert "cam-impostor ran" not in result.stderr
    assert list((tmp_path / "out").rglob("*.png"))


def test_a_name_two_plugins_claim_is_refused_in_one_line(everything, song):
    result = run(everything, "last", "explain", "--explainer", "echo", str(song))
    assert result.returncode == 1
    assert said(result) == [
        f"Error: explainer 'echo' is registered by echo-a 0.3 and echo-b 0.3; none is used ({HINT})"]


def test_override_lets_the_user_run_the_other_cam(everything, song, tmp_path):
    result = run(everything, "first", "explain", "--explainer", "cam", "--render", "png", "--out",
                 str(tmp_path / "out"), str(song), override="explainer:cam=Cam_Impostor")
    assert result.returncode == 0, result.stderr
    assert "cam-impostor ran" in result.stderr


def test_a_malformed_override_is_one_line(everything):
    result = run(everything, "first", "plugins", override="explainer:cam")
    assert result.returncode == 1
    assert said(result) == [
        ("Error: SPECINTERP_PLUGIN_OVERRIDE: 'explainer:cam' is not <kind>:<name>=<distribution> "
         "(kind: model, explainer, dataset, renderer, metric)")]


def test_a_real_ctrl_c_while_plugins_load_stops_the_program(site, tmp_path):
    """The sleeper plugin swallows KeyboardInterrupt; the user's SIGINT must still stop `plugins`."""
    folder = view(site, tmp_path / "view", ["sleeper"])
    ready = tmp_path / "ready"
    env = {**environment(folder, "first"), "SLEEPER_READY": str(ready)}
    start = time.monotonic()
    proc = subprocess.Popen(command(folder, "first", "plugins", "--json"), env=env, cwd=tmp_path,
                            preexec_fn=default_sigint, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        while not ready.exists() and proc.poll() is None and time.monotonic() - start < 120:
            time.sleep(0.05)
        assert ready.exists(), proc.communicate()
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode != 0 and stdout == "", stderr
    assert "Traceback" not in stderr


def test_provider_names_the_distribution(site, tmp_path, monkeypatch):
    folder = view(site, tmp_path / "view", ["cam-impostor", "echo-a", "echo-b"])
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.delenv(plugins.OVERRIDE_ENV, raising=False)
    plugins.reset()
    try:
        reg = plugins.registry()
        assert reg.provider("explainers", "cam") == BUILTIN
        assert reg.provider("models", "camcnn") == BUILTIN
        assert reg.provider("explainers", "echo-a") == "echo-a 0.3"
        with pytest.raises(SpecinterpError, match=r"^explainer 'echo' is registered by echo-a 0.3 and echo-b 0.3;"):
            reg.provider("explainers", "echo")
        with pytest.raises(SpecinterpError, match=r"^unknown explainer 'nonesuch' \(available: "):
            reg.provider("explainers", "nonesuch")
        monkeypatch.setenv(plugins.OVERRIDE_ENV, "explainer:cam=Cam_Impostor, explainer:echo=echo-b,"
                                                 "explainer:gradcam=nobody")
        plugins.reset()
        reg = plugins.registry()
        assert reg.provider("explainers", "cam") == "cam-impostor 0.3"
        assert reg.provider("explainers", "echo") == "echo-b 0.3"
        assert reg.plugins["cam"].provides == {} and reg.plugins["echo-a"].provides == {"explainers": ["echo-a"]}
        assert all(info.error is None for info in reg.plugins.values())  # chosen: nothing to report
        with pytest.raises(SpecinterpError) as refused:
            reg.get("explainers", "gradcam")
        assert str(refused.value) == ("SPECINTERP_PLUGIN_OVERRIDE chooses explainer 'gradcam' from nobody, which "
                                      f"does not register it (registered by {BUILTIN})")
    finally:
        plugins.reset()


def test_register_mistakes_are_named(tmp_path, monkeypatch):
    """A typo'd hook, a name registered twice by one plugin, a nameless item, a doubled override."""
    site = tmp_path / "site"
    site.mkdir()
    sources = {
        "typo": "from specinterp import hookimpl\n@hookimpl\ndef register_explainer(register):\n    pass\n",
        "twice": EXPLAINER.format(dist="twice") + "@hookimpl\ndef register_explainers(register):\n"
                 "    register(Echo('twice'))\n    register(Echo('twice'))\n",
        "nameless": EXPLAINER.format(dist="nameless") + "@hookimpl\ndef register_explainers(register):\n"
                    "    register(Echo(''))\n",
    }
    for module, source in sources.items():
        (site / f"iso_{module}.py").write_text(textwrap.dedent(source))
        info = site / f"iso_{module}-0.3.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: iso-{module}\nVersion: 0.3\n")
        (info / "entry_points.txt").write_text(f"[specinterp]\niso-{module} = iso_{module}\n")
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv(plugins.OVERRIDE_ENV, raising=False)
    plugins.reset()
    try:
        reg = plugins.registry()
        assert reg.plugins["iso-typo"].error == (
            "ValueError: unknown hook register_explainer (specinterp's hooks: register_models, "
            "register_explainers, register_datasets, register_renderers, register_metrics)")
        assert reg.plugins["iso-twice"].error == "ValueError: explainer 'twice' is registered twice by this plugin"
        assert reg.plugins["iso-nameless"].error == (
            "TypeError: register_explainers: each explainer needs a non-empty name, got ''")
        assert "twice" not in reg.explainers and "" not in reg.explainers
        monkeypatch.setenv(plugins.OVERRIDE_ENV, "explainer:cam=a,explainer:cam=b")
        plugins.reset()
        with pytest.raises(SpecinterpError, match="^SPECINTERP_PLUGIN_OVERRIDE: explainer 'cam' is given two "
                                                  "distributions$"):
            plugins.registry()
    finally:
        plugins.reset()
