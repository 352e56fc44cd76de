"""Measure the consolidado's exports at national scale: each CSV sheet and the Excel workbook.

Usage::

    python -m bench.exports --schools 10000 --database-url postgresql://…/exports_bench
    python -m bench.exports --database-url … --no-seed     # measure again, same data

Seeds ``bench.run``'s schools (every state, with history), then in bulk what the exports read:
the 2008 Guía 34 instrument (93 componentes) rated in every Ruta past its draft (some 868,000
valoraciones at 10,000 schools), and a plan in every Ruta at or past «PMI enviado» (3 hallazgos,
3 objetivos with 2 componentes each, 2 metas per objetivo, 1 indicador and 2 actividades per
meta). The PostgreSQL database is wiped: point it at a scratch one.

Each measurement runs in a child process of its own (``--child``), so its peak memory is its
own: the peak resident set (``VmHWM``, what the machine gives the process, Python and
libraries included) and how much above the process's resident size with the app loaded
(what every worker or command holds anyway) that peak is. The CSV sheets
are written as the web streams them (``exports.csv_lines``) to /dev/null; the workbook is
``ruta export consolidado`` itself (or, with ``--writer xlsxwriter``, the same sheets through
XlsxWriter's constant-memory mode, to compare writers).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select, text, update
from sqlalchemy.orm import configure_mappers

from bench.run import prepare, seed
from ruta import create_app
from workflow.autoevaluacion.models import Valoracion
from workflow.catalogo.catalog import load_shipped_catalogs
from workflow.catalogo.models import Catalog, InstrumentSettings
from workflow.consolidado import exports
from workflow.consolidado.consolidate import PLAN_STATES, SUBMITTED_STATES, Filters
from workflow.consolidado.export_scope import ExportScope
from workflow.models import Ruta, Secretaria, User
from workflow.pmi.models import (
    Actividad,
    Hallazgo,
    Indicador,
    Meta,
    Objetivo,
    objetivo_componentes,
)
from workflow.roles import Role

CATALOG = "guia34-2008"
CHUNK = 20_000


def _app(url: str) -> Any:
    return create_app({"TESTING": True, "RUTA_ENV": "development", "DATABASE_URL": url,
                       "SECRET_KEY": "b" * 40})


def _insert(session: Any, model: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), CHUNK):
        session.execute(insert(model), rows[start:start + CHUNK])


def seed_exports(app: Any) -> dict[str, int]:
    """What the exports read, in bulk, over ``bench.run.seed``'s schools and Rutas."""
    session = app.extensions["ruta_db"].session_factory()
    load_shipped_catalogs(session)
    catalog = session.scalars(select(Catalog).where(Catalog.slug == CATALOG)).one()
    secretaria = session.scalars(select(Secretaria)).one()
    session.add(InstrumentSettings(secretaria_id=secretaria.id, catalog_id=catalog.id))
    session.execute(update(Ruta).values(catalog_id=catalog.id))
    componentes = [componente.id for componente in catalog.componentes]
    rutas = session.execute(select(Ruta.id, Ruta.state).order_by(Ruta.id)).all()
    rated = [ruta_id for ruta_id, state in rutas if state in SUBMITTED_STATES]
    planned = [ruta_id for ruta_id, state in rutas if state in PLAN_STATES]
    valoraciones = [{"ruta_id": ruta_id, "componente_id": componente_id,
                     "level": (ruta_id + index) % 4 + 1,
                     "evidence": "Acta del Consejo Directivo y plan de estudios.",
                     "comments": ""}
                    for ruta_id in rated for index, componente_id in enumerate(componentes)]
    _insert(session, Valoracion, valoraciones)
    counts = {"valoraciones": len(valoraciones)}
    del valoraciones
    hallazgos, objetivos, links, metas, indicadores, actividades = [], [], [], [], [], []
    ids = {"hallazgo": 0, "objetivo": 0, "meta": 0}
    for ruta_id in planned:
        for number in range(3):
            ids["hallazgo"] += 1
            hallazgos.append({"id": ids["hallazgo"], "ruta_id": ruta_id, "fuente": "saber_11",
                              "area": "Matemáticas", "grado": "11", "anio": 2023,
                              "descripcion": f"Resultado {number + 1} bajo el promedio."})
            ids["objetivo"] += 1
            objetivo_id = ids["objetivo"]
            objetivos.append({"id": objetivo_id, "ruta_id": ruta_id,
                              "enunciado": "Mejorar los aprendizajes en matemáticas."})
            for offset in (0, 1):
                links.append({"objetivo_id": objetivo_id, "componente_id": componentes[
                    (ruta_id + number * 7 + offset * 3) % len(componentes)]})
            for _ in range(2):
                ids["meta"] += 1
                metas.append({"id": ids["meta"], "ruta_id": ruta_id,
                              "objetivo_id": objetivo_id, "cantidad": 40.0,
                              "unidad": "Porcentaje", "linea_base": 31.0,
                              "enunciado": "Subir al 40 % los estudiantes sobre el mínimo."})
                indicadores.append({"ruta_id": ruta_id, "meta_id": ids["meta"],
                                    "nombre": "Estudiantes sobre el nivel mínimo",
                                    "formula": "sobre el mínimo / evaluados",
                                    "unidad": "Porcentaje", "frecuencia": "Anual",
                                    "fuente": "ICFES", "linea_base": 31.0,
                                    "metas_anuales": {"2024": 33, "2025": 36.5, "2026": 40}})
                actividades += [{"ruta_id": ruta_id, "meta_id": ids["meta"],
                                 "descripcion": "Talleres de pensamiento matemático",
                                 "responsable": "Coordinación académica",
                                 "recursos": "Guías y docentes", "costo": 1_500_000,
                                 "fuente_financiacion": "SGP calidad",
                                 "trayectorias": ["rural"]} for _ in range(2)]
    for model, rows in ((Hallazgo, hallazgos), (Objetivo, objetivos),
                        (objetivo_componentes, links), (Meta, metas),
                        (Indicador, indicadores), (Actividad, actividades)):
        _insert(session, model, rows)
        counts[getattr(model, "__tablename__", getattr(model, "name", ""))] = len(rows)
    session.commit()
    if session.get_bind().dialect.name == "postgresql":
        for table in ("pmi_hallazgos", "pmi_objetivos", "pmi_metas"):
            # The table names are the constants above, not input.
            session.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                                 f"(SELECT max(id) FROM {table}))"))
        session.commit()
    session.close()
    return counts


def _admin(session: Any) -> User:
    secretaria = session.scalars(select(Secretaria)).one()
    return User(secretaria_id=secretaria.id, role=Role.ADMINISTRADOR, active=True,
                email="consola@ruta.local", name="Consola")


def child(url: str, what: str, writer: str, trace: bool = False) -> None:
    """One measurement, in this process: prints «seconds rows baseline-RSS-bytes», the
    baseline being the process with the app loaded and its mappers configured, before the
    export starts (what every worker or command already holds)."""
    app = _app(url)
    configure_mappers()
    baseline = _memory("VmRSS")
    if trace:  # Python's own allocations (slower: a separate run)
        tracemalloc.start()
    start = time.perf_counter()
    cpu = time.process_time()
    with app.app_context():
        session = app.extensions["ruta_db"].session_factory()
        scope = ExportScope(session, _admin(session), Filters(), now=datetime.now(UTC),
                            stalled_days=30)
        rows = 0
        if what == "xlsx":
            all_sheets = exports.sheets(session, scope)
            rows = exports.total_rows(all_sheets)
            with tempfile.TemporaryFile() as out:
                if writer == "xlsxwriter":
                    write_xlsxwriter(all_sheets, out)
                else:
                    exports.write_xlsx(all_sheets, out)
        else:
            sheet = exports.sheet(session, scope, what)
            assert sheet is not None
            with open(os.devnull, "wb") as out:
                for piece in exports.csv_lines(sheet):
                    out.write(piece)
                    rows += piece.count(b"\r\n")  # lines end so; text inside has "\n"
            rows -= 1  # the header
        session.close()
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    if trace:
        print(f"peak Python allocations: {tracemalloc.get_traced_memory()[1] / 2**20:.1f} MB")
    print(f"{elapsed:.2f} {rows} {baseline} {_memory('VmHWM')} {cpu:.2f}")


def _memory(field: str) -> int:
    """``VmRSS`` (resident now) or ``VmHWM`` (the peak so far) of this process, in bytes.
    Unlike ``ru_maxrss``, the peak starts again at ``exec``: a child does not inherit its
    parent's."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    return 0


def write_xlsxwriter(all_sheets: list[Any], out: Any) -> None:
    """The same workbook through XlsxWriter's constant-memory mode (for the comparison)."""
    import itertools

    import xlsxwriter  # type: ignore[import-not-found]

    workbook = xlsxwriter.Workbook(out, {"constant_memory": True, "in_memory": False})
    bold = workbook.add_format({"bold": True})
    formats = {fmt: workbook.add_format({"num_format": fmt}) for fmt in (
        exports.DATE_FORMAT, exports.DATETIME_FORMAT, exports.DECIMAL_FORMAT,
        exports.INTEGER_FORMAT)}
    for sheet in all_sheets:
        worksheet = workbook.add_worksheet(sheet.title[:31])
        rows = iter(sheet.rows())
        sample = list(itertools.islice(rows, exports.WIDTH_SAMPLE))
        for index, width in enumerate(exports.column_widths(sheet.header, sample)):
            worksheet.set_column(index, index, width)
        worksheet.freeze_panes(1, 0)
        worksheet.write_row(0, 0, [exports.cell(title) for title in sheet.header], bold)
        number = 0
        for number, row in enumerate(itertools.chain(sample, rows), 1):
            for column, value in enumerate(row):
                value = exports.cell(value)
                fmt = exports.number_format(value)
                if value is None:
                    continue
                if isinstance(value, datetime):
                    value = value.replace(tzinfo=None)
                if fmt is None:
                    worksheet.write(number, column, value)
                else:
                    worksheet.write(number, column, value, formats[fmt])
        if sheet.header:
            worksheet.autofilter(0, 0, number, len(sheet.header) - 1)
    workbook.close()


def measure(url: str, what: str,
            writer: str = "shipped") -> tuple[float, int, int, int, float]:
    """(seconds, rows, peak RSS, RSS before the export, CPU seconds) of one child, in
    bytes. On a shared machine the CPU seconds (the child's own) say more than the time."""
    process = subprocess.Popen(  # noqa: S603 (this interpreter, our own module)
        [sys.executable, "-m", "bench.exports", "--child", what, "--writer", writer,
         "--database-url", url], stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    output = process.stdout.read()
    if process.wait() != 0:
        raise SystemExit(f"{what} failed")
    seconds, rows, baseline, peak, cpu = output.split()[-5:]
    return float(seconds), int(rows), int(peak), int(baseline), float(cpu)


def measure_cli(url: str, folder: Path) -> tuple[float, int]:
    """``ruta export consolidado`` as an operator runs it: seconds and peak RSS in bytes (the
    command's own, written by ``bench.peak``: wait4's would start from this process's)."""
    out = folder / "consolidado.xlsx"
    report = folder / "consolidado.peak"
    env = {**os.environ, "DATABASE_URL": url, "RUTA_ENV": "development",
           "SECRET_KEY": "b" * 40}
    start = time.perf_counter()
    process = subprocess.run([sys.executable, "-m", "bench.peak",  # noqa: S603 (our own)
                              str(report), "--", "export", "consolidado", "--out", str(out)],
                             env=env, stdout=subprocess.DEVNULL, check=False)
    if process.returncode != 0:
        raise SystemExit("ruta export consolidado failed")
    return time.perf_counter() - start, int(float(report.read_text()) * 2**20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--schools", type=int, default=10_000)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--no-seed", action="store_true")
    parser.add_argument("--child", default="")
    parser.add_argument("--writer", choices=("shipped", "xlsxwriter"), default="shipped")
    parser.add_argument("--compare-writers", action="store_true")
    parser.add_argument("--trace", action="store_true",
                        help="with --child: also the peak of Python's allocations")
    options = parser.parse_args()
    url = options.database_url
    if options.child:
        child(url, options.child, options.writer, options.trace)
        return
    if not options.no_seed:
        prepare(url)
        app = _app(url)
        start = time.perf_counter()
        seed(app.extensions["ruta_db"], options.schools)
        counts = seed_exports(app)
        if url.startswith("postgresql"):
            with app.extensions["ruta_db"].engine.connect() as connection:
                connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                    text("ANALYZE"))
        app.extensions["ruta_db"].dispose()
        print(f"Seeded {options.schools} schools in {time.perf_counter() - start:.0f} s: "
              + ", ".join(f"{count} {name}" for name, count in counts.items()))
    print(f"\nLoad average at the start: {os.getloadavg()[0]:.1f}")
    print("\n| export | rows | time (s) | CPU (s) | peak RSS (MB) | added by the export (MB) |")
    print("|---|---:|---:|---:|---:|---:|")
    for slug in exports.SHEET_LABELS:
        seconds, rows, rss, baseline, cpu = measure(url, slug)
        print(f"| CSV «{slug}» | {rows:,} | {seconds:.1f} | {cpu:.1f} | {rss / 2**20:.0f} | "
              f"{(rss - baseline) / 2**20:.0f} |", flush=True)
    writers = ("shipped", "xlsxwriter") if options.compare_writers else ("shipped",)
    for writer in writers:
        seconds, rows, rss, baseline, cpu = measure(url, "xlsx", writer)
        print(f"| Excel workbook ({writer}) | {rows:,} | {seconds:.1f} | {cpu:.1f} | "
              f"{rss / 2**20:.0f} | {(rss - baseline) / 2**20:.0f} |", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        seconds, rss = measure_cli(url, Path(folder))
    print(f"| `ruta export consolidado` (whole command) | | {seconds:.1f} | | "
          f"{rss / 2**20:.0f} | |")
    print(f"\nLoad average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
