"""Ctrl-C and SIGTERM for long work, whichever thread does it.

Python delivers signals to the main thread only, while the command line runs its
commands on a thread of their own (a deep stack for deep policies). Long work that
must stop cleanly on a signal — replay writes what it has, marked incomplete —
registers a callback with `on_interrupt`; `trapped` installs, in the main thread, the
handlers that call the callbacks registered at the moment the signal arrives. A
signal that finds no callback behaves as it would without policydiff: SIGINT raises
KeyboardInterrupt, SIGTERM ends the process.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_callbacks: list[Callable[[], None]] = []
_lock = threading.Lock()


@contextmanager
def on_interrupt(callback: Callable[[], None]) -> Iterator[None]:
    """Call `callback` (from the main thread) on SIGINT or SIGTERM while inside. On the
    main thread itself the handlers are installed here too, for library callers."""
    with _lock:
        _callbacks.append(callback)
    try:
        with trapped():
            yield
    finally:
        with _lock:
            _callbacks.remove(callback)


def _handler(signum: int, frame: object) -> None:
    with _lock:
        callbacks = list(_callbacks)
    for callback in callbacks:
        callback()
    if callbacks:
        return
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


@contextmanager
def trapped() -> Iterator[None]:
    """Route SIGINT and SIGTERM to the registered callbacks while inside; does nothing
    off the main thread (only the main thread can install handlers) or when the
    handlers are already ours."""
    if threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGTERM) is _handler:
        yield
        return
    saved = {s: signal.signal(s, _handler) for s in SIGNALS}
    try:
        yield
    finally:
        for s, h in saved.items():
            signal.signal(s, h)
