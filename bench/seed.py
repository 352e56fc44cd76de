"""Realistic data for N schools, in bulk: the demo's schools, copied.

Usage: ``python -m bench.seed --schools 1000 --database-url URL`` (the database is wiped).

The demo (``demo.seed.seed_demo``) writes its 14 schools and the newcomer through the real
services: complete autoevaluaciones (every componente valorado, with evidence text),
priorizaciones, PMIs (hallazgos, objetivos, metas, indicadores, actividades), reviews with
their rubric verdicts and observations, seguimiento reports with their lines and indicator
values, a closed cycle, a plan adjustment, outbox messages and every Ruta's history. Those
schools are the templates. Each further school is a copy of one template's rows, in every
table that hangs from the school (found by following the foreign keys from ``schools``, not
by naming tables: a table another change adds is copied too), with new primary keys and
with foreign keys pointing at the copy's own rows; what the Secretaría shares (catalog,
calendar, revisores, administrador) is not copied. Unique text values get a suffix (the DANE
code and the e-mail address keep their shape). Rows are written with COPY on PostgreSQL and
``executemany`` on SQLite, table by table, in the order the foreign keys require.

Templates in seguimiento are copied four times as often as the others: on a late day of the
horizon most schools report their seguimiento, and some are still behind.

Known limit: ids inside JSON values (a PMI snapshot's element ids, the links in an outbox
body) still name the template's rows; no page measured here reads them across Rutas.
"""

from __future__ import annotations

import argparse
import io
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine, MetaData, String, Table, select, text
from sqlalchemy.orm import Session

from bench.run import FAST_HASH, PASSWORD, prepare
from demo.seed import seed_demo
from ruta import create_app
from ruta.db import make_engine
from workflow.models import Ruta, School
from workflow.scope_versions import bump_all
from workflow.states import State

TEMPLATE_SCHOOLS = 14  # the demo's default: one school per path of demo.seed.PLANS
FOLLOW_UP_WEIGHT = 4
# The demo's clock: seguimiento reports exist for every checkpoint before it.
DEMO_NOW = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
COPY_CHUNK = 1 << 20


@dataclass
class Templates:
    """What the demo wrote, by table, and which template school each copied row belongs to."""
    tables: list[Table]
    every: dict[str, list[list[Any]]] = field(default_factory=dict)  # all rows, by table
    rows: dict[str, list[list[Any]]] = field(default_factory=dict)  # those of a school
    owner: dict[str, list[int]] = field(default_factory=dict)  # row index → school id
    ids: dict[str, dict[int, int]] = field(default_factory=dict)  # id → owner school
    stride: dict[str, int] = field(default_factory=dict)


@dataclass
class SeedReport:
    schools: int
    templates: int
    demo_s: float
    copy_s: float
    rows: dict[str, int]

    @property
    def seconds(self) -> float:
        return self.demo_s + self.copy_s


def _is_postgres(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def _single_fk(table: Table) -> dict[str, str]:
    """Column name → referenced table, for every single-column foreign key."""
    out: dict[str, str] = {}
    for constraint in table.foreign_key_constraints:
        if len(constraint.elements) == 1:
            element = constraint.elements[0]
            out[element.parent.name] = element.column.table.name
    return out


def _int_id(table: Table) -> str | None:
    """The name of an integer primary key of its own (not a foreign key), if any."""
    columns = list(table.primary_key.columns)
    if len(columns) == 1 and not columns[0].foreign_keys:
        try:
            if columns[0].type.python_type is int:
                return columns[0].name
        except NotImplementedError:
            return None
    return None


def _read_rows(connection: Any, table: Table, postgres: bool) -> list[list[Any]]:
    """Every row; on PostgreSQL as COPY's text fields (type-agnostic), else as values."""
    if postgres:
        buffer = io.BytesIO()
        cursor = connection.cursor()
        with cursor.copy(f'COPY "{table.name}" TO STDOUT') as copy:
            for chunk in copy:
                buffer.write(chunk)
        lines = buffer.getvalue().decode().split("\n")
        return [line.split("\t") for line in lines if line]
    cursor = connection.cursor()
    cursor.execute(f'SELECT * FROM "{table.name}"')  # noqa: S608 (reflected table name)
    return [list(row) for row in cursor.fetchall()]


def _null(value: Any) -> bool:
    return value is None or value == "\\N"


def collect(engine: Engine) -> Templates:
    """Reflect the schema, read every row, and find the rows that hang from a school."""
    metadata = MetaData()
    metadata.reflect(engine)
    templates = Templates(tables=list(metadata.sorted_tables))
    postgres = _is_postgres(engine)
    raw = engine.raw_connection()
    try:
        for table in templates.tables:
            names = [column.name for column in table.columns]
            rows = _read_rows(raw.driver_connection, table, postgres)
            templates.every[table.name] = rows
            id_name = _int_id(table)
            if id_name is not None:
                position = names.index(id_name)
                top = max((int(row[position]) for row in rows), default=0)
                templates.stride[table.name] = top + 1
            fks = [(names.index(name), target) for name, target in _single_fk(table).items()]
            owners: list[int] = []
            kept: list[list[Any]] = []
            own_ids: dict[int, int] = {}
            # Self-references (a Ruta's previous one) point at rows read earlier or later:
            # two passes find both.
            for _ in range(2 if any(target == table.name for _, target in fks) else 1):
                owners, kept = [], []
                for row in rows:
                    owner = None
                    if table.name == "schools":
                        owner = int(row[names.index("id")])
                    for position, target in fks:
                        value = row[position]
                        lookup = own_ids if target == table.name else templates.ids.get(target)
                        if lookup and not _null(value) and int(value) in lookup:
                            owner = lookup[int(value)]
                            break
                    if owner is not None:
                        owners.append(owner)
                        kept.append(row)
                        if id_name is not None:
                            own_ids[int(row[names.index(id_name)])] = owner
            if kept:
                templates.rows[table.name] = kept
                templates.owner[table.name] = owners
                if id_name is not None:
                    templates.ids[table.name] = own_ids
    finally:
        raw.close()
    return templates


def _unique_text_columns(table: Table, copied: set[str]) -> set[str]:
    """Text columns of a unique key that no copied foreign key makes unique already."""
    fks = _single_fk(table)
    keys: list[list[str]] = [[column.name for column in table.primary_key.columns]]
    for constraint in table.constraints:
        if constraint.__class__.__name__ == "UniqueConstraint":
            keys.append([column.name for column in constraint.columns])
    for index in table.indexes:
        if index.unique:
            keys.append([column.name for column in index.columns] or [
                column.name for column in table.columns
                if column.name in " ".join(str(e) for e in index.expressions)])
    out: set[str] = set()
    for key in keys:
        if any(fks.get(name) in copied for name in key):
            continue
        out.update(name for name in key if isinstance(table.columns[name].type, String))
    return out


def _text_suffix(value: str, number: int, length: int | None) -> str:
    suffix = f"~{number}"
    if length is not None and len(value) + len(suffix) > length:
        return value[:length - len(suffix)] + suffix
    return value + suffix


def _transformers(table: Table, templates: Templates,
                  postgres: bool) -> list[tuple[int, Callable[[Any, int], Any]]]:
    """Per column that changes from copy to copy: its position and how (value, copy number)."""
    names = [column.name for column in table.columns]
    copied = set(templates.ids)
    out: list[tuple[int, Callable[[Any, int], Any]]] = []
    as_out: Callable[[int], Any] = str if postgres else int

    def shift(stride: int, members: dict[int, int] | None) -> Callable[[Any, int], Any]:
        def apply(value: Any, number: int) -> Any:
            if _null(value) or (members is not None and int(value) not in members):
                return value
            return as_out(int(value) + number * stride)
        return apply

    id_name = _int_id(table)
    if id_name is not None:
        out.append((names.index(id_name), shift(templates.stride[table.name], None)))
    for name, target in _single_fk(table).items():
        if target in copied:
            out.append((names.index(name), shift(templates.stride[target], templates.ids[target])))
    for name in _unique_text_columns(table, copied):
        length = getattr(table.columns[name].type, "length", None)
        if (table.name, name) == ("schools", "dane_code"):
            # Twelve digits (a check constraint): sector and DIVIPOLA, then a new number.
            out.append((names.index(name),
                        lambda value, number: f"{value[:6]}{500000 + number:06d}"))
        elif (table.name, name) == ("users", "email"):
            out.append((names.index(name), lambda value, number: value.replace(
                "@", f".{number}@", 1)))
        else:
            out.append((names.index(name),
                        lambda value, number, length=length: value if _null(value)
                        else _text_suffix(value, number, length)))
    return out


def template_order(engine: Engine) -> list[int]:
    """Template school ids, those in seguimiento repeated ``FOLLOW_UP_WEIGHT`` times."""
    with Session(engine) as session:
        rows = session.execute(select(School.id, Ruta.state).join(Ruta, Ruta.school_id == School.id)
                               .order_by(School.id, Ruta.horizon_start_year)).all()
    state = {school_id: ruta_state for school_id, ruta_state in rows}  # the latest Ruta
    order: list[int] = []
    for school_id in sorted(state):
        order += [school_id] * (FOLLOW_UP_WEIGHT if state[school_id] is State.SEGUIMIENTO else 1)
    random.Random(17).shuffle(order)
    return order


def _copies(table: Table, templates: Templates, order: list[int], count: int,
            postgres: bool) -> Iterator[list[Any]]:
    by_owner: dict[int, list[list[Any]]] = {}
    for row, owner in zip(templates.rows[table.name], templates.owner[table.name], strict=True):
        by_owner.setdefault(owner, []).append(row)
    changes = _transformers(table, templates, postgres)
    for number in range(1, count + 1):
        for row in by_owner.get(order[(number - 1) % len(order)], ()):
            copy = list(row)
            for position, change in changes:
                copy[position] = change(copy[position], number)
            yield copy


def _write_postgres(connection: Any, table: Table, rows: Iterable[list[Any]]) -> int:
    written = 0
    cursor = connection.cursor()
    with cursor.copy(f'COPY "{table.name}" FROM STDIN') as copy:
        buffer: list[str] = []
        size = 0
        for row in rows:
            line = "\t".join(row) + "\n"
            buffer.append(line)
            size += len(line)
            written += 1
            if size > COPY_CHUNK:
                copy.write("".join(buffer).encode())
                buffer, size = [], 0
        if buffer:
            copy.write("".join(buffer).encode())
    return written


def _write_sqlite(connection: Any, table: Table, rows: Iterable[list[Any]]) -> int:
    marks = ", ".join("?" for _ in table.columns)
    batch: list[list[Any]] = []
    written = 0
    for row in rows:
        batch.append(row)
        if len(batch) >= 10_000:
            connection.executemany(f'INSERT INTO "{table.name}" VALUES ({marks})', batch)  # noqa: S608
            written += len(batch)
            batch = []
    if batch:
        connection.executemany(f'INSERT INTO "{table.name}" VALUES ({marks})', batch)  # noqa: S608
        written += len(batch)
    return written


def _write_all(engine: Engine, tables: list[Table],
               rows_of: Callable[[Table], Iterable[list[Any]] | None]) -> dict[str, int]:
    """Write each table's rows in foreign-key order, then move the id sequences past them."""
    postgres = _is_postgres(engine)
    written: dict[str, int] = {}
    raw = engine.raw_connection()
    try:
        driver = raw.driver_connection
        if postgres:
            # The rows' foreign keys are the templates' own, shifted: checking each one
            # again row by row (deferred triggers) took three quarters of the load. Needs a
            # superuser, as a scratch database on a development machine has.
            driver.execute("SET LOCAL session_replication_role = replica")
        else:
            # The same on SQLite (outside a transaction, where the pragma takes effect): a
            # Ruta's previous one may come later in the same table.
            driver.commit()
            driver.execute("PRAGMA foreign_keys = OFF")
        for table in tables:
            rows = rows_of(table)
            if rows is None:
                continue
            written[table.name] = (_write_postgres(driver, table, rows) if postgres
                                   else _write_sqlite(driver, table, rows))
        raw.commit()
        if not postgres:
            driver.execute("PRAGMA foreign_keys = ON")
    finally:
        raw.close()
    if postgres:
        with engine.begin() as connection:
            for table in tables:
                id_name = _int_id(table)
                if id_name is None or not written.get(table.name):
                    continue
                # Reflected names, not input.
                statement = (f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', "  # noqa: S608
                             f"'{id_name}'), (SELECT max(\"{id_name}\") FROM \"{table.name}\"))")
                connection.execute(text(statement))
    with engine.begin() as connection:
        # On PostgreSQL the triggers that version each Secretaría's lists were off
        # (``workflow.scope_versions``): a process that counted before must count again.
        bump_all(connection)
    return written


def copy_schools(engine: Engine, count: int, templates: Templates,
                 order: list[int]) -> dict[str, int]:
    """Add ``count`` schools, each a copy of a template school; rows written per table."""
    postgres = _is_postgres(engine)
    written = _write_all(engine, templates.tables, lambda table: _copies(
        table, templates, order, count, postgres) if table.name in templates.rows else None)
    if postgres:
        with engine.connect() as connection:
            # Planner statistics and the visibility map, as autovacuum gives a deployment that
            # has held its data (without the map, PostgreSQL skips index-only scans: the
            # outbox's counts by state read the whole table instead of its index).
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                text("VACUUM (ANALYZE)"))
    return written


def restore(engine: Engine, templates: Templates) -> None:
    """Write the demo back into a freshly migrated database (what ``collect`` read)."""
    skip = {"alembic_version"}
    _write_all(engine, templates.tables, lambda table: None if table.name in skip
               else templates.every.get(table.name))


def app_config(url: str, **extra: Any) -> dict[str, Any]:
    """The app the seeding and the in-process measurements use (cheap password hashes)."""
    return {"TESTING": True, "RUTA_ENV": "development", "DATABASE_URL": url,
            "SECRET_KEY": "b" * 40, "ARGON2_TIME_COST": 1, "ARGON2_MEMORY_COST": 8,
            "ARGON2_PARALLELISM": 1, "RUTA_BASE_URL": "https://ruta.bench.co", **extra}


class Seeder:
    """Loads the demo once, then any number of databases of N schools from it."""

    def __init__(self) -> None:
        self.templates: Templates | None = None
        self.order: list[int] = []
        self.demo_s = 0.0

    def seed(self, url: str, schools: int, *, wipe: bool = True) -> SeedReport:
        """Wipe the database at ``url`` and fill it with ``schools`` schools (``wipe=False``:
        the database is already migrated and empty)."""
        if wipe:
            prepare(url)
        engine = make_engine(url)
        try:
            start = time.perf_counter()
            if self.templates is None:
                app = create_app(app_config(url))
                try:
                    with app.extensions["ruta_db"].session_factory() as session:
                        seed_demo(session, school_count=TEMPLATE_SCHOOLS, password=PASSWORD,
                                  passwords=FAST_HASH, now=DEMO_NOW)
                        session.commit()
                finally:
                    app.extensions["ruta_db"].dispose()
                with engine.begin() as connection:
                    # The demo's messages left long before the day measured: the delivery
                    # measured is that of what the daily pass queues.
                    connection.execute(text("UPDATE outbox SET status = 'sent', "
                                            "sent_at = created_at WHERE status = 'pending'"))
                self.templates = collect(engine)
                self.order = template_order(engine)
            else:
                restore(engine, self.templates)
            demo_s = time.perf_counter() - start
            start = time.perf_counter()
            count = len(self.templates.every["schools"])
            rows = copy_schools(engine, max(0, schools - count), self.templates, self.order)
            copy_s = time.perf_counter() - start
        finally:
            engine.dispose()
        return SeedReport(schools=max(schools, count), templates=count, demo_s=demo_s,
                          copy_s=copy_s, rows=rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--schools", type=int, default=1000)
    parser.add_argument("--database-url", required=True)
    options = parser.parse_args()
    report = Seeder().seed(options.database_url, options.schools)
    print(f"{report.schools:,} schools ({report.templates} from the demo) in "
          f"{report.seconds:.1f} s (demo {report.demo_s:.1f} s, copies {report.copy_s:.1f} s)")
    for name, count in sorted(report.rows.items(), key=lambda item: -item[1]):
        print(f"  {name}: {count:,} rows copied")


if __name__ == "__main__":
    main()
