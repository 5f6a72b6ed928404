"""Griffe extension for the site: what the docstrings write for Sphinx and numpydoc reads right as Markdown.

- ``:class:`~specinterp.interfaces.Explainer``` becomes ```Explainer``` (code; ``~`` keeps the last
  part, as in Sphinx).
- A paragraph ending in ``::`` before a code block ends in ``:``.
- A numpydoc entry naming several parameters (``weights, hop, options``) becomes one entry per name
  with the same text, so each is shown with its own type and default from the signature (griffe gives
  every name of a group the first one's).
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|data|exc|obj|const):`(~?)([^`]+)`")
ENDING_MARKER = re.compile(r"(?<=\S)::$", re.MULTILINE)  # "as follows::" -> "as follows:"
ALONE_MARKER = re.compile(r"^[ \t]*::[ \t]*\n", re.MULTILINE)  # a line holding only "::" goes
GROUPED = re.compile(  # "a, b, c[ : type]" over a more indented description
    r"^(?P<indent>[ \t]*)(?P<names>\w+(?:, \w+)+)(?P<type>[ \t]+:[ \t].*)?\n"
    r"(?P<text>(?:(?P=indent)[ \t]+\S.*(?:\n|$))+)",
    re.MULTILINE,
)


def role_as_code(match: re.Match[str]) -> str:
    """One role as a Markdown code span."""
    short, target = match.groups()
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


def one_entry_per_name(match: re.Match[str]) -> str:
    """A grouped numpydoc parameter entry as one entry per name."""
    text = match["text"] if match["text"].endswith("\n") else match["text"] + "\n"
    return "".join(f"{match['indent']}{name}{match['type'] or ''}\n{text}" for name in match["names"].split(", "))


def markdown(docstring: str) -> str:
    """A docstring with its Sphinx roles, ``::`` markers and grouped parameters rewritten."""
    text = ROLE.sub(role_as_code, docstring)
    text = ALONE_MARKER.sub("", ENDING_MARKER.sub(":", text))
    return GROUPED.sub(one_entry_per_name, text)


class DocstringMarkdown(griffe.Extension):
    """Rewrites every docstring once the objects are loaded."""

    def on_object(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
