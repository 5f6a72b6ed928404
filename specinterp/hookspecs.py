"""Hook specifications: every way a plugin can extend specinterp.

A plugin is any module named in the ``specinterp`` entry-point group that implements some of the
hooks below with ``@specinterp.hookimpl``. Each hook hands the plugin a ``register`` callback, as
simonw/llm does, so a plugin is a few decorated functions::

    from specinterp import hookimpl

    @hookimpl
    def register_explainers(register):
        register(MyExplainer())

The built-in plugins (``specinterp_plugins``) load through the same entry-point group and use only
these hooks: there is nothing a built-in can do that a third-party package cannot, except that they
load first and keep their names. ``register`` raises ``TypeError`` for an object of the wrong type
and ``ValueError`` for a name the same plugin already registered; a hook that raises (anything, even
``SystemExit``) registers nothing and is recorded as that plugin's error. A name that another plugin
also registers is not an exception: it is recorded against both plugins, and the built-in (or the
distribution that ``SPECINTERP_PLUGIN_OVERRIDE`` chooses) keeps it; two third-party plugins that
claim one name both lose it. See "Name clashes" in ``docs/plugins.md``.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

hookspec = pluggy.HookspecMarker("specinterp")
hookimpl = pluggy.HookimplMarker("specinterp")


@hookspec
def register_models(register: Callable[[object], None]) -> None:
    """Register model plugins.

    Called once, the first time the registry is built. ``register`` takes an instance of
    :class:`specinterp.interfaces.ModelPlugin`; call it once per model. Returns nothing. Every
    plugin's implementation is called; a plugin that raises is recorded as broken and skipped.
    """


@hookspec
def register_explainers(register: Callable[[object], None]) -> None:
    """Register explainer plugins.

    Called once, the first time the registry is built. ``register`` takes an instance of
    :class:`specinterp.interfaces.Explainer`; call it once per explainer. Returns nothing. Every
    plugin's implementation is called; a plugin that raises is recorded as broken and skipped.
    """


@hookspec
def register_datasets(register: Callable[[object], None]) -> None:
    """Register dataset plugins.

    Called once, the first time the registry is built. ``register`` takes a
    :class:`specinterp.interfaces.DatasetPlugin` (a name plus a factory that opens the dataset at
    a path). Returns nothing. Every plugin's implementation is called.
    """


@hookspec
def register_renderers(register: Callable[[object], None]) -> None:
    """Register renderer plugins (explanation -> files).

    Called once, the first time the registry is built. ``register`` takes an instance of
    :class:`specinterp.interfaces.Renderer`; its ``options`` (name -> default) are the keyword options
    ``specinterp.api.render`` passes on to it, and ``covers`` names renderers whose files it writes as
    well (skipped beside it). Returns nothing. Every plugin's implementation is called.
    """


@hookspec
def register_metrics(register: Callable[[object], None]) -> None:
    """Register explanation-quality metrics for ``specinterp assess``.

    Called once, the first time the registry is built. ``register`` takes an instance of
    :class:`specinterp.interfaces.Metric`; its ``measure(case)`` returns the values of one clip.
    Returns nothing. Every plugin's implementation is called; a plugin that raises is recorded as
    broken and skipped.
    """
