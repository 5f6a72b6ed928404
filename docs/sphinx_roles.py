"""Griffe extension for the site: the docstrings' Sphinx markup reads as Markdown.

``:class:`~specinterp.interfaces.Explainer``` becomes ```Explainer``` (code; ``~`` keeps the last
part, as in Sphinx), and a paragraph ending in ``::`` before a code block ends in ``:``.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj|const):`(~?)([^`]+)`")
ENDING_MARKER = re.compile(r"(?<=\S)::$", re.MULTILINE)  # "as follows::" -> "as follows:"
ALONE_MARKER = re.compile(r"^[ \t]*::[ \t]*\n", re.MULTILINE)  # a line holding only "::" goes


def role_as_code(match: re.Match[str]) -> str:
    """One role as a Markdown code span."""
    short, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


def markdown(text: str) -> str:
    """A docstring with its Sphinx roles and ``::`` literal markers in Markdown."""
    text = ROLE.sub(role_as_code, text)
    return ALONE_MARKER.sub("", ENDING_MARKER.sub(":", text))


class SphinxRoles(griffe.Extension):
    """Rewrites every docstring once the objects are loaded."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
