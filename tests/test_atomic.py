"""Outputs are whole or absent: a run killed at any moment leaves either the
previous run's file or the new complete one under each output name, never a
half-written file; its hidden temporary files are cleaned by the next write;
and summary.json records each output's size and SHA-256, so a folder that
mixes two runs is caught (check_outputs)."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pytest

from custseg.io import _write
from custseg.io._write import atomic_write, check_outputs
from custseg.pipeline import _run as pipeline

TEMP = ".segments.csv."


def customers_csv(path: Path, n: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    table = pa.table(
        {
            "CustomerID": np.arange(1, n + 1),
            "Age": rng.integers(18, 80, n),
            "Income": rng.normal(60, 20, n).round(1),
            "Spend": rng.integers(1, 100, n),
            "Region": rng.choice(["North", "South", "East", "West"], n),
        }
    )
    pa_csv.write_csv(table, path)
    return path


def temps(folder: Path, prefix: str = TEMP) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.startswith(prefix))


def snapshot(folder: Path) -> dict[str, bytes]:
    """The outputs (not the hidden temporary files) and their bytes."""
    return {
        p.name: p.read_bytes()
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".")
    }


def run_args(data: Path, out: Path, k: int) -> list[str]:
    return [
        *(sys.executable, "-m", "custseg", "run", str(data), "-o", str(out)),
        *("-k", str(k), "--k-min", str(k), "--k-max", str(k)),
        *("--stability-resamples", "0", "--no-report", "-q"),
    ]


def kill_while_writing_segments(args: list[str], out: Path, log: Path) -> str:
    """Start ``args`` and SIGKILL it as soon as its temporary segments file
    appears. Returns "mid-write" (killed with the temporary file there),
    "late" (killed after the rename) or "finished" (it ended first)."""
    with open(log, "wb") as err:
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.monotonic() + 300
    try:
        while proc.poll() is None:
            if temps(out):
                proc.send_signal(signal.SIGKILL)
                break
            assert time.monotonic() < deadline, "no segments written in 300 s"
            time.sleep(0.002)
    finally:
        proc.kill()
        proc.wait()
    if proc.returncode != -signal.SIGKILL:
        assert proc.returncode == 0, log.read_text()
        return "finished"
    return "mid-write" if temps(out) else "late"


@pytest.mark.slow
def test_a_run_killed_while_writing_keeps_the_previous_outputs(tmp_path):
    small = customers_csv(tmp_path / "small.csv", 300, seed=1)
    big = customers_csv(tmp_path / "big.csv", 400_000)
    out = tmp_path / "out"
    done = subprocess.run(run_args(small, out, 2), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    previous = snapshot(out)
    assert check_outputs(out) == []

    for _attempt in range(3):
        when = kill_while_writing_segments(run_args(big, out, 3), out, tmp_path / "log")
        if when == "mid-write":
            # Every output is the previous run's, byte for byte, and the set
            # is still consistent.
            assert snapshot(out) == previous
            assert check_outputs(out) == []
            break
        # Too late (the rename won the race): each file present is whole,
        # the previous one or the new complete one, and the checksums tell.
        assert len(pd.read_csv(out / "segments.csv")) == 400_000
        pd.read_csv(out / "profiles.csv")
        json.loads((out / "summary.json").read_text(encoding="utf-8"))
        problems = check_outputs(out)
        if (out / "summary.json").read_bytes() == previous["summary.json"]:
            assert any("segments.csv: differs" in p for p in problems)
        else:  # it got as far as the new summary
            assert problems == []
        # Put the previous outputs back for another try.
        for name in os.listdir(out):
            (out / name).unlink()
        for name, data in previous.items():
            (out / name).write_bytes(data)
    else:
        pytest.skip("the kill landed after the rename three times (busy machine)")

    # The killed run's temporary file is cleaned by the next run, which is
    # whole and consistent.
    assert temps(out)
    result = pipeline.run(small, n_clusters=2, stability_resamples=0)
    pipeline.write_outputs(result, out, report=False)
    assert temps(out) == []
    assert check_outputs(out) == []
    assert len(pd.read_csv(out / "segments.csv")) == 300


def test_a_run_stopped_between_outputs_is_caught_by_the_checksums(
    tmp_path, monkeypatch
):
    """summary.json is written last; a run stopped after segments and
    profiles leaves the previous summary and model beside new tables."""
    small = customers_csv(tmp_path / "a.csv", 200, seed=1)
    other = customers_csv(tmp_path / "b.csv", 250, seed=2)
    out = tmp_path / "out"
    pipeline.write_outputs(
        pipeline.run(small, n_clusters=2, stability_resamples=0), out, report=False
    )
    assert check_outputs(out) == []
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["checksums"]["segments"]["file"] == "segments.csv"
    assert (
        summary["checksums"]["segments"]["bytes"]
        == (out / "segments.csv").stat().st_size
    )
    assert set(summary["checksums"]) == {"segments", "profiles", "model"}

    class Killed(BaseException):
        pass

    def killed(*args, **kwargs):
        raise Killed

    old_profiles = (out / "profiles.csv").read_bytes()
    monkeypatch.setattr(pipeline, "_save_model", killed)
    with pytest.raises(Killed):
        pipeline.write_outputs(
            pipeline.run(other, n_clusters=3, stability_resamples=0),
            out,
            report=False,
        )
    assert len(pd.read_csv(out / "segments.csv")) == 250  # the new one
    problems = check_outputs(out)
    assert problems[0].endswith(
        "segments.csv: differs from what summary.json records: written by another "
        "run (one stopped half-way?) or changed since"
    )
    # The profiles are written by whichever process gets to them first: the
    # stop may come before or after; the checksums tell either way.
    if (out / "profiles.csv").read_bytes() != old_profiles:
        assert len(problems) == 2 and "profiles.csv: differs" in problems[1]
    else:
        assert len(problems) == 1

    (out / "summary.json").unlink()
    assert check_outputs(out) == [
        f"{out / 'summary.json'}: missing: the run did not finish, or this is not "
        "a custseg output folder"
    ]


def test_check_outputs_names_a_missing_file(tmp_path):
    out = tmp_path / "out"
    customers_csv(tmp_path / "a.csv", 100)
    result = pipeline.run(tmp_path / "a.csv", n_clusters=2, stability_resamples=0)
    pipeline.write_outputs(result, out, report=False, model=False)
    (out / "profiles.csv").unlink()
    assert check_outputs(out) == [f"{out / 'profiles.csv'}: missing"]


def test_stale_temporary_files_of_the_target_are_removed(tmp_path):
    target = tmp_path / "segments.csv"
    stale = tmp_path / ".segments.csv.k2j_9x0q"
    stale.write_text("half a file")
    others = [
        ".segments.csv.bak",  # not a temporary name
        ".segments.csv.k2j_9x0q.keep",
        ".profiles.csv.k2j_9x0q",  # another target's
        "segments.csv.k2j_9x0q",  # not hidden
        ".segments.csv.ABCDEFGH",  # not what mkstemp makes
    ]
    for name in others:
        (tmp_path / name).write_text("keep me")
    atomic_write(target, lambda tmp: Path(tmp).write_text("new"))
    assert target.read_text() == "new"
    assert not stale.exists()
    assert sorted(n for n in os.listdir(tmp_path) if n != "segments.csv") == sorted(
        others
    )


def test_a_temporary_file_being_written_is_left_alone(tmp_path):
    """Another live run holds its temporary file locked: not stale."""
    busy = tmp_path / ".segments.csv.busy0001"
    busy.write_text("being written")
    with open(busy, "r+b") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        atomic_write(tmp_path / "segments.csv", lambda tmp: Path(tmp).write_text("x"))
        assert busy.exists()
    atomic_write(tmp_path / "segments.csv", lambda tmp: Path(tmp).write_text("y"))
    assert not busy.exists()


def test_a_writer_killed_mid_write_leaves_a_temp_the_next_write_removes(tmp_path):
    """A real SIGKILL: the kernel drops the dead writer's lock, so its
    leftover is stale; while it was alive, its file was not touched."""
    target = tmp_path / "segments.csv"
    target.write_text("previous, complete")
    code = textwrap.dedent(
        f"""
        import importlib.util
        import time

        # The module alone: importing the whole package takes seconds.
        spec = importlib.util.spec_from_file_location("w", {_write.__file__!r})
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)

        def write(tmp):
            with open(tmp, "w") as fh:
                fh.write("half")
                fh.flush()
                time.sleep(60)

        module.atomic_write({str(target)!r}, write)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 60
        while not [n for n in temps(tmp_path) if (tmp_path / n).stat().st_size]:
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
        # Alive and writing: a concurrent write keeps its file.
        atomic_write(tmp_path / "segments.csv", lambda tmp: Path(tmp).write_text("x"))
        assert len(temps(tmp_path)) == 1
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert target.read_text() == "x"
    assert len(temps(tmp_path)) == 1
    atomic_write(target, lambda tmp: Path(tmp).write_text("next"))
    assert temps(tmp_path) == []
    assert target.read_text() == "next"


def test_a_failed_write_leaves_nothing_behind(tmp_path):
    target = tmp_path / "segments.csv"
    target.write_text("previous")

    def broken(tmp: str) -> None:
        Path(tmp).write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, broken)
    assert os.listdir(tmp_path) == ["segments.csv"]
    assert target.read_text() == "previous"
