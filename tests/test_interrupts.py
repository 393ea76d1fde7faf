"""Signals reach long work whichever thread does it (the CLI runs commands off the main thread)."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from policydiff.interrupts import on_interrupt, trapped


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_calls_the_callbacks_of_work_on_another_thread(signum):
    seen = threading.Event()
    registered = threading.Event()

    def work() -> None:
        with on_interrupt(seen.set):
            registered.set()
            seen.wait(10)

    before = signal.getsignal(signum)
    with trapped():
        t = threading.Thread(target=work)
        t.start()
        registered.wait(10)
        os.kill(os.getpid(), signum)
        deadline = time.monotonic() + 10
        while t.is_alive() and time.monotonic() < deadline:
            t.join(0.05)
    assert seen.is_set() and not t.is_alive()
    assert signal.getsignal(signum) is before  # handlers restored


def test_sigint_without_a_callback_is_keyboard_interrupt():
    with pytest.raises(KeyboardInterrupt), trapped():
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)
