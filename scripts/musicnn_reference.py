"""Record musicnn's ORIGINAL TensorFlow taggrams on fixed inputs, for ``tests/test_musicnn_port.py``.

Run in the throwaway TensorFlow environment of ``scripts/convert_musicnn.py``::

    /tmp/tfenv/bin/python scripts/musicnn_reference.py [MUSICNN_PACKAGE_DIR]

Two inputs, each written to ``tests/fixtures/musicnn/<input>.json``:

- ``example``: the first 12 s of ``examples/example.ogg`` (read at its own 22050 Hz), times ``gain``;
- ``synthetic``: a seeded 4 s clip (tones, a glide and noise bursts) written here as
  ``synthetic.wav`` (16 kHz, 16-bit), which is read back as it is.

The log-mel is musicnn's own: ``musicnn.extractor.batch_data`` (librosa at 16 kHz, n_fft 512, hop
256, 96 mels, cast to float16, ``log10(10000 x + 1)``), cut into 187-frame patches with hop 187. Its
product ``10000 x`` is taken in float16 and overflows to inf where a mel power exceeds 6.55, so the
inputs are scaled to keep every mel power below that (asserted), where the original and a float32
product agree. The log-mel is stored with 6 significant digits, and each model's taggram (sigmoid
outputs, 7 significant digits) is computed by the original graph on exactly those stored values.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import convert_musicnn as conv  # noqa: E402  (TensorFlow, the graph loader)

REPO = conv.REPO
OUT = REPO / "tests" / "fixtures" / "musicnn"
FRAMES = 187
SR = 16000
EXAMPLE_SECONDS = 12.0
SYNTHETIC_SECONDS = 4.0
PEAK_MEL_POWER = 3.0  # target for the loudest mel bin, well below float16's 65504 / 10000 = 6.55
FLOAT16_LIMIT = 65504.0 / 10000.0


def significant(values: np.ndarray, digits: int) -> list:
    """Nested lists of floats rounded to ``digits`` significant digits."""
    return np.vectorize(lambda v: float(f"{v:.{digits}g}"), otypes=[object])(np.asarray(values, np.float64)).tolist()


def extractor_logmel(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """musicnn's own extractor: patches ``(n, 187, 96)``, the log-mel ``(frames, 96)`` and the mel power."""
    import librosa
    from musicnn import configuration, extractor

    batch, logmel = extractor.batch_data(str(path), FRAMES, FRAMES)
    # the mel power behind it, as batch_data computes it, to prove the float16 product did not overflow
    audio, sr = librosa.load(str(path), sr=configuration.SR)
    power = librosa.feature.melspectrogram(y=audio, sr=sr, hop_length=configuration.FFT_HOP,
                                           n_fft=configuration.FFT_SIZE, n_mels=configuration.N_MELS).T
    return batch, logmel, power


def synthetic_clip(seed: int = 7) -> np.ndarray:
    """Tones with harmonics, a glide and filtered noise bursts: something in most mel bands, seeded."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(SYNTHETIC_SECONDS * SR)) / SR
    x = np.zeros_like(t)
    for f0, start in ((220.0, 0.0), (330.0, 1.0), (554.4, 2.0)):
        on = (t >= start).astype(float)
        x += on * sum(np.sin(2 * np.pi * f0 * k * t + rng.uniform(0, 2 * np.pi)) / k for k in range(1, 6))
    glide = 2 * np.pi * np.cumsum(np.geomspace(300.0, 4000.0, len(t))) / SR
    x += 0.5 * np.sin(glide) * (np.sin(2 * np.pi * 0.5 * t) > 0)
    burst = np.zeros_like(t)
    for start in np.arange(0.25, SYNTHETIC_SECONDS, 0.5):
        i = int(start * SR)
        n = int(0.08 * SR)
        length = len(burst[i:i + n])
        burst[i:i + n] = rng.standard_normal(length) * np.exp(-np.arange(length) / (0.02 * SR))
    x += 1.5 * burst
    return (x / np.abs(x).max()).astype(np.float32)


def scaled_to_peak(audio: np.ndarray, sr: int, write) -> tuple[Path, float]:
    """Scale ``audio`` so that musicnn's loudest mel power is about PEAK_MEL_POWER; write it with
    ``write(path, audio)``; return the path and the gain applied."""
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "probe.wav"
        import soundfile as sf

        sf.write(probe, audio, sr, subtype="FLOAT")
        with np.errstate(over="ignore"):  # unscaled, the float16 product may well overflow
            _, _, power = extractor_logmel(probe)
    gain = float(f"{np.sqrt(PEAK_MEL_POWER / power.max()):.4g}")
    return write(audio * gain), gain


def record(name: str, path: Path, description: str, gain: float, models: dict, versions: dict) -> Path:
    batch, logmel, power = extractor_logmel(path)
    if not np.isfinite(logmel).all() or power.max() >= FLOAT16_LIMIT:
        raise RuntimeError(f"{name}: mel power {power.max():.3f} overflows musicnn's float16 product")
    starts = list(range(0, logmel.shape[0] - FRAMES + 1, FRAMES))
    assert len(starts) == len(batch)
    used = starts[-1] + FRAMES
    stored = significant(logmel[:used], 6)
    values = np.asarray(stored, np.float32)
    patches = np.stack([values[s:s + FRAMES] for s in starts])
    assert np.abs(patches - batch.astype(np.float32)).max() < 1e-5
    document = {
        "input": description,
        "gain": gain,
        "versions": versions,
        "extractor": "musicnn.extractor.batch_data(path, 187, 187): librosa.load(sr=16000), melspectrogram("
                     "n_fft=512, hop_length=256, n_mels=96), astype(float16), log10(10000 x + 1)",
        "max_mel_power": float(f"{power.max():.6g}"),
        "frames": used,
        "patch_frames": FRAMES,
        "patch_starts": starts,
        "logmel": stored,  # (frames, 96): frames of the patches only
        "models": {},
    }
    for model, (tags, run) in models.items():
        taggram = run(patches)
        document["models"][model] = {"tags": tags, "taggram": significant(taggram, 7)}
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / f"{name}.json"
    out.write_text(json.dumps(document, separators=(",", ":")) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    import librosa
    import soundfile as sf

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, help="musicnn's package folder (default: the installed one)")
    args = parser.parse_args(argv)
    source = args.source or conv.package_dir()
    versions = {"tensorflow": conv.tf.__version__, "librosa": librosa.__version__, "numpy": np.__version__,
                "musicnn": "0.1.0"}
    models = {}
    for folder, (name, _) in conv.CHECKPOINTS.items():
        _, run = conv.load_graph(source / folder)
        models[name] = (conv.labels(folder), run)

    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        example = REPO / "examples" / "example.ogg"
        sr = sf.info(example).samplerate
        audio, _ = sf.read(example, frames=int(EXAMPLE_SECONDS * sr), dtype="float32", always_2d=True)
        audio = audio.mean(axis=1)

        def write_float(x: np.ndarray) -> Path:
            path = Path(tmp) / "example.wav"
            sf.write(path, x.astype(np.float32), sr, subtype="FLOAT")
            return path

        path, gain = scaled_to_peak(audio, sr, write_float)
        out = record("example", path, f"examples/example.ogg, its first {EXAMPLE_SECONDS:g} s read at {sr} Hz "
                     "(soundfile, mono), times gain, as a float WAV", gain, models, versions)
        print(out.relative_to(REPO), f"gain {gain}")

    def write_pcm16(x: np.ndarray) -> Path:
        path = OUT / "synthetic.wav"
        sf.write(path, x, SR, subtype="PCM_16")
        return path

    path, gain = scaled_to_peak(synthetic_clip(), SR, write_pcm16)
    source = (f"tests/fixtures/musicnn/synthetic.wav ({SYNTHETIC_SECONDS:g} s, {SR} Hz, "
              "16-bit; written by scripts/musicnn_reference.py, seed 7; gain already applied)")
    out = record("synthetic", path, source, gain, models, versions)
    print(out.relative_to(REPO), f"gain {gain}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
