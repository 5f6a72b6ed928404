"""MkDocs hook: a reference page joins the site only once the module it documents exists.

``specinterp.testing`` (the conformance kit) is being written; until ``specinterp/testing.py`` is
there, ``testing.md`` and its ``nav`` entry are dropped, so ``mkdocs build --strict`` stays green.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OPTIONAL = {"testing.md": ROOT / "specinterp" / "testing.py"}  # page -> the module it documents


def missing_pages() -> set[str]:
    """The optional pages whose module is absent."""
    return {page for page, module in OPTIONAL.items() if not module.exists()}


def without(nav: list[Any], pages: set[str]) -> list[Any]:
    """``nav`` with every entry that points at one of ``pages`` removed (sections kept)."""
    kept = []
    for entry in nav:
        if isinstance(entry, dict):
            (title, target), = entry.items()
            if isinstance(target, list):
                kept.append({title: without(target, pages)})
            elif target not in pages:
                kept.append(entry)
        elif entry not in pages:
            kept.append(entry)
    return kept


def on_config(config: Any) -> Any:
    config["nav"] = without(config["nav"], missing_pages())
    return config


def on_files(files: Any, config: Any) -> Any:
    for page in missing_pages():
        file = files.get_file_from_path(page)
        if file is not None:
            files.remove(file)
    return files
