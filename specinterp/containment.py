"""Run a plugin's code so that whatever it raises becomes a value, while a real Ctrl-C still stops.

A plugin may raise anything, ``SystemExit`` (``sys.exit``) and ``KeyboardInterrupt`` included;
:meth:`InterruptWatch.guard` returns it instead, for the caller to record as that plugin's error.
Only a SIGINT that really arrived (the user pressed Ctrl-C) propagates, as ``KeyboardInterrupt``,
even when the plugin caught it.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any


class InterruptWatch:
    """Tells a real Ctrl-C (SIGINT) from a plugin that raises ``KeyboardInterrupt`` itself.

    While active, a SIGINT is noted and then handled as before (Python's handler raises
    ``KeyboardInterrupt``). Only the main thread receives signals; elsewhere nothing is installed.
    """

    def __init__(self) -> None:
        self.seen = False
        self._previous: Callable | None = None

    def __enter__(self) -> InterruptWatch:
        if threading.current_thread() is threading.main_thread():
            previous = signal.getsignal(signal.SIGINT)
            if callable(previous):  # SIG_IGN / SIG_DFL never raise KeyboardInterrupt: nothing to tell apart
                self._previous = previous
                signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.seen = True
        assert self._previous is not None
        self._previous(signum, frame)

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)

    def guard(self, call: Callable[..., object], *args: Any) -> BaseException | None:
        """Run a plugin's code; return what it raised (anything at all), or None. A real Ctrl-C propagates."""
        try:
            call(*args)
        except BaseException as exc:  # a plugin must not take the others down, whatever it raises
            if self.seen:
                if isinstance(exc, KeyboardInterrupt):
                    raise
                raise KeyboardInterrupt from exc
            return exc
        if self.seen:  # the plugin caught the user's Ctrl-C and carried on: stop anyway
            raise KeyboardInterrupt
        return None


def describe(exc: BaseException, phase: str) -> str:
    """One line: ``RuntimeError: boom`` for an exception, ``import raised SystemExit(3)`` for the rest."""
    if not isinstance(exc, Exception):
        return f"{phase} raised {exc!r}"
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
