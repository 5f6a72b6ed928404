"""Weights configs, tensors and model outputs are checked; every failure is one line naming the file.

Also: silent and nearly silent input gets a warning beside its prediction.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file, save_file

import specinterp
from conftest import SR, tone_mix
from specinterp import inference, weights
from specinterp import windows as win
from specinterp.frontend import DEFAULT, FrontendConfig, log_mel
from specinterp.interfaces import SpecinterpError
from specinterp.plugins import registry

CLASSES = ("a", "b", "c")
CONFIG = {"classes": 3, "channels": [4, 8], "dropout": 0.3}
MUSICNN = FrontendConfig(sample_rate=16000, n_fft=512, hop_length=256, n_mels=96, f_max=8000.0, mel_scale="slaney",
                         mel_norm="slaney", log="log10p", log_multiplier=10000.0, dtype="float16", window_frames=187)


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    """A small camcnn (3 classes, two conv blocks), seeded, saved as m.safetensors + m.json."""
    torch.manual_seed(0)
    module = registry().models["camcnn"].build(CONFIG).eval()
    return weights.save(module, "camcnn", CONFIG, CLASSES, tmp_path / "m", {"seed": 0})


def edit_document(path: Path, change) -> None:
    cfg = path.with_suffix(".json")
    document = json.loads(cfg.read_text())
    cfg.write_text(json.dumps(change(document)))


def edit_tensors(path: Path, change) -> None:
    state = load_file(str(path))
    change(state)
    save_file(state, str(path))


def refusal(path: Path) -> str:
    with pytest.raises(SpecinterpError) as caught:
        weights.resolve("camcnn", path)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_valid_weights_load_and_predict(saved):
    loaded = weights.resolve("camcnn", saved)
    assert loaded.classes == CLASSES and loaded.module.model_name == "camcnn"
    assert bool(torch.isfinite(loaded.module(torch.zeros(1, 1, 128, 128))).all())


@pytest.mark.parametrize("change, expected", [
    (lambda d: {**d, "classes": 5}, "m.json: classes must be a non-empty list of class names, got 5"),
    (lambda d: {**d, "classes": []}, "m.json: classes must be a non-empty list of class names, got an empty list"),
    (lambda d: {**d, "classes": ["a", "", "c"]}, 'm.json: classes[1] must be a non-empty string, got ""'),
    (lambda d: {**d, "classes": ["a", 2, "c"]}, "m.json: classes[1] must be a non-empty string, got 2"),
    (lambda d: {**d, "classes": ["a", "b", "a"]}, "m.json: classes names 'a' more than once"),
    (lambda d: {k: v for k, v in d.items() if k != "classes"}, "m.json: no 'classes' key"),
    (lambda d: {**d, "config": []}, "m.json: config must be an object, got an empty list"),
    (lambda d: {**d, "model": 5}, "m.json: model must be a model name (a string), got 5"),
    (lambda d: {**d, "frontend": [1]}, "m.json: frontend must be an object, got a list of 1"),
    (lambda d: {**d, "meta": "x"}, 'm.json: meta must be an object, got "x"'),
    (lambda d: {**d, "output": "softmax"}, 'm.json: output must be one of single-label, multilabel, got "softmax"'),
    (lambda d: {**d, "frontent": {}}, "m.json: unknown key 'frontent' (keys: model, config, classes, frontend"),
    (lambda d: [d], "m.json: expected a JSON object with keys model, config, classes"),
    (lambda d: {**d, "model": "basecnn"}, "m.safetensors: these weights are for model 'basecnn', not 'camcnn'"),
    (lambda d: {**d, "frontend": {"n_mels": "x"}}, "m.json: front end: n_mels must be a positive integer, got 'x'"),
    (lambda d: {**d, "frontend": {"window_frames": 10**7}},
     "m.json: front end windows of 128 x 10000000 are too large"),
])
def test_document_shape_is_checked(saved, change, expected):
    edit_document(saved, change)
    message = refusal(saved)
    assert message.startswith(str(saved.parent)) and expected in message


@pytest.mark.parametrize("config, expected", [
    ({"channels": "abc"}, "config does not build model 'camcnn' (TypeError: "),
    ({"classes": "ten"}, "config does not build model 'camcnn' (ValueError: invalid literal for int()"),
    ({"dropout": 5}, "config does not build model 'camcnn' (ValueError: dropout probability"),
    ({"channels": [-4, 8]}, "config does not build model 'camcnn' (RuntimeError: "),
])
def test_a_config_the_plugin_cannot_build_is_one_line(saved, config, expected):
    edit_document(saved, lambda d: {**d, "config": {**d["config"], **config}})
    message = refusal(saved)
    assert message.startswith(f"{saved.with_suffix('.json')}: ") and expected in message


def test_class_count_must_match_the_model_outputs(saved):
    edit_document(saved, lambda d: {**d, "classes": ["a", "b"]})
    assert refusal(saved) == (f"{saved.with_suffix('.json')}: lists 2 classes but model 'camcnn' gives 3 outputs "
                              "per window")


def test_model_that_cannot_take_its_front_ends_windows(saved):
    edit_document(saved, lambda d: {**d, "frontend": {"n_mels": 1, "window_frames": 1}})
    assert refusal(saved).startswith(f"{saved.with_suffix('.json')}: model 'camcnn' does not run on its front end's "
                                     f"windows (1, 1, 1, 1) (RuntimeError: ")


@pytest.mark.parametrize("content, expected", [
    (b"{\"classes\": [", "not valid JSON (Expecting value at line 1)"),
    (b"\xff\xfe{}", "not UTF-8 text (byte 0)"),
    (b"[" * 100_000 + b"]" * 100_000, "not valid JSON (nested too deeply)"),
])
def test_unreadable_json(saved, content, expected):
    saved.with_suffix(".json").write_bytes(content)
    assert refusal(saved) == f"{saved.with_suffix('.json')}: {expected}"


def test_shape_mismatch_names_its_reason(saved):
    edit_document(saved, lambda d: {**d, "config": {**d["config"], "classes": 5},
                                    "classes": ["a", "b", "c", "d", "e"]})
    assert refusal(saved) == (f"{saved}: weights do not fit model 'camcnn' (size mismatch for classifier.weight: "
                              f"the file has [3, 8], the model [5, 8] (and 1 more mismatched))")


def test_missing_and_unexpected_tensors_are_named_and_counted(saved):
    edit_document(saved, lambda d: {**d, "config": {**d["config"], "channels": [4, 8, 8]}})
    edit_tensors(saved, lambda state: state.update(extra=torch.zeros(2)))
    assert refusal(saved) == (f"{saved}: weights do not fit model 'camcnn' (missing 6 tensors: convs.2.0.weight, "
                              f"convs.2.1.weight, convs.2.1.bias and 3 more; 1 unexpected tensor: extra)")


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_tensor_data_is_refused_at_load(saved, value):
    def corrupt(state):
        state["convs.0.0.weight"].view(-1)[7] = value
    edit_tensors(saved, corrupt)
    assert refusal(saved) == f"{saved}: tensor 'convs.0.0.weight' holds NaN or infinite values (corrupted file?)"


def test_unreadable_safetensors(saved):
    saved.write_bytes(saved.read_bytes()[:300])
    assert refusal(saved).startswith(f"{saved}: not a readable safetensors file (SafetensorError: ")


def test_weights_that_overflow_on_a_silent_window_are_refused_at_load(saved):
    edit_tensors(saved, lambda state: state["input_norm.bias"].fill_(3e38))
    assert refusal(saved) == (f"{saved.with_suffix('.json')}: model 'camcnn' gives NaN or infinite outputs "
                              f"for an all-zero window (corrupted weights?)")


class Overflows(torch.nn.Module):
    """Finite on zeros, NaN on loud input: what corrupted weights do to real music."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(1e38))

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        x = windows.mean(dim=(1, 2, 3)) * self.scale
        return torch.stack([x - x, x], dim=1)


def test_nan_model_outputs_are_refused_with_the_model_name():
    module = Overflows()
    module.model_name = "loud"
    quiet = np.zeros((2, 1, 4, 4), dtype=np.float32)
    assert np.isfinite(inference.window_outputs(module, quiet)).all()
    with pytest.raises(SpecinterpError, match=r"^model 'loud' gave NaN or infinite outputs for this input$"):
        inference.window_outputs(module, quiet + 10.0)
    with pytest.raises(SpecinterpError, match="model 'Overflows' gave NaN"):  # no plugin name: the class's
        inference.window_outputs(Overflows(), quiet + 10.0)


def test_non_finite_spectrogram_is_refused(saved):
    loaded = weights.resolve("camcnn", saved)
    spectrogram = np.zeros((128, 300), dtype=np.float32)
    spectrogram[5, 7] = np.inf
    with pytest.raises(SpecinterpError, match=r"NaN or infinite spectrogram values"):
        inference.predict(loaded.module, spectrogram, loaded.classes)


# ---------------------------------------------------------------- silence


@pytest.mark.parametrize("config", [DEFAULT, MUSICNN], ids=["db", "log10p"])
def test_peak_level_reads_a_sines_amplitude_in_dbfs(config):
    t = np.arange(config.sample_rate) / config.sample_rate
    for dbfs in (0.0, -40.0, -70.0):
        sine = (10 ** (dbfs / 20) * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)
        assert inference.peak_dbfs(float(log_mel(sine, config).max()), config) == pytest.approx(dbfs, abs=1.5)
    assert inference.peak_dbfs(float(log_mel(np.zeros_like(t, dtype=np.float32), config).max()), config) == -np.inf


@pytest.mark.parametrize("config", [DEFAULT, MUSICNN], ids=["db", "log10p"])
def test_silence_warning_rule(config):
    t = np.arange(config.sample_rate) / config.sample_rate

    def warning(amplitude: float) -> str:
        sine = (amplitude * np.sin(2 * np.pi * 1000.0 * t)).astype(np.float32)
        return inference.silence_warning(float(log_mel(sine, config).max()), config)

    assert warning(0.0) == "the input is silent: this prediction means nothing"
    assert warning(10 ** (-90 / 20)) == "the input is nearly silent (peak -90 dBFS): this prediction means little"
    assert warning(10 ** (-70 / 20)) == ""
    assert warning(0.5) == ""


def test_predict_warns_about_silence_and_not_about_music():
    silent = specinterp.predict(np.zeros(3 * SR, dtype=np.float32), model="camcnn")
    assert silent.warning == "the input is silent: this prediction means nothing"
    hiss = np.random.default_rng(0).standard_normal(3 * SR).astype(np.float32) * 1e-6
    assert specinterp.predict(hiss, model="camcnn").warning.startswith("the input is nearly silent (peak -1")
    assert specinterp.predict(tone_mix(3.0, (220.0, 330.0), seed=2), model="camcnn").warning == ""


# ---------------------------------------------------------------- through the CLI


def explain_cli(path: Path, song: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "specinterp", "explain", "--weights", str(path), "--explainer",
                           "gradcam", "--render", "png", "--out", str(out), str(song)],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def short_song(tmp_path: Path) -> Path:
    path = tmp_path / "song.wav"
    sf.write(path, tone_mix(4.0, (220.0, 330.0, 1760.0), seed=1), SR)
    return path


@pytest.mark.parametrize("case", ["classes-not-a-list", "config-does-not-build", "class-count", "shape-reason",
                                  "nan-tensor"])
def test_cli_refuses_bad_weights_in_one_line_before_any_work(saved, short_song, tmp_path, case):
    if case == "classes-not-a-list":  # was TypeError: 'int' object is not iterable
        edit_document(saved, lambda d: {**d, "classes": 5})
        expected = f"{saved.with_suffix('.json')}: classes must be a non-empty list of class names, got 5"
    elif case == "config-does-not-build":  # was a TypeError traceback from Conv2d
        edit_document(saved, lambda d: {**d, "config": {**d["config"], "channels": "abc"}})
        expected = f"{saved.with_suffix('.json')}: config does not build model 'camcnn' (TypeError: "
    elif case == "class-count":  # was a failure per file, after decoding each one
        edit_document(saved, lambda d: {**d, "classes": ["a", "b"]})
        expected = f"{saved.with_suffix('.json')}: lists 2 classes but model 'camcnn' gives 3 outputs per window"
    elif case == "shape-reason":  # was cut to "Error(s) in loading state_dict for CamCNN:"
        edit_document(saved, lambda d: {**d, "config": {**d["config"], "channels": [4, 16]}})
        expected = f"{saved}: weights do not fit model 'camcnn' (size mismatch for convs.1.0.weight: the file has"
    else:  # was loaded and explained
        edit_tensors(saved, lambda state: state["classifier.weight"].fill_(float("nan")))
        expected = f"{saved}: tensor 'classifier.weight' holds NaN or infinite values (corrupted file?)"
    out = tmp_path / "out"
    run = explain_cli(saved, short_song, out)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [run.stderr.strip()] and run.stderr.startswith(f"Error: {expected}")
    assert not out.exists() or not any(out.iterdir())


def test_cli_refuses_nan_outputs_instead_of_crashing_in_matplotlib(saved, short_song, tmp_path):
    edit_tensors(saved, lambda state: (state["input_norm.running_mean"].zero_(),
                                       state["input_norm.weight"].fill_(1e37)))
    run = explain_cli(saved, short_song, tmp_path / "out")
    assert run.returncode != 0 and "Traceback" not in run.stderr
    assert f"{short_song}: model 'camcnn' gave NaN or infinite outputs for this input" in run.stderr
    assert not list((tmp_path / "out").glob("*.png"))


def test_windows_are_scored_a_batch_at_a_time_as_the_whole_array(saved):
    loaded = weights.resolve("camcnn", saved)
    spectrogram = log_mel(tone_mix(9.0, (220.0, 440.0), seed=3))
    windows = win.split(spectrogram, size=128, hop=16)
    assert len(windows) > 8
    lazily = inference.window_outputs(loaded.module, windows, batch_size=8)
    np.testing.assert_array_equal(lazily, inference.window_outputs(loaded.module, windows.data, batch_size=8))


def test_cli_prints_the_silence_warning_beside_the_prediction(tmp_path):
    silence = tmp_path / "silence.wav"
    sf.write(silence, np.zeros(3 * SR, dtype=np.float32), SR)
    run = subprocess.run([sys.executable, "-m", "specinterp", "explain", "--explainer", "gradcam", "--render", "png",
                          "--out", str(tmp_path / "out"), str(silence)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith(f"{silence}: ")  # was "classical 0.64" and nothing else
    assert lines[1] == "  warning: the input is silent: this prediction means nothing"
