"""What the tests of the kept pages share (the Ruta page's body under its stamps, /reportes/'s
under its token): the migration that installs the triggers, read as a module; the tables that
carry a trigger, as the database itself says. (The demo Secretaría they draw comes from
``tests.demo_copy``.)"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations" / "versions"


def migration(file_name: str) -> Any:
    """``migrations/versions/<file_name>`` as a module (its tables and trigger lists)."""
    spec = importlib.util.spec_from_file_location(file_name.removesuffix(".py"),
                                                  MIGRATIONS / file_name)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def tables_with_triggers(db: Session, name_pattern: str) -> set[str]:
    """The tables carrying a trigger whose name is LIKE ``name_pattern``."""
    if db.get_bind().dialect.name == "postgresql":
        query = ("SELECT DISTINCT event_object_table FROM information_schema.triggers "
                 "WHERE trigger_name LIKE :pattern")
    else:
        query = ("SELECT DISTINCT tbl_name FROM sqlite_master "
                 "WHERE type = 'trigger' AND name LIKE :pattern")
    return set(db.scalars(text(query), {"pattern": name_pattern}))
