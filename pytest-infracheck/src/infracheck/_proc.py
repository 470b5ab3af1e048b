"""Child processes that do not outlive the test session, even when pytest itself is killed."""

from __future__ import annotations

import ctypes
import os
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGTERM):
    """A preexec_fn: the child gets `sig` when the process that started it dies (Linux).

    Teardown normally stops every child; this covers a pytest killed with SIGKILL, whose moto_server
    and terraform would otherwise run on as orphans (they have their own sessions).
    """

    def apply() -> None:
        os.setsid()
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        except (OSError, AttributeError):
            pass  # not Linux: teardown still stops the child

    return apply
