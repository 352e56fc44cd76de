"""The bench's CPU per answer (``bench.web.cpu_seconds``): a server's CPU is its master's, the
workers' it reaped and its live workers', read from /proc, never another process's."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.web import cpu_seconds

# A master that starts a worker burning about half a second of CPU, reaps it, then starts
# another that burns as much and waits to be told to stop.
MASTER = """
import subprocess, sys, time
BURN = "import time\\nend = time.process_time() + 0.5\\nwhile time.process_time() < end: pass\\n"
subprocess.run([sys.executable, "-c", BURN], check=True)
live = subprocess.Popen([sys.executable, "-c", BURN + "import sys; sys.stdin.read()"],
                        stdin=subprocess.PIPE)
print("ready", flush=True)
sys.stdin.read()
live.stdin.close()
live.wait()
"""

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(),
                                reason="CPU per answer is read from Linux's /proc")


def test_a_server_counts_its_reaped_and_live_workers_and_nothing_else() -> None:
    with subprocess.Popen([sys.executable, "-c", MASTER], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, text=True) as master:
        assert master.stdin is not None and master.stdout is not None
        try:
            assert master.stdout.readline().strip() == "ready"
            deadline = time.monotonic() + 30
            app, _ = cpu_seconds(master.pid)
            while app < 1.0 and time.monotonic() < deadline:  # the live one still burning
                time.sleep(0.05)
                app, _ = cpu_seconds(master.pid)
            # Two workers of half a second each: the reaped one through the master's cutime.
            assert 1.0 <= app < 3.0
            other, _ = cpu_seconds(master.pid + 1_000_000)  # a pid nobody has
            assert other == 0.0
        finally:
            master.stdin.close()
            master.wait(timeout=30)

