"""The bench's CPU per answer (``bench.web.cpu_seconds``): a server's CPU is its master's, the
workers' it reaped and its live workers', read from /proc, never another process's."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from bench.web import backend_database, cpu_seconds
from tests.conftest import require_postgres

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


@pytest.mark.postgres
def test_the_database_side_counts_only_the_backends_of_the_database_named() -> None:
    url = require_postgres()
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    name = engine.url.database
    assert name
    try:
        with engine.connect() as connection:
            backend = str(connection.scalar(text("SELECT pg_backend_pid()")))
            assert backend_database(backend) == name
            assert backend_database(str(os.getpid())) is None  # not a backend
            _, mine_before = cpu_seconds(-1, name)
            _, other_before = cpu_seconds(-1, name + "_not_this_one")
            # About a second of the backend's CPU.
            connection.execute(text("SELECT count(*) FROM generate_series(1, 15000000)"))
            _, mine_after = cpu_seconds(-1, name)
            _, other_after = cpu_seconds(-1, name + "_not_this_one")
    finally:
        engine.dispose()
    assert mine_after - mine_before >= 0.2
    assert other_after - other_before < 0.2
