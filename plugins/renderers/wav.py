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

from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import soundfile as sf

from specinterp import hookimpl
from specinterp.frontend import apply_mask, masked_blocks
from specinterp.interfaces import Explanation, Renderer
from specinterp.outputs import atomic_write
from specinterp.samples import Samples


def label(explanation: Explanation, map_name: str) -> str:
    """The file-name label of one map: the explainer, plus the map name when they differ."""
    return explanation.explainer if map_name == explanation.explainer else f"{explanation.explainer}.{map_name}"


def listen(explanation: Explanation, map_name: str, complement: bool = False, samples: int | None = None) -> np.ndarray:
    """The waveform masked by the map (or ``1 - map``); ``samples`` limits it to the song's start."""
    waveform = explanation.waveform[:samples]
    mask = explanation.maps[map_name][:, : explanation.frontend.frames(len(waveform))]
    return apply_mask(waveform, 1.0 - mask if complement else mask, explanation.frontend)


def listen_blocks(explanation: Explanation, map_name: str, complement: bool = False) -> Iterator[np.ndarray]:
    """The whole masked waveform in consecutive pieces, for writing long songs without holding them."""
    mask = explanation.maps[map_name]
    return masked_blocks(explanation.waveform, 1.0 - mask if complement else mask, explanation.frontend)


def write_wav(target: Path, audio: np.ndarray | Iterable[np.ndarray], explanation: Explanation) -> Path:
    """Write ``audio`` (an array, or consecutive pieces of one) as a 16-bit WAV atomically, never over
    the input; pieces are written as they come, so a long song is never whole in memory."""
    pieces = [audio] if isinstance(audio, np.ndarray) else audio

    def write(tmp: Path) -> None:
        with sf.SoundFile(tmp, "w", explanation.sample_rate, 1, subtype="PCM_16", format="WAV") as out:
            for piece in pieces:
                out.write(piece)

    return atomic_write(target, write, protect=Path(explanation.source))


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
        """One WAV per map; with ``complement`` also one per ``1 - map``."""
        variants = (False, True) if complement else (False,)
        return [write_wav(track_path(explanation, out_dir, name, inverse, stem), listen_blocks(explanation, name, inverse),
                          explanation) for name in explanation.maps for inverse in variants]


@hookimpl
def register_renderers(register) -> None:
    register(WavRenderer())
