"""Writing an explanation with renderer plugins (``specinterp.render`` and ``Explanation.save``), and
hearing it (``specinterp.listen``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from specinterp.interfaces import SpecinterpError, plugin_errors
from specinterp.plugins import registry

if TYPE_CHECKING:
    import numpy as np

    from specinterp.interfaces import Explanation


def render(explanation: Explanation, out_dir: str | Path, renderers: tuple[str, ...] = ("png", "wav", "html"),
           **options: Any) -> list[Path]:
    """Write the explanation with each named renderer; return the paths written.

    Each renderer gets the ``options`` it declares (e.g. ``complement=True``: the wav renderer also
    writes ``1 - map``, what the network ignored). A renderer that another chosen one ``covers`` is
    skipped (html writes the WAVs it plays).
    """
    chosen = [registry().get("renderers", name) for name in renderers]
    covered = set().union(*(renderer.covers for renderer in chosen))
    paths: list[Path] = []
    for renderer in chosen:
        if renderer.name not in covered:
            with plugin_errors(f"renderer '{renderer.name}'"):
                paths += renderer.render(explanation, Path(out_dir),
                                         **{k: v for k, v in options.items() if k in renderer.options})
    return paths


def listen(explanation: Explanation, map_name: str | None = None, complement: bool = False,
           samples: int | None = None) -> np.ndarray:
    """What the network used from the song, as sound: the map spread onto the song's STFT as a mask
    (the phase kept) and inverted; with ``complement`` what it ignored (mask ``1 - map``). The two sum
    to the song. This is what the WAV renderer writes, here whole in memory.

    Parameters
    ----------
    explanation : Explanation
        From :func:`specinterp.explain`.
    map_name : str or None
        One of ``explanation.maps`` (default: the first).
    complement : bool, default False
        What the network ignored instead.
    samples : int or None
        Only the song's first ``samples`` samples (default: all).

    Returns
    -------
    np.ndarray [shape=(samples,), dtype=float32]
        Mono, at ``explanation.sample_rate``, as long as the song (or ``samples``).
    """
    import numpy as np

    from specinterp.frontend import apply_mask

    name = map_name or next(iter(explanation.maps))
    if name not in explanation.maps:
        raise SpecinterpError(f"no map '{name}' in this explanation (maps: {', '.join(explanation.maps)})")
    waveform = np.asarray(explanation.waveform[:samples], dtype=np.float32)
    mask = explanation.maps[name][:, : explanation.frontend.frames(len(waveform))]
    return apply_mask(waveform, 1.0 - mask if complement else mask, explanation.frontend)
