"""Flush telemetry when a plain ``python app.py`` process is stopped with SIGTERM.

Python's default SIGTERM action ends the process at once, without ``atexit``: the spans still in
the batch processor's queue and the last metric interval are lost. Servers that handle SIGTERM
themselves (gunicorn, uvicorn, Django's runserver...) exit normally and ``atexit`` runs our
bounded shutdown; this module is for the processes that do not.

Only when SIGTERM has the default action and ``configure()`` runs on the main thread, otelperf
installs a handler that runs the bounded shutdown, restores the default action and sends SIGTERM
again, so the process still ends *by the signal* (same exit status for supervisors). A handler
the application or its server installs later replaces ours, as it should.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable
from types import FrameType

from otelperf._safety import never_raise

__all__ = ["flush_on_sigterm"]


def flush_on_sigterm(shutdown: Callable[[], object]) -> bool:
    """Run ``shutdown`` before the default SIGTERM action; True if the handler was installed."""
    if threading.current_thread() is not threading.main_thread():
        return False  # signal.signal() works only on the main thread
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
        return False  # somebody handles SIGTERM already: leave it to them

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        never_raise(shutdown)()
        os.kill(os.getpid(), signal.SIGTERM)

    signal.signal(signal.SIGTERM, on_sigterm)
    return True
