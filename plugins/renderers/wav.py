"""WAV renderer: the explanation heard. The map is a mask on the original STFT (phase kept).

Per map it writes ``<stem>.<label>.wav`` (mask = map: what the network used) and, when asked,
``<stem>.<label>.complement.wav`` (mask = 1 - map: what it ignored); ``<stem>`` is the ``stem`` option
(the CLI's name for the input's outputs), else the input's stem. The two masks sum to one, so the
two files sum to the decoded input up to rounding. Both have the input's duration at the model's rate:
the mask is applied on the model's own STFT grid (its front end's n_fft, hop and mel filterbank).
The complement is written when ``render(..., complement=True)`` (CLI ``--complement``) asks for it,
and always by the HTML renderer, which plays it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack
from pathlib import Path

import numpy as np
import soundfile as sf

from specinterp import hookimpl
from specinterp.frontend import masked_blocks
from specinterp.interfaces import Explanation, Renderer
from specinterp.outputs import atomic_write
from specinterp.samples import Samples


def label(explanation: Explanation, map_name: str) -> str:
    """The file-name label of one map: the explainer, plus the map name when they differ."""
    return explanation.explainer if map_name == explanation.explainer else f"{explanation.explainer}.{map_name}"


def listen_pairs(explanation: Explanation, map_name: str) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Consecutive pieces of what the network used (mask = map) and what it ignored (mask = 1 - map),
    from one inversion: the masks sum to one, so what it ignored is the decoded input minus what it
    used (the inversion gives the input back to rounding, spectral convergence ~1e-7). A long song is
    never whole in memory."""
    start = 0
    for used in masked_blocks(explanation.waveform, explanation.maps[map_name], explanation.frontend):
        original = np.asarray(explanation.waveform[start : start + len(used)], dtype=np.float32)
        start += len(used)
        yield used, original - used


def write_wavs(targets: Sequence[Path], pieces: Iterable[Sequence[np.ndarray]], explanation: Explanation) -> list[Path]:
    """Write consecutive tuples of pieces, one piece per target, as 16-bit WAVs atomically, never over
    the input; pieces are written as they come, so a long song is never whole in memory."""
    protect = Path(explanation.source)

    def opened(tmps: list[Path]) -> None:
        if len(tmps) < len(targets):  # one more temporary file, moved into place once all are written
            atomic_write(targets[len(tmps)], lambda tmp: opened([*tmps, tmp]), protect=protect)
            return
        with ExitStack() as stack:
            outs = [stack.enter_context(sf.SoundFile(tmp, "w", explanation.sample_rate, 1, subtype="PCM_16",
                                                     format="WAV")) for tmp in tmps]
            for parts in pieces:
                for out, part in zip(outs, parts, strict=True):
                    out.write(part)

    opened([])
    return [Path(t) for t in targets]


def samples_in_pieces(samples: Samples, size: int = 1 << 20) -> Iterator[np.ndarray]:
    """An array or spooled samples as consecutive pieces of at most ``size`` samples."""
    for start in range(0, len(samples), size):
        yield samples[start : start + size]


def track_path(explanation: Explanation, out_dir: Path, map_name: str, complement: bool = False,
               stem: str | None = None) -> Path:
    """Where the WAV of one map (or its complement) goes; ``stem`` replaces the input's."""
    extra = ".complement" if complement else ""
    return Path(out_dir) / f"{stem or explanation.stem}.{label(explanation, map_name)}{extra}.wav"


class WavRenderer(Renderer):
    name = "wav"
    suffix = ".wav"
    description = "the map applied as a mask to the original STFT and inverted with its own phase (and its complement)"
    options = {"complement": False, "stem": None}

    def render(self, explanation: Explanation, out_dir: Path, complement: bool = False,
               stem: str | None = None) -> list[Path]:
        """One WAV per map; with ``complement`` also one per ``1 - map`` (from the same inversion)."""
        written: list[Path] = []
        for name in explanation.maps:
            inverses = (False, True)[: 1 + complement]
            targets = [track_path(explanation, out_dir, name, inverse, stem) for inverse in inverses]
            pieces = (pair[: len(targets)] for pair in listen_pairs(explanation, name))
            written += write_wavs(targets, pieces, explanation)
        return written


@hookimpl
def register_renderers(register) -> None:
    register(WavRenderer())
