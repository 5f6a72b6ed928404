import subprocess
import sys


def test_help_does_not_import_torch():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from specinterp.cli import cli\n"
        "result = CliRunner().invoke(cli, ['--help'])\n"
        "assert result.exit_code == 0, result.output\n"
        "assert 'explain' in result.output\n"
        "heavy = sorted(m for m in ('torch', 'torchaudio', 'librosa', 'matplotlib', 'numpy') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"--help imported {out}"


def test_explain_help_does_not_import_torch():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from specinterp.cli import cli\n"
        "result = CliRunner().invoke(cli, ['explain', '--help'])\n"
        "assert result.exit_code == 0 and '--explainer' in result.output\n"
        "print('torch' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "False"


def test_loading_the_plugins_imports_no_explainer_library():
    """Captum, matplotlib and librosa cost about a second at start-up: plugins import them when first used."""
    code = (
        "import sys\n"
        "from specinterp.plugins import registry\n"
        "assert len(registry().explainers) >= 14\n"
        "print(','.join(sorted(m for m in ('captum', 'matplotlib', 'librosa', 'quantus') if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"loading the plugins imported {out}"
