"""Grad-CAM on a 30 s clip three ways in one process: specinterp, Captum wired by hand, pytorch-grad-cam.

    python benchmarks/peers.py [--repeat 21] [--smoke]

camcnn's windows of the clip (GTZAN country.00003 when ../shared/gtzan exists beside the repository,
else ``record.synthesized(30)``; 128 x 128 windows every 64 frames) are explained for the song's
predicted class at camcnn's ``features`` layer, ``api.EXPLAIN_BATCH`` windows at a time, by:

- ``specinterp``: the gradcam explainer plugin's ``explain`` on each batch (what ``api.song_maps``
  runs, without its stitching); ``specinterp_song_maps`` times ``api.song_maps`` itself (stitching
  and scaling to [0, 1] included), for reference;
- ``captum``: ``captum.attr.LayerGradCam(model, layer)`` and ``LayerAttribution.interpolate`` to the
  window (bilinear, as specinterp upsamples), as a user would write it by hand;
- ``pytorch_grad_cam``: ``pytorch_grad_cam.GradCAM`` with ``ClassifierOutputTarget`` (skipped, with
  the reason printed, when the ``[bench]`` extra is not installed).

The routes run interleaved, in a rotating order, ``--repeat`` times; per route the median and least
seconds are kept, and each ratio is the median of the per-repeat ratios (the two routes of a ratio
ran back to back, so a shared machine's load disturbs both alike). The maps are checked to agree:
the mean over windows of the Pearson correlation of two routes' maps of a window (windows where
either map is constant, e.g. all zero after the ReLU, are left out and counted). The record is
appended to benchmarks/results/peers.jsonl (``record.append``); ``--smoke``: a 3 s synthesized clip,
two repeats, nothing recorded.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from importlib.util import find_spec

import numpy as np
import torch
from captum.attr import LayerAttribution, LayerGradCam
from torch import nn

import record
from specinterp import api, audio, frontend, inference
from specinterp import windows as win
from specinterp.explaining import find_layer
from specinterp.plugins import registry

GTZAN_CLIP = record.GTZAN / "country" / "country.00003.ogg"
MODEL, LAYER, HOP = "camcnn", "features", 64
Route = Callable[[], np.ndarray]  # maps of every window (N, n_mels, frames)


def clip_samples(smoke: bool) -> tuple[np.ndarray, str]:
    """The clip's samples at 22050 Hz and a description of it."""
    if GTZAN_CLIP.exists() and not smoke:
        return audio.load(GTZAN_CLIP, record.RATE), "GTZAN country.00003 (30 s)"
    seconds = 3 if smoke else 30
    return record.synthesized(seconds), f"synthesized {seconds} s, seed 0"


def specinterp_route(loaded: api.LoadedModel, batches: list[torch.Tensor], target: int) -> Route:
    """The gradcam plugin's ``explain`` on each batch, as ``api.song_maps`` calls it."""
    method = registry().get("explainers", "gradcam")

    def run() -> np.ndarray:
        maps = (method.explain(loaded.module, batch, torch.full((len(batch),), target))["gradcam"] for batch in batches)
        return np.concatenate([m.numpy() for m in maps])
    return run


def song_maps_route(loaded: api.LoadedModel, windows: win.Windows, target: int) -> Route:
    """``api.song_maps``: the plugin's maps stitched over the song and scaled to [0, 1] (a song map, not per window)."""
    method = registry().get("explainers", "gradcam")
    return lambda: api.song_maps(method, loaded, windows, target, {})["gradcam"]


def captum_route(model: nn.Module, layer: nn.Module, batches: list[torch.Tensor], target: int) -> Route:
    """Captum by hand: ``LayerGradCam`` then ``LayerAttribution.interpolate`` to the window, bilinear."""
    def run() -> np.ndarray:
        gradcam = LayerGradCam(model, layer)
        maps = []
        for batch in batches:
            attribution = gradcam.attribute(batch, target=target, relu_attributions=True)
            maps.append(LayerAttribution.interpolate(attribution, batch.shape[-2:], interpolate_mode="bilinear")[:, 0])
        return torch.cat(maps).detach().numpy()
    return run


def pytorch_grad_cam_route(model: nn.Module, layer: nn.Module, batches: list[torch.Tensor], target: int) -> Route:
    """pytorch-grad-cam: ``GradCAM`` with the layer as its target layer and ``ClassifierOutputTarget``."""
    from pytorch_grad_cam import GradCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

    def run() -> np.ndarray:
        with GradCAM(model=model, target_layers=[layer]) as cam:
            return np.concatenate([cam(input_tensor=batch, targets=[ClassifierOutputTarget(target)] * len(batch))
                                   for batch in batches])
    return run


def timed(routes: dict[str, Route], repeat: int) -> tuple[dict[str, list[float]], dict[str, np.ndarray]]:
    """Each route's seconds per repeat (interleaved, the order rotating each repeat, after one untimed
    warm-up run of each) and its maps."""
    seconds: dict[str, list[float]] = {name: [] for name in routes}
    maps = {name: route() for name, route in routes.items()}
    names = list(routes)
    for run in range(repeat):
        for name in names[run % len(names):] + names[: run % len(names)]:
            started = time.perf_counter()
            maps[name] = routes[name]()
            seconds[name].append(time.perf_counter() - started)
    return seconds, maps


def pearson_per_window(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    """Mean over windows of the Pearson correlation of ``a[n]`` and ``b[n]`` ``(N, h, w)``, and how
    many windows were left out because either map is constant there."""
    x, y = a.reshape(len(a), -1).astype(np.float64), b.reshape(len(b), -1).astype(np.float64)
    x, y = x - x.mean(axis=1, keepdims=True), y - y.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1)
    varied = norms > 1e-12
    if not varied.any():
        return float("nan"), len(a)
    return float(np.mean((x * y).sum(axis=1)[varied] / norms[varied])), int((~varied).sum())


def paired_ratio(seconds: dict[str, list[float]], numerator: str, denominator: str) -> float:
    """Median over repeats of ``numerator``'s seconds over ``denominator``'s."""
    return round(statistics.median(a / b for a, b in zip(seconds[numerator], seconds[denominator], strict=True)), 3)


def figures(seconds: dict[str, list[float]], maps: dict[str, np.ndarray]) -> dict:
    """Seconds (median, least) per route, the ratios to specinterp, and the maps' agreement."""
    found = {"seconds": {name: {"median": round(statistics.median(s), 3), "min": round(min(s), 3)}
                         for name, s in seconds.items()}}
    for peer in ("captum", "pytorch_grad_cam"):
        if peer in seconds:
            found[f"ratio_specinterp_{peer}"] = paired_ratio(seconds, "specinterp", peer)
            r, left_out = pearson_per_window(maps["specinterp"], maps[peer])
            found[f"pearson_specinterp_{peer}"] = {"mean": round(r, 6), "constant_windows_left_out": left_out}
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=201,
                        help="interleaved runs of every route (a run is ~30 ms: thread wake-ups make single runs "
                             "vary 2x)")
    parser.add_argument("--smoke", action="store_true", help="3 s synthesized clip, 2 repeats, not recorded")
    args = parser.parse_args()
    repeat = 2 if args.smoke else args.repeat

    loaded = api.load_model(MODEL)
    samples, described = clip_samples(args.smoke)
    spectrogram = frontend.log_mel(samples, loaded.frontend)
    prediction, windows = inference.predict(loaded.module, spectrogram, loaded.classes, HOP, loaded.frontend)
    batches = [torch.from_numpy(windows[start : start + api.EXPLAIN_BATCH])
               for start in range(0, len(windows), api.EXPLAIN_BATCH)]
    layer = find_layer(loaded.module, LAYER)
    print(f"{described}: {len(windows)} windows of {windows.size} frames every {HOP}, batches of {api.EXPLAIN_BATCH}, "
          f"target {loaded.classes[prediction.index]}, {repeat} repeats, {torch.get_num_threads()} threads", flush=True)

    routes = {"specinterp": specinterp_route(loaded, batches, prediction.index),
              "specinterp_song_maps": song_maps_route(loaded, windows, prediction.index),
              "captum": captum_route(loaded.module, layer, batches, prediction.index)}
    skipped = None
    if find_spec("pytorch_grad_cam"):
        routes["pytorch_grad_cam"] = pytorch_grad_cam_route(loaded.module, layer, batches, prediction.index)
    else:
        skipped = "pytorch_grad_cam is not installed (pip install '.[bench]')"
        print(f"pytorch-grad-cam skipped: {skipped}")
    seconds, maps = timed(routes, repeat)
    found = figures(seconds, maps)
    for name, s in found["seconds"].items():
        print(f"{name:<22} median {s['median']:7.3f} s   min {s['min']:7.3f} s")
    for peer in ("captum", "pytorch_grad_cam"):
        if f"ratio_specinterp_{peer}" in found:
            print(f"specinterp / {peer}: {found[f'ratio_specinterp_{peer}']:.3f}   "
                  f"maps' Pearson r {found[f'pearson_specinterp_{peer}']['mean']:.6f}")
    record.append("peers", {
        "input": described, "model": MODEL, "layer": LAYER, "target": loaded.classes[prediction.index],
        "windows": len(windows), "window_frames": windows.size, "hop": HOP, "batch": api.EXPLAIN_BATCH,
        "repeat": repeat, "specinterp_route": "the gradcam plugin's explain per batch (no stitching)",
        "pytorch_grad_cam_skipped": skipped, **found,
    }, args.smoke, "grad-cam")


if __name__ == "__main__":
    main()
