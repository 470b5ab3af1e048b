"""Child processes that handle uploaded documents: one process each, started with an environment built
from an allow-list (no database URI, password or API key), capped in address space (RLIMIT_AS), and
fed one call at a time over a socket. A child that crashes or hangs costs that child and the call it
was running, nothing else: the parent kills it and starts a fresh one.

Run as `python -m ocr_service.jobs.sandbox FD MEMORY_BYTES` by `Worker`; never by hand.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

# What a child may see of the parent's environment: locale, paths to programs and language data,
# thread limits. Secrets (MONGO_CONNECTION_STRING, REDIS_PASSWORD, API_KEY…) are never on it.
ENV_ALLOWED = (
    "PATH", "HOME", "LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "PYTHONPATH", "PYTHONUNBUFFERED",
    "TESSDATA_PREFIX", "OMP_THREAD_LIMIT", "FONTCONFIG_PATH",
    "PROMETHEUS_MULTIPROC_DIR",  # where an OCR process writes its page metrics
)
# Test hook only: the test suite sets it to make a child misbehave on purpose (see `_fault`).
FAULT_VARIABLE = "OCR_SANDBOX_FAULT"
DEFAULT_MEMORY_BYTES = 4 * 1024**3


class ChildDied(Exception):
    """The child exited (a crash in native code, out of memory) before answering."""


class ChildTimeout(Exception):
    """The child gave no answer in time; it was killed."""


def child_environment() -> dict[str, str]:
    env = {name: os.environ[name] for name in (*ENV_ALLOWED, FAULT_VARIABLE) if name in os.environ}
    # numpy's BLAS would start a thread (and reserve address space) per core in every child
    env.update({"OPENBLAS_NUM_THREADS": "1", "OMP_THREAD_LIMIT": env.get("OMP_THREAD_LIMIT", "1"),
                "PYTHONDONTWRITEBYTECODE": "1"})
    return env


class Worker:
    """One sandboxed child process and the connection to it. Not thread-safe: one caller at a time."""

    def __init__(self, initializer: Callable[[], None] | None = None, memory_bytes: int = DEFAULT_MEMORY_BYTES):
        parent_end, child_end = socket.socketpair()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ocr_service.jobs.sandbox", str(child_end.fileno()), str(memory_bytes)],
                env=child_environment(), pass_fds=(child_end.fileno(),), stdin=subprocess.DEVNULL,
            )
        finally:
            child_end.close()
        self.connection = Connection(parent_end.detach())
        self.connection.send(initializer)

    @property
    def pid(self) -> int:
        return self.process.pid

    def call(self, function: Callable, args: tuple, timeout_s: float) -> Any:
        """function(*args) in the child. Raises what it raised, ChildDied or ChildTimeout (the child is
        then dead and this worker unusable)."""
        try:
            self.connection.send((function, args))
            if not self.connection.poll(timeout_s):
                self.kill()
                raise ChildTimeout(f"no answer within {timeout_s:.0f} s")
            outcome, value = self.connection.recv()
        except (EOFError, OSError):
            self.kill()
            raise ChildDied("a child process died") from None
        if outcome == "error":
            raise value
        return value

    @property
    def alive(self) -> bool:
        return self.process.poll() is None and not self.connection.closed

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.process.kill()
        self.process.wait()
        with contextlib.suppress(OSError):
            self.connection.close()

    def stop(self, timeout_s: float = 5) -> None:
        """Let the child leave on its own (EOF on its socket), kill it if it does not."""
        with contextlib.suppress(OSError):
            self.connection.close()
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.kill()


# ---------------------------------------------------------------- the child's side


def _exit_with_parent() -> None:
    """A child whose parent was killed mid-call would go on working for nobody: leave as soon as this
    process is orphaned (an idle child leaves anyway, on EOF)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1)
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _fault(function: Callable, args: tuple) -> None:
    """Test hook: `OCR_SANDBOX_FAULT=<function name>:abort|hang|sleep=<s>[:marker],…` makes calls of that
    function abort the process, hang, or take that many seconds longer; with a marker, only calls whose first
    argument is a document holding it. A call through a wrapper that takes the function first (page metrics)
    counts as a call of it."""
    if args and callable(args[0]):
        function, args = args[0], args[1:]
    for spec in filter(None, os.environ.get(FAULT_VARIABLE, "").split(",")):
        name, action, *marker = spec.split(":", 2)
        if name != getattr(function, "__name__", None):
            continue
        if marker:
            try:
                with open(args[0], "rb") as f:
                    if marker[0].encode() not in f.read():
                        continue
            except (IndexError, TypeError, OSError):
                continue
        _misbehave(action)


def _misbehave(action: str) -> None:
    if action == "abort":
        os.abort()
    if action.startswith("sleep="):  # a slow call that then runs as usual
        time.sleep(float(action.removeprefix("sleep=")))
    if action == "hang":
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
        time.sleep(3600)


def _main(fd: int, memory_bytes: int) -> None:
    if memory_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a crash leaves no core file (a copy of the document)
    connection = Connection(fd)
    _exit_with_parent()
    try:
        initializer = connection.recv()
    except EOFError:
        return
    if initializer is not None:
        initializer()
    while True:
        try:
            function, args = connection.recv()
        except EOFError:
            return
        try:
            _fault(function, args)
            answer = ("ok", function(*args))
        except MemoryError:
            answer = ("error", MemoryError("out of memory"))
        except Exception as error:  # returned to the caller, who decides
            answer = ("error", error)
        try:
            connection.send(answer)
        except OSError:
            return  # the parent stopped waiting (shut down, or killed this call): nobody to answer
        except Exception as error:  # an unpicklable result or exception
            connection.send(("error", RuntimeError(f"{type(error).__name__} in the child: {error}")))


if __name__ == "__main__":
    _main(int(sys.argv[1]), int(sys.argv[2]))
