"""The bench's database CPU per answer (``bench.web.cpu_seconds`` with a database): only the
backends serving the bench's database count, not those of another suite or bench beside it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import text

from bench.web import backend_database, cpu_seconds
from ruta.db import make_engine
from tests.conftest import require_postgres

pytestmark = [pytest.mark.postgres,
              pytest.mark.skipif(not Path("/proc/self/stat").exists(),
                                 reason="CPU per answer is read from Linux's /proc")]


def test_the_database_side_counts_only_the_backends_of_the_database_named() -> None:
    url = require_postgres()
    engine = make_engine(url)
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
