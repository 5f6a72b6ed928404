"""specinterp: make audio-spectrogram CNNs explain themselves.

The package root stays light (no torch) so that the CLI starts fast; the API loads on first use.
"""

from __future__ import annotations

from typing import Any

from specinterp.hookspecs import hookimpl
from specinterp.interfaces import CamHead, ExplainableModel

__all__ = ["hookimpl", "explain", "predict", "load_model", "render", "listen", "explain_many", "assess",
           "open_dataset", "FrontendConfig", "CamHead", "ExplainableModel"]
__version__ = "0.2.0"


def __getattr__(name: str) -> Any:
    if name in {"explain", "predict", "load_model"}:
        from specinterp import api

        return getattr(api, name)
    if name in {"render", "listen"}:
        from specinterp import rendering

        return getattr(rendering, name)
    if name == "explain_many":
        from specinterp.many import explain_many

        return explain_many
    if name == "assess":
        from specinterp.assessment_run import assess

        return assess
    if name == "open_dataset":
        from specinterp.plugins import open_dataset

        return open_dataset
    if name == "FrontendConfig":
        from specinterp.frontend import FrontendConfig

        return FrontendConfig
    raise AttributeError(f"module 'specinterp' has no attribute {name!r}")
