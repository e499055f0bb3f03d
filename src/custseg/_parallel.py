"""Run a list of independent jobs on this process and one forked copy of it.

The fixed costs of a run (drawing the report's figures, writing the model and
the tables) are Python work that holds the GIL: threads do not share it out,
and a process pool that starts fresh interpreters pays a second's imports and
a copy of the data before it begins. A fork starts in milliseconds with
everything already computed, shared copy-on-write. Both processes take the
next job from a counter in shared memory until none is left, so a long job on
one side does not leave the other idle, and the helper sends its results back
through a pipe (pickled). The results are what the jobs return, in order,
whoever ran them: the same bytes as running them one after the other.

Forking is done only where it is safe: on Linux, from the main thread (in a
server thread another thread might hold a lock, matplotlib's drawing lock for
one, at the moment of the fork), with two usable cores. Jobs must not start
OpenMP or compiled-kernel thread pools (whose state does not survive a fork):
compute first, then hand out the drawing and writing. A job that fails in the
helper, or any the helper does not deliver (it crashed, or stalled past the
timeout and was killed), is run again here, so its error, if any, is raised
in this process as if there were no helper.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import pickle
import select
import signal
import struct
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

__all__ = ["can_fork", "shared"]

T = TypeVar("T")

# How long the helper may still take after this process has run out of jobs:
# this many times what this process spent, and at least the floor.
_PATIENCE = 5.0
_PATIENCE_FLOOR_S = 120.0


def _die_with_parent() -> None:
    """Linux: the helper is killed when the process that forked it dies (a
    killed run's helper must not write on, nor hold its output folder)."""
    with contextlib.suppress(Exception):
        import ctypes
        import signal

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)


def can_fork() -> bool:
    """Whether :func:`shared` would use a helper process here."""
    if not sys.platform.startswith("linux") or not hasattr(os, "fork"):
        return False
    if threading.current_thread() is not threading.main_thread():
        return False
    return len(os.sched_getaffinity(0)) >= 2


def shared(jobs: Sequence[Callable[[], T]], *, parallel: bool = True) -> list[T]:
    """What each job returns, in order; run here and in one forked helper
    when ``parallel`` and :func:`can_fork` allow (else one after the other).
    Put the longest jobs first: each process takes the next one free."""
    n = len(jobs)
    if not parallel or n < 2 or not can_fork():
        return [job() for job in jobs]
    import multiprocessing

    counter = mmap.mmap(-1, 8)  # anonymous and shared with the child
    lock = multiprocessing.get_context("fork").Lock()

    def take() -> int:
        with lock:
            (i,) = struct.unpack("q", counter[:8])
            counter[:8] = struct.pack("q", i + 1)
        return int(i)

    read_end, write_end = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the helper: run, send, and leave without any cleanup
        code = 1
        try:
            _die_with_parent()
            os.close(read_end)
            # Nothing the helper says may reach the parent's streams (a
            # Jupyter kernel's are sockets).
            sys.stdout = sys.stderr = open(os.devnull, "w")  # noqa: SIM115
            done: dict[int, object] = {}
            while (i := take()) < n:
                # a job that fails is run again, and raises, in the parent
                with contextlib.suppress(BaseException):
                    done[i] = jobs[i]()
            with os.fdopen(write_end, "wb") as pipe:
                pickle.dump(done, pipe, protocol=pickle.HIGHEST_PROTOCOL)
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    results: dict[int, object] = {}
    try:
        started = time.perf_counter()
        while (i := take()) < n:
            results[i] = jobs[i]()
        own = time.perf_counter() - started
        patience = max(_PATIENCE_FLOOR_S, _PATIENCE * own)
        results.update(_collect(read_end, pid, timeout=patience))
        read_end = -1
    finally:
        if read_end >= 0:  # a job failed here: stop the helper before raising
            _collect(read_end, pid, timeout=0.0)
        counter.close()
    for i in range(n):  # whatever the helper did not deliver
        if i not in results:
            results[i] = jobs[i]()
    return [results[i] for i in range(n)]  # type: ignore[misc]


def _collect(fd: int, pid: int, *, timeout: float) -> dict[int, object]:
    """The helper's results (empty if it failed, or sent nothing complete
    within ``timeout`` seconds and was killed); the helper is reaped."""
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                os.kill(pid, signal.SIGKILL)
                chunks = []
                break
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(fd)
        _, status = os.waitpid(pid, 0)
    if not chunks or os.waitstatus_to_exitcode(status) != 0:
        return {}
    try:
        done: dict[int, object] = pickle.loads(b"".join(chunks))
    except Exception:  # a truncated message: run those jobs here
        return {}
    return done
