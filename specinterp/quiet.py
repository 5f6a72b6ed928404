"""Keep C libraries' chatter (mpg123 inside libsndfile, ffmpeg under audioread) off our stderr.

Those libraries write straight to file descriptor 2, so ``sys.stderr`` cannot catch them: for the
duration of one library call, descriptor 2 points at ``/dev/null`` and is then restored. Calls from
several threads nest: the first one in redirects, the last one out restores. Python's own pending
stderr text is flushed first so nothing written before the call is lost; a message our code raises
is printed after the call, on the restored descriptor. Only text written to stderr by another thread
*during* a library call (milliseconds per block) is dropped, which is why each call is wrapped
separately rather than a whole decode.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_saved: int | None = None  # a duplicate of the real descriptor 2 while redirected


@contextmanager
def quiet_stderr() -> Iterator[None]:
    """Redirect descriptor 2 to /dev/null for the ``with`` block, then restore it (thread-safe)."""
    _enter()
    try:
        yield
    finally:
        _leave()


def _enter() -> None:
    global _depth, _saved
    with _lock:
        _depth += 1
        if _depth > 1:
            return
        with contextlib.suppress(AttributeError, OSError, ValueError):  # no stderr, or a closed one
            sys.stderr.flush()
        try:
            saved = os.dup(2)
        except OSError:  # descriptor 2 is closed: nothing to protect
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
        finally:
            os.close(devnull)
        _saved = saved


def _leave() -> None:
    global _depth, _saved
    with _lock:
        _depth -= 1
        if _depth or _saved is None:
            return
        os.dup2(_saved, 2)
        os.close(_saved)
        _saved = None
