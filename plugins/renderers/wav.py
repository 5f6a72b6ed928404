"""WAV renderer: the explanation heard. The map is a mask on the original STFT (phase kept)."""

from __future__ import annotations

from pathlib import Path

import soundfile as sf

from specinterp import hookimpl
from specinterp.frontend import apply_mask
from specinterp.interfaces import Explanation, Renderer
from specinterp.outputs import atomic_write


class WavRenderer(Renderer):
    name = "wav"
    suffix = ".wav"
    description = "the map applied as a mask to the original STFT and inverted with its own phase"

    def render(self, explanation: Explanation, out_dir: Path) -> list[Path]:
        paths = []
        for map_name, mask in explanation.maps.items():
            audio = apply_mask(explanation.waveform, mask)
            label = explanation.explainer if map_name == explanation.explainer else f"{explanation.explainer}.{map_name}"
            target = Path(out_dir) / f"{explanation.stem}.{label}{self.suffix}"
            paths.append(atomic_write(
                target, lambda tmp: sf.write(tmp, audio, explanation.sample_rate, subtype="PCM_16", format="WAV"),
                protect=Path(explanation.source)))
        return paths


@hookimpl
def register_renderers(register) -> None:
    register(WavRenderer())
