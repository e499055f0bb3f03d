"""Jobs shared with a forked helper (custseg._parallel): the same results in
order, both processes working, failures in the helper redone here, and the
report's figures byte for byte what drawing them one by one gives."""

from __future__ import annotations

import os
import threading
import time

import pytest

from custseg._parallel import can_fork, shared

PARENT = os.getpid()

needs_fork = pytest.mark.skipif(
    not can_fork(), reason="needs Linux and two usable cores (CI has both)"
)


def _slow(i: int):
    def job() -> tuple[int, int]:
        time.sleep(0.05)
        return i * i, os.getpid()

    return job


@needs_fork
def test_results_come_back_in_order_from_both_processes():
    done = shared([_slow(i) for i in range(12)])
    assert [v for v, _ in done] == [i * i for i in range(12)]
    pids = {pid for _, pid in done}
    assert PARENT in pids and len(pids) == 2  # the helper did some of them


def test_serial_when_asked_or_off_the_main_thread():
    assert {pid for _, pid in shared([_slow(i) for i in range(4)], parallel=False)} == {
        PARENT
    }
    box: list[list[tuple[int, int]]] = []
    thread = threading.Thread(
        target=lambda: box.append(shared([_slow(i) for i in range(4)]))
    )
    thread.start()
    thread.join()
    assert {pid for _, pid in box[0]} == {PARENT}


@needs_fork
def test_what_fails_or_dies_in_the_helper_is_done_here():
    def fussy(i: int):
        def job() -> int:
            time.sleep(0.05)
            if os.getpid() != PARENT:
                if i % 2:
                    raise RuntimeError("only in the helper")
                os._exit(3)  # the helper dies half-way
            return i

        return job

    assert shared([fussy(i) for i in range(8)]) == list(range(8))


@needs_fork
def test_an_error_is_raised_here_as_without_a_helper():
    def bad() -> int:
        raise ValueError("broken job")

    with pytest.raises(ValueError, match="broken job"):
        shared([_slow(0), bad, _slow(2), _slow(3)])


@needs_fork
def test_report_figures_are_the_same_drawn_on_two_cores():
    from custseg.pipeline import run
    from custseg.report import build_figures

    result = run(n_clusters=4, stability_resamples=3)
    assert build_figures(result, parallel=True) == build_figures(result, parallel=False)
