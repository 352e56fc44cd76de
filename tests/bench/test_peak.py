"""``bench.peak``: a console command's peak memory is its own, not its parent's.

A child's ``ru_maxrss`` as ``wait4`` reports it starts from the memory its parent had when it
was spawned (Linux carries the high-water mark across exec); the bench measured the console
Excel from a parent of 250 MiB and reported 251–254 MiB for a command that peaks near 200."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(),
                                reason="the peak is reset through Linux's /proc")

BALLAST_MIB = 400


def test_a_command_measured_from_a_large_parent_reports_its_own_peak(
        tmp_path: Path) -> None:
    ballast = bytearray(BALLAST_MIB * 2**20)
    ballast[::4096] = b"\x01" * len(ballast[::4096])  # resident, not just reserved
    report = tmp_path / "peak"
    process = subprocess.Popen(  # noqa: S603 (our own module)
        [sys.executable, "-m", "bench.peak", str(report), "--", "--help"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        env={**os.environ, "RUTA_ENV": "development"})
    assert process.stdout is not None
    with process.stdout:
        output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.returncode == 0
    assert b"export" in output  # the console's help: the command ran
    inherited = usage.ru_maxrss / 1024
    own = float(report.read_text())
    assert inherited >= BALLAST_MIB  # what wait4 says: the parent's ballast at least
    assert 20 < own < BALLAST_MIB / 2  # what the command itself held: the app's imports
    del ballast


def test_without_a_command_it_says_how_to_call_it(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "bench.peak", str(tmp_path / "p")],  # noqa: S603
                          capture_output=True, text=True, check=False)
    assert done.returncode != 0 and "usage: python -m bench.peak" in done.stderr
    assert not (tmp_path / "p").exists()
