"""Writing an explanation with renderer plugins (``specinterp.render`` and ``Explanation.save``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from specinterp.interfaces import plugin_errors
from specinterp.plugins import registry

if TYPE_CHECKING:
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
