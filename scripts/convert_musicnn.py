"""Convert musicnn's four TensorFlow 1 checkpoints to safetensors for ``specinterp_plugins.models.musicnn``.

Run in a throwaway environment that has TensorFlow and the musicnn wheel (never a dependency of
specinterp)::

    python3 -m venv /tmp/tfenv
    /tmp/tfenv/bin/pip install 'tensorflow-cpu==2.21.*' librosa safetensors numpy soundfile
    /tmp/tfenv/bin/pip install --no-deps musicnn-0.1.0-py3-none-any.whl
    /tmp/tfenv/bin/python scripts/convert_musicnn.py [MUSICNN_PACKAGE_DIR]

For each of MTT_musicnn, MSD_musicnn, MTT_vgg and MSD_vgg it writes
``plugins/models/weights/<name>.safetensors`` (forward weights only, float32, in the port's layout) and
``<name>.json`` (config, tags, front end, provenance), and copies the wheel's license beside them.

Layouts: TF reads spectrograms as NHWC ``(N, time, mels, 1)``, the port as NCHW ``(N, 1, mels, time)``;
so a TF conv kernel ``[time, mels, in, out]`` becomes ``[out, in, mels, time]`` (a full transpose), the
mid end's convs (kernel ``[7, channels, 1, out]``: TF slides them over time with the channels on the
width axis) become ``[out, channels, 1, 7]``, dense kernels ``[in, out]`` become ``[out, in]``, and the
vgg's last dense layer has its inputs reordered from TF's (time, mels, channel) flatten to the port's
(channel, mels, time). The graph-loading helpers here are shared with ``scripts/musicnn_reference.py``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import tensorflow as tf

tf.compat.v1.logging.set_verbosity(tf.compat.v1.logging.ERROR)

REPO = Path(__file__).resolve().parents[1]
WEIGHTS_DIR = REPO / "plugins" / "models" / "weights"

CHECKPOINTS = {  # checkpoint folder -> (our name, architecture)
    "MSD_musicnn": ("musicnn-msd", "musicnn"),
    "MTT_musicnn": ("musicnn-mtt", "musicnn"),
    "MSD_vgg": ("vgg-msd", "vgg"),
    "MTT_vgg": ("vgg-mtt", "vgg"),
}
DATASETS = {"MTT": "MagnaTagATune", "MSD": "Million Song Dataset"}

# Must equal MUSICNN_CONFIG / VGG_CONFIG in plugins/models/musicnn.py (musicnn's models.py:
# int(1.6 * 128) timbral and int(1.6 * 32) temporal filters, kernels int(0.4 * 96) and int(0.7 * 96) tall).
MUSICNN_CONFIG = {
    "classes": 50, "n_mels": 96, "timbral_filters": 204, "timbral_heights": [38, 67], "timbral_width": 7,
    "temporal_filters": 51, "temporal_widths": [128, 64, 32], "midend_filters": 64, "midend_width": 7,
    "midend_layers": 3, "dense_units": 200, "dropout": 0.5,
}
VGG_CONFIG = {"classes": 50, "n_mels": 96, "frames": 187, "filters": 128, "dropout": 0.25, "dense_dropout": 0.5}
# + "pools", read from each graph: MSD_vgg was trained with other poolings than models.py's

FRONTEND = {
    "sample_rate": 16000, "n_fft": 512, "hop_length": 256, "n_mels": 96, "f_min": 0.0, "f_max": 8000.0,
    "mel_scale": "slaney", "mel_norm": "slaney", "power": 2.0, "log": "log10p", "log_multiplier": 10000.0,
    "dtype": "float16", "window_frames": 187, "window_hop": 187, "last_window": "shift", "pad_mode": "constant",
}
LICENSE_NAME = "LICENSE-musicnn.txt"
INPUT = "model/Placeholder:0"  # (batch, 187 frames, 96 mels) float32
OUTPUT = "model/Sigmoid"


def package_dir() -> Path:
    import musicnn

    return Path(musicnn.__file__).resolve().parent


def labels(folder: str) -> list[str]:
    from musicnn import configuration

    return list(configuration.MTT_LABELS if folder.startswith("MTT") else configuration.MSD_LABELS)


def reader(checkpoint: Path):
    """The checkpoint's variables (its files are ``.index`` / ``.data-*``: the prefix is the folder)."""
    return tf.compat.v1.train.NewCheckpointReader(str(checkpoint) + os.sep)


TRAINING_ONLY = ("Adam", "beta1_power", "beta2_power", "global_step")


class Variables:
    """A checkpoint reader that remembers which variables were read, to prove none was left out."""

    def __init__(self, checkpoint: Path) -> None:
        self._reader = reader(checkpoint)
        self.read: set[str] = set()

    def get_tensor(self, name: str) -> np.ndarray:
        self.read.add(name)
        return self._reader.get_tensor(name)

    def unread(self) -> list[str]:
        forward = [k for k in self._reader.get_variable_to_shape_map() if not any(t in k for t in TRAINING_ONLY)]
        return sorted(set(forward) - self.read)


def meta_graph(checkpoint: Path):
    """The checkpoint's MetaGraphDef, without the ``_output_shapes`` that TF 1.x recorded (they trip
    the importer of TF 2.x)."""
    from tensorflow.core.protobuf import meta_graph_pb2

    meta = meta_graph_pb2.MetaGraphDef()
    meta.ParseFromString((checkpoint / ".meta").read_bytes())
    for node in meta.graph_def.node:
        if "_output_shapes" in node.attr:
            del node.attr["_output_shapes"]
    return meta


def graph_pools(checkpoint: Path) -> list[list[list[int]]]:
    """The vgg's max-poolings as ``[[kernel], [stride]]`` in (mels, frames), in layer order."""
    forward = tf.compat.v1.graph_util.extract_sub_graph(meta_graph(checkpoint).graph_def, [OUTPUT])
    pools = {}
    for node in forward.node:
        if node.op == "MaxPool":
            if node.attr["padding"].s != b"VALID" or node.attr["data_format"].s not in (b"", b"NHWC"):
                raise RuntimeError(f"{node.name}: unexpected pooling {node.attr}")
            _, kt, km, _ = node.attr["ksize"].list.i
            _, st, sm, _ = node.attr["strides"].list.i
            suffix = node.name.split("/")[1][len("max_pooling2d"):]  # model/max_pooling2d_3/MaxPool -> "_3"
            pools[int(suffix[1:] or 0)] = [[km, kt], [sm, st]]
    return [pools[i] for i in sorted(pools)]


def load_graph(checkpoint: Path):
    """The ORIGINAL forward graph, up to ``model/Sigmoid``, with the checkpoint's values assigned.

    Returns ``(session, run)`` where ``run(batch (N, 187, 96)) -> sigmoid (N, 50)`` (training flag False),
    and ``run(batch, fetch=[tensor names])`` returns those tensors instead.
    """
    forward = tf.compat.v1.graph_util.extract_sub_graph(meta_graph(checkpoint).graph_def, [OUTPUT])
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.import_graph_def(forward, name="")
        values = reader(checkpoint)
        variables = [n.name for n in forward.node if n.op in ("VariableV2", "Variable")]
        assigns = [tf.compat.v1.assign(graph.get_tensor_by_name(f"{v}:0"), values.get_tensor(v)) for v in variables]
        flags = [f"{n.name}:0" for n in forward.node
                 if n.op == "Placeholder" and n.attr["dtype"].type == tf.bool.as_datatype_enum]
        others = [n.name for n in forward.node if n.op == "Placeholder" and f"{n.name}:0" not in flags]
    if others != [INPUT.split(":")[0]]:
        raise RuntimeError(f"{checkpoint}: unexpected inputs {others}")
    session = tf.compat.v1.Session(graph=graph)
    session.run(assigns)

    def run(batch: np.ndarray, fetch: list[str] | None = None):
        feed = {INPUT: np.asarray(batch, np.float32), **dict.fromkeys(flags, False)}
        return session.run(fetch or f"{OUTPUT}:0", feed_dict=feed)

    return session, run


# ---------------------------------------------------------------- TF variables -> our state dict

def _bn(values, tf_name: str, ours: str) -> dict[str, np.ndarray]:
    return {
        f"{ours}.weight": values.get_tensor(f"{tf_name}/gamma"),
        f"{ours}.bias": values.get_tensor(f"{tf_name}/beta"),
        f"{ours}.running_mean": values.get_tensor(f"{tf_name}/moving_mean"),
        f"{ours}.running_var": values.get_tensor(f"{tf_name}/moving_variance"),
        f"{ours}.num_batches_tracked": np.array(0, dtype=np.int64),  # torch's BatchNorm buffer, unused in eval
    }


def _conv2d(values, tf_name: str, ours: str, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """TF ``[time, mels, in, out]`` -> ours ``[out, in, mels, time]``."""
    kernel = values.get_tensor(f"{tf_name}/kernel")
    if kernel.shape != shape:
        raise RuntimeError(f"{tf_name}/kernel is {kernel.shape}, expected {shape}")
    return {f"{ours}.weight": kernel.transpose(3, 2, 1, 0), f"{ours}.bias": values.get_tensor(f"{tf_name}/bias")}


def _conv1d(values, tf_name: str, ours: str, shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """The mid end's TF ``[time, channels, 1, out]`` -> ours ``[out, channels, 1, time]``."""
    kernel = values.get_tensor(f"{tf_name}/kernel")
    if kernel.shape != shape:
        raise RuntimeError(f"{tf_name}/kernel is {kernel.shape}, expected {shape}")
    return {f"{ours}.weight": kernel.transpose(3, 1, 2, 0), f"{ours}.bias": values.get_tensor(f"{tf_name}/bias")}


def _dense(values, tf_name: str, ours: str, shape: tuple[int, int]) -> dict[str, np.ndarray]:
    kernel = values.get_tensor(f"{tf_name}/kernel")
    if kernel.shape != shape:
        raise RuntimeError(f"{tf_name}/kernel is {kernel.shape}, expected {shape}")
    return {f"{ours}.weight": kernel.T, f"{ours}.bias": values.get_tensor(f"{tf_name}/bias")}


def musicnn_state(values, config: dict) -> dict[str, np.ndarray]:
    """musicnn's variables in the order models.py creates them (tf.layers numbers them so)."""
    f_t, f_s, f_m = config["timbral_filters"], config["temporal_filters"], config["midend_filters"]
    heights, widths = config["timbral_heights"], config["temporal_widths"]
    state = _bn(values, "batch_normalization", "input_norm")
    conv, bn = 0, 1
    name = lambda base, i: base if i == 0 else f"{base}_{i}"  # noqa: E731
    for i, height in enumerate(heights):
        ours = f"front_end.timbral.branches.{i}"
        state |= _conv2d(values, name("conv2d", conv), f"{ours}.conv", (config["timbral_width"], height, 1, f_t))
        state |= _bn(values, name("batch_normalization", bn), f"{ours}.norm")
        conv, bn = conv + 1, bn + 1
    for i, width in enumerate(widths):
        ours = f"front_end.temporal.branches.{i}"
        state |= _conv2d(values, name("conv2d", conv), f"{ours}.conv", (width, 1, 1, f_s))
        state |= _bn(values, name("batch_normalization", bn), f"{ours}.norm")
        conv, bn = conv + 1, bn + 1
    channels = f_t * len(heights) + f_s * len(widths)
    for i in range(config["midend_layers"]):
        ours = f"midend.blocks.{i}.layers"
        shape = (config["midend_width"], channels if i == 0 else f_m, 1, f_m)
        state |= _conv1d(values, name("conv2d", conv), f"{ours}.conv", shape)
        state |= _bn(values, name("batch_normalization", bn), f"{ours}.norm")
        conv, bn = conv + 1, bn + 1
    pooled = 2 * (channels + f_m * config["midend_layers"])
    state |= _bn(values, name("batch_normalization", bn), "pooled_norm")
    state |= _dense(values, "dense", "dense", (pooled, config["dense_units"]))
    state |= _bn(values, name("batch_normalization", bn + 1), "dense_norm")
    state |= _dense(values, "dense_1", "classifier", (config["dense_units"], config["classes"]))
    return state


def vgg_state(values, config: dict) -> dict[str, np.ndarray]:
    filters = config["filters"]
    state = _bn(values, "batch_normalization", "input_norm")
    for i in range(len(config["pools"])):
        state |= _conv2d(values, f"{i + 1}CNN", f"blocks.{i}.conv", (3, 3, 1 if i == 0 else filters, filters))
        state |= _bn(values, f"batch_normalization_{i + 1}", f"blocks.{i}.norm")
    time, mels = config["frames"], config["n_mels"]
    for (km, kt), (sm, st) in config["pools"]:
        time, mels = (time - kt) // st + 1, (mels - km) // sm + 1
    kernel = values.get_tensor("dense/kernel")
    if kernel.shape != (time * mels * filters, config["classes"]):
        raise RuntimeError(f"dense/kernel is {kernel.shape}, expected {(time * mels * filters, config['classes'])}")
    # TF flattens NHWC (time, mels, channel); the port flattens NCHW (channel, mels, time)
    weight = kernel.reshape(time, mels, filters, -1).transpose(3, 2, 1, 0).reshape(config["classes"], -1)
    state |= {"classifier.weight": weight, "classifier.bias": values.get_tensor("dense/bias")}
    return state


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def convert(source: Path, folder: str, out: Path) -> Path:
    from safetensors.numpy import save_file

    name, architecture = CHECKPOINTS[folder]
    checkpoint = source / folder
    values = Variables(checkpoint)
    config = dict(MUSICNN_CONFIG) if architecture == "musicnn" else {**VGG_CONFIG, "pools": graph_pools(checkpoint)}
    state = (musicnn_state if architecture == "musicnn" else vgg_state)(values, config)
    state = {k: np.ascontiguousarray(v if v.dtype == np.int64 else v.astype(np.float32)) for k, v in state.items()}
    if values.unread():
        raise RuntimeError(f"{folder}: forward variables left out: {values.unread()}")
    tags = labels(folder)
    if len(tags) != config["classes"]:
        raise RuntimeError(f"{folder}: {len(tags)} tags for {config['classes']} outputs")
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{name}.safetensors"
    save_file(state, str(path), metadata={"source": f"musicnn 0.1.0 {folder}"})
    document = {
        "model": name,
        "config": config,
        "classes": tags,
        "output": "multilabel",
        "frontend": FRONTEND,
        "meta": {
            "source": f"musicnn 0.1.0 (PyPI wheel), {folder}",
            "license": f"ISC, Copyright (c) Music Technology Group, Universitat Pompeu Fabra 2019 (see {LICENSE_NAME})",
            "paper": "Pons & Serra 2019, musicnn: pre-trained convolutional neural networks for music audio tagging",
            "trained_on": DATASETS[folder[:3]],
            "converted_by": "scripts/convert_musicnn.py",
            "tensorflow": tf.__version__,
            "sha256_of_checkpoint_data": sha256(checkpoint / ".data-00000-of-00001"),
        },
    }
    path.with_suffix(".json").write_text(json.dumps(document, indent=2) + "\n")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, help="musicnn's package folder (default: the installed one)")
    parser.add_argument("--out", type=Path, default=WEIGHTS_DIR)
    args = parser.parse_args(argv)
    source = args.source or package_dir()
    for folder in CHECKPOINTS:
        path = convert(source, folder, args.out)
        shown = path.relative_to(REPO) if path.is_relative_to(REPO) else path
        print(f"{folder} -> {shown} ({path.stat().st_size / 1e6:.2f} MB)")
    licenses = (source / "LICENSE.md", *source.parent.glob("musicnn-*.dist-info/LICENSE*"))
    license_file = next((p for p in licenses if p.is_file()), None)
    if license_file is None:
        print("musicnn's LICENSE.md not found beside the package; copy it by hand", file=sys.stderr)
        return 1
    shutil.copyfile(license_file, args.out / LICENSE_NAME)
    return 0


if __name__ == "__main__":
    sys.exit(main())
