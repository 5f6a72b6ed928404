"""The forward pass near its limit: predict's window outputs against the same convolutions benchmarked alone.

    python benchmarks/forward.py [--model camcnn|basecnn|musicnn-genre] [--seconds 180] [--repeat 5] [--variants]
        [--smoke]

For the model as ``api.load_model`` gives it and the windows of a seeded synthesized song (default 3
minutes, at the model's rate, window length and hop), it measures:

- ``forward_s``: ``specinterp.inference.window_outputs(module, windows)`` as ``inference.predict``
  calls it (``Windows`` cut 16 at a time, channels-last, ``torch.inference_mode``): its first call
  after loading (as in a command-line run) and, warm, the median and least of ``--repeat`` runs;
- ``forward_gflop``: the FLOPs of the model's forward on those windows (``FlopCounterMode``: 2 per
  multiply-add, convolutions and matrix products);
- ``bound_s``, the "FLOP-bound" time: each Conv1d / Conv2d / Linear of the model applied alone with
  ``torch.nn.functional`` to a random input of its real shape for all N windows at once, under
  ``torch.inference_mode``, contiguous and channels_last (4-D), the least of several warm runs in the
  faster layout; summed over the layers (per layer in ``layers``). ``bound_any_batch_s`` also lets
  each layer take its windows 16 at a time (each output dropped before the next, as in a forward):
  a tighter bound, since a big batch's outputs (127 MB for camcnn's first layer) are fresh memory
  on every call;
- ``matmul_gflops``: the machine's GFLOP/s on a 2048 x 2048 float32 matrix product (best of several).

``ratio_forward_bound`` is the least warm forward time over the bound (the issue's target: <= 2).
``--variants`` also times the forward as it was before issue 13 (batches of 64, ``torch.no_grad``,
contiguous) and each change from there (batch size, ``torch.inference_mode``, channels_last model and
input, one thread, batch norm folded into the convolutions), each warm, interleaved in a rotating
order, with its ratio to the bound: what brought the forward within 2x.
The record is appended to benchmarks/results/forward.jsonl (``record.append``); ``--smoke``: a 3 s
song (2 windows), 1 repeat, a 256 x 256 product, nothing recorded.

On 2 cores a 3-minute song's forward takes about 0.4 s (camcnn), 1 s (basecnn) and 6-7 s
(musicnn-genre, 340 GFLOP): ``--variants`` on musicnn-genre takes about 10 minutes (``--seconds 30``: 1).
"""

from __future__ import annotations

import argparse
import copy
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import record
from specinterp import api, frontend, inference
from specinterp import windows as win

KERNELS = (nn.Conv1d, nn.Conv2d, nn.Linear)
CHUNK = 16  # windows at a time for the bound's second way (activations that stay in cache)
Run = Callable[[], object]


# ---------------------------------------------------------------- input

def song_windows(loaded: api.LoadedModel, seconds: float) -> win.Windows:
    """The windows ``inference.predict`` cuts from a seeded synthesized song of ``seconds``."""
    config = loaded.frontend
    spectrogram = frontend.log_mel(record.synthesized(seconds, rate=config.sample_rate), config)
    return win.split(spectrogram, size=config.window_frames, hop=config.window_hop, last=config.last_window)


def seconds_of(run: Run) -> float:
    """Wall seconds of one call."""
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def best(run: Run, repeat: int) -> float:
    """The least of ``repeat`` warm calls (after two untimed)."""
    run(), run()
    return min(seconds_of(run) for _ in range(repeat))


# ---------------------------------------------------------------- FLOPs and the bound

def forward_flops(module: nn.Module, windows: win.Windows) -> int:
    """FLOPs of the module's forward on every window (FlopCounterMode, 2 per multiply-add)."""
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        for start in range(0, len(windows), 64):
            module(torch.from_numpy(windows[start : start + 64]))
    return counter.get_total_flops()


def kernel_calls(module: nn.Module, window: torch.Tensor) -> list[tuple[str, nn.Module, tuple[int, ...]]]:
    """Each Conv1d / Conv2d / Linear the forward of one window calls: its name, itself, its input's
    shape without the batch axis, in the order called."""
    names = {layer: name for name, layer in module.named_modules()}
    calls: list[tuple[str, nn.Module, tuple[int, ...]]] = []
    def note(layer: nn.Module, args: tuple) -> None:
        calls.append((names[layer], layer, tuple(args[0].shape[1:])))

    hooks = [layer.register_forward_pre_hook(note) for layer in module.modules() if isinstance(layer, KERNELS)]
    try:
        with torch.no_grad():
            module(window)
    finally:
        for hook in hooks:
            hook.remove()
    return calls


def kernel_alone(layer: nn.Module, x: torch.Tensor, channels_last: bool, batch: int) -> Run:
    """The layer's own operation through ``torch.nn.functional`` on ``x``, ``batch`` windows at a time,
    in the layout asked."""
    weight = layer.weight.detach()
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
        weight = weight.contiguous(memory_format=torch.channels_last)
    chunks = x.split(batch)
    if isinstance(layer, nn.Linear):
        operation = partial(F.linear, weight=weight, bias=layer.bias)
    else:
        conv = F.conv2d if isinstance(layer, nn.Conv2d) else F.conv1d
        operation = partial(conv, weight=weight, bias=layer.bias, stride=layer.stride, padding=layer.padding,
                            dilation=layer.dilation, groups=layer.groups)

    def run() -> None:
        for chunk in chunks:  # each output dropped before the next, as in the forward
            operation(chunk)
    return run


def kernel_figures(name: str, layer: nn.Module, shape: tuple[int, ...], count: int, repeat: int) -> dict:
    """One layer alone on ``count`` windows' input, all at once and :data:`CHUNK` at a time, in each
    layout: GFLOP, least seconds of each way, the fastest all at once (``best_s``) and of all (``best_any_s``)."""
    x = torch.randn(count, *shape, generator=torch.Generator().manual_seed(0))
    layouts = {"contiguous": False, "channels_last": True} if x.dim() == 4 else {"contiguous": False}
    ways = {(layout, batch): flag for layout, flag in layouts.items() for batch in sorted({count, min(CHUNK, count)})}
    with torch.inference_mode():
        with FlopCounterMode(display=False) as counter:
            kernel_alone(layer, x, False, count)()
        seconds = {way: best(kernel_alone(layer, x, flag, way[1]), repeat) for way, flag in ways.items()}
    whole = min((way for way in seconds if way[1] == count), key=seconds.get)
    fastest = min(seconds, key=seconds.get)
    flops = counter.get_total_flops()
    return {"name": name, "kind": type(layer).__name__, "input": [count, *shape], "gflop": round(flops / 1e9, 4),
            "seconds": {f"{layout}, batch {batch}": round(v, 6) for (layout, batch), v in seconds.items()},
            "layout": whole[0], "best_s": round(seconds[whole], 6), "gflops": round(flops / 1e9 / seconds[whole], 1),
            "best_any": f"{fastest[0]}, batch {fastest[1]}", "best_any_s": round(seconds[fastest], 6)}


def bound_layers(module: nn.Module, windows: win.Windows, repeat: int) -> list[dict]:
    """:func:`kernel_figures` of every Conv / Linear call of the forward, on all the windows, printed."""
    layers = [kernel_figures(name, layer, shape, len(windows), repeat)
              for name, layer, shape in kernel_calls(module, torch.from_numpy(windows[:1]))]
    for layer in layers:
        print(f"  {layer['name']:<40} {layer['kind']:<7} {layer['input']!s:<22} {layer['gflop']:8.3f} GFLOP "
              f"{layer['best_s']:8.4f} s ({layer['layout']}, {layer['gflops']:6.1f} GFLOP/s); "
              f"{layer['best_any_s']:8.4f} s ({layer['best_any']})", flush=True)
    return layers


def matmul_gflops(size: int, repeat: int) -> float:
    """GFLOP/s of a ``size`` x ``size`` float32 matrix product, best of ``repeat``."""
    a = torch.randn(size, size, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        return 2 * size**3 / best(lambda: a @ a, repeat) / 1e9


# ---------------------------------------------------------------- the forward and its variants

@dataclass(frozen=True)
class Setting:
    """How the windows go through the model: the knobs the variants turn."""

    batch: int = 64
    inference_mode: bool = False
    channels_last: bool = False
    threads: int | None = None  # None: torch's default
    fold_batch_norm: bool = False


def prepared(module: nn.Module, setting: Setting) -> nn.Module:
    """A copy of the module as ``setting`` asks: batch norm folded into the convolutions (torch.fx),
    channels_last or contiguous weights."""
    from torch.fx.experimental.optimization import fuse

    changed = fuse(module) if setting.fold_batch_norm else copy.deepcopy(module)
    return changed.to(memory_format=torch.channels_last if setting.channels_last else torch.contiguous_format)


def window_outputs_as(module: nn.Module, windows: win.Windows, setting: Setting, multilabel: bool) -> Run:
    """``inference.window_outputs``'s loop with the knobs of ``setting``: cut a batch, run, check, log-softmax."""
    model = prepared(module, setting)
    grad_mode = torch.inference_mode if setting.inference_mode else torch.no_grad
    layout = torch.channels_last if setting.channels_last else torch.contiguous_format

    def run() -> np.ndarray:
        threads = torch.get_num_threads()
        torch.set_num_threads(setting.threads or threads)
        try:
            out = []
            with grad_mode():
                for start in range(0, len(windows), setting.batch):
                    batch = torch.from_numpy(windows[start : start + setting.batch])
                    logits = model(batch.contiguous(memory_format=layout))
                    if not bool(torch.isfinite(logits).all()):
                        raise ValueError("NaN or infinite outputs")
                    out.append(torch.sigmoid(logits) if multilabel else torch.log_softmax(logits, dim=1))
            return torch.cat(out).numpy()
        finally:
            torch.set_num_threads(threads)
    return run


def variant_settings(windows: int) -> dict[str, Setting]:
    """The variants: one knob at a time from predict's setting before issue 13, then the knobs together."""
    base = Setting()
    together = replace(base, inference_mode=True, channels_last=True, fold_batch_norm=True)
    return {
        "before (batch 64, no_grad, contiguous)": base,
        "now (batch 16, inference_mode, channels_last)": replace(base, batch=16, inference_mode=True,
                                                                 channels_last=True),
        "batch 8": replace(base, batch=8),
        "batch 16": replace(base, batch=16),
        "batch 32": replace(base, batch=32),
        "batch 128": replace(base, batch=128),
        f"batch {windows} (all)": replace(base, batch=windows),
        "inference_mode": replace(base, inference_mode=True),
        "channels_last": replace(base, channels_last=True),
        "1 thread": replace(base, threads=1),
        "batch norm folded": replace(base, fold_batch_norm=True),
        "inference_mode + channels_last + batch norm folded": together,
        "the three + batch 16": replace(together, batch=16),
    }


def interleaved(runs: dict[str, Run], repeat: int) -> dict[str, list[float]]:
    """Seconds of each run per repeat, after one untimed call each; the order rotates every repeat."""
    for run in runs.values():
        run()
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    names = list(runs)
    for turn in range(repeat):
        for name in names[turn % len(names):] + names[: turn % len(names)]:
            seconds[name].append(seconds_of(runs[name]))
    return seconds


def summary(seconds: list[float], bound: float, bound_any: float) -> dict:
    """Median and least seconds, and the least over each bound."""
    return {"median": round(statistics.median(seconds), 4), "min": round(min(seconds), 4),
            "ratio_bound": round(min(seconds) / bound, 2), "ratio_bound_any_batch": round(min(seconds) / bound_any, 2)}


# ---------------------------------------------------------------- main

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="camcnn")
    parser.add_argument("--seconds", type=float, default=180.0, help="length of the song whose windows are used")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each figure")
    parser.add_argument("--variants", action="store_true", help="also time changes to the forward")
    parser.add_argument("--smoke", action="store_true", help="a 3 s song, 1 repeat, not recorded")
    args = parser.parse_args()
    seconds, repeat, matrix = (3.0, 1, 256) if args.smoke else (args.seconds, args.repeat, 2048)

    loaded = api.load_model(args.model)
    windows = song_windows(loaded, seconds)
    predict = partial(inference.window_outputs, loaded.module, windows, multilabel=loaded.multilabel)
    first = seconds_of(predict)  # before anything else runs the model, as in a command-line run
    print(f"{args.model}: {len(windows)} windows {list(windows[:1].shape[1:])} of a {seconds:g} s song "
          f"(hop {loaded.frontend.window_hop}), {torch.get_num_threads()} threads", flush=True)

    flops = forward_flops(loaded.module, windows)
    layers = bound_layers(loaded.module, windows, repeat)
    bound, bound_any = sum(layer["best_s"] for layer in layers), sum(layer["best_any_s"] for layer in layers)
    gflops = matmul_gflops(matrix, repeat)

    runs: dict[str, Run] = {"predict": predict}
    if args.variants:
        runs.update({name: window_outputs_as(loaded.module, windows, setting, loaded.multilabel)
                     for name, setting in variant_settings(len(windows)).items()})
    timed = {name: summary(s, bound, bound_any) for name, s in interleaved(runs, repeat).items()}
    forward = timed.pop("predict")
    print(f"forward (window_outputs) {forward['min']:.3f} s best, {forward['median']:.3f} s median, "
          f"first call {first:.3f} s; "
          f"{flops / 1e9:.2f} GFLOP -> {flops / 1e9 / forward['min']:.1f} GFLOP/s")
    print(f"bound (its Conv/Linear alone, all windows at once) {bound:.3f} s; in any layout and batching tried "
          f"{bound_any:.3f} s; matmul {gflops:.1f} GFLOP/s")
    print(f"forward / bound: {forward['ratio_bound']:.2f} (target <= 2); "
          f"/ bound in any batching {forward['ratio_bound_any_batch']:.2f}")
    for name, figures in timed.items():
        print(f"  {name:<52} {figures['min']:7.3f} s best {figures['median']:7.3f} s median   / bound "
              f"{figures['ratio_bound']:5.2f} / any batching {figures['ratio_bound_any_batch']:5.2f}")
    record.append("forward", {
        "model": args.model, "input": f"synthesized {seconds:g} s, seed 0", "windows": len(windows),
        "window": list(windows[:1].shape[1:]), "hop": loaded.frontend.window_hop, "repeat": repeat,
        "forward_first_call_s": round(first, 4), "forward_s": forward, "forward_gflop": round(flops / 1e9, 3),
        "bound_s": round(bound, 4), "ratio_forward_bound": forward["ratio_bound"],
        "bound_any_batch_s": round(bound_any, 4), "ratio_forward_bound_any_batch": forward["ratio_bound_any_batch"],
        "matmul_size": matrix,
        "matmul_gflops": round(gflops, 1), "layers": layers, "variants": timed or None,
    }, args.smoke)


if __name__ == "__main__":
    main()
