"""The consolidated data as sheets: Excel (``xlsx``, streamed) and CSV.

Sheets, by their ``hoja=`` slug:

- ``instituciones``: every school, its Ruta's state, days in it, last reminder;
- ``estados``: Rutas per state;
- ``perfil``: one row per school × proceso of the horizon's instrument (componentes rated at
  each level, average); ``perfil-componentes``, the detail, one row per school × componente,
  is its own download (CSV, or ``ruta export consolidado --perfil-componentes``): 868,000 rows
  at 10,000 schools would crowd Excel's limit of 1,048,576;
- ``objetivos``, ``metas``, ``indicadores``, ``actividades``: the PMI, one row per element,
  each with its school (DANE code, name, zona, comuna) and the Ruta's state. Only Rutas at or
  past ``pmi_formulado`` (``consolidado.PLAN_STATES``) have a plan to export: drafts are not;
- ``hallazgos``: every hallazgo with its source, data, componentes and the objetivos that
  attend it; ``hallazgos-por-fuente``: per source, hallazgos and schools;
- ``metas-por-area``: per área de gestión and componente, how many metas and schools;
- ``seguimiento``: one row per actividad of every seguimiento report sent;
- ``indicadores-medidos``: one row per indicador measured in every report sent;
- ``rubrica``: the reviewers' rubrics, per round, zona and comuna: the share of plans failing
  each criterion of Circular 0488 (``consolidado.rubric``);
- the sections that feed the Secretaría's plan (``consolidado.secciones``): hallazgos by
  source, grade and área; componentes worked on; criteria observed in reviews without a
  rubric; final results per área; lessons learned; Rutas estancadas.

Each sheet reads only its own data, through ``export_scope.ExportScope`` (the consolidado's
scope, horizon and filters, each part computed on first use): «estados» is one GROUP BY, the
PMI sheets never read a valoración, and no sheet computes the whole consolidado. Rows are
produced lazily, ``consolidado.BATCH`` Rutas per query, so a Secretaría of thousands of schools
is written (and a CSV streamed) with bounded memory; each sheet knows its row count beforehand
(a COUNT query), for progress bars.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from workflow.autoevaluacion.models import Valoracion
from workflow.catalogo.models import LEVELS, CatalogComponente
from workflow.consolidado import secciones, xlsx
from workflow.consolidado.consolidate import (
    NO_AREA,
    SchoolRow,
    areas_label,
    batches,
    componentes_label,
    hallazgos_por_fuente,
    objetivo_componentes_of,
)

# The CSV side, where the web and the bench have always found it (explicit re-exports).
from workflow.consolidado.csv_export import csv_lines as csv_lines
from workflow.consolidado.csv_export import csv_style as csv_style
from workflow.consolidado.export_scope import ExportScope
from workflow.consolidado.id_lists import among
from workflow.consolidado.rubric import SHEET_HEADER as RUBRIC_HEADER
from workflow.consolidado.rubric import rubric_shares
from workflow.consolidado.rubric import sheet_rows as rubric_rows
from workflow.consolidado.sheet import (
    SCHOOL_HEADER,
    Row,
    Sheet,
    cell,
    lazy,
    school_cells,
)
from workflow.plain_rows import plain_rows
from workflow.pmi.models import (
    COMPARACION_LABELS,
    Actividad,
    Fuente,
    FuenteSecretaria,
    Hallazgo,
    Indicador,
    Meta,
    Objetivo,
    Trayectoria,
    ValorUnidad,
    hallazgo_componentes,
    objetivo_hallazgos,
)
from workflow.seguimiento import progress as seguimiento


def _school_rows(scope: ExportScope) -> Iterator[Row]:
    for row in scope.detailed:
        reminder = row.last_reminder
        yield (*school_cells(row), row.days_in_state, "Sí" if row.overdue else "No",
               "Sí" if row.stalled else "No",
               reminder.day if reminder else None, reminder.summary if reminder else "",
               row.progress.label if row.progress else "")


def _perfil_componente_rows(session: Session, scope: ExportScope) -> Iterator[Row]:
    """One row per school and componente: the detail, an export of its own (868,000 rows at
    10,000 schools: beside Excel's limit of 1,048,576)."""
    catalog = scope.catalog
    if catalog is None:
        return
    componentes = [(area.name, proceso.name, componente.code, componente.name, componente.id)
                   for area in catalog.areas for proceso in area.procesos
                   for componente in proceso.componentes]
    for chunk in batches(scope.perfil_rows):
        levels = {(ruta_id, componente_id): level for ruta_id, componente_id, level in
                  plain_rows(session, select(Valoracion.ruta_id, Valoracion.componente_id,
                                         Valoracion.level).where(among(
                      session, Valoracion.ruta_id, [row.ruta.id for row in chunk if row.ruta])))}
        for row in chunk:
            assert row.ruta is not None
            ruta_id, dane_code, name = row.ruta.id, row.school.dane_code, row.school.name
            for area_name, proceso_name, code, componente_name, componente_id in componentes:
                yield (dane_code, name, area_name, proceso_name, code, componente_name,
                       levels.get((ruta_id, componente_id)))


UNRATED = (*[0 for _ in LEVELS], None)  # a proceso none of whose componentes was rated
PERFIL_HEADER = ("Código DANE", "Institución", "Área", "Proceso", "Componentes", "Valorados",
                 *[f"Nivel {level}" for level in LEVELS], "Promedio")


def _perfil_rows(session: Session, scope: ExportScope) -> Iterator[Row]:
    """One row per school and proceso: how many of its componentes were rated at each level
    and their average (the database counts; a few rows per Ruta and proceso)."""
    catalog = scope.catalog
    if catalog is None:
        return
    procesos = [(area.name, proceso.name, proceso.id, len(proceso.componentes))
                for area in catalog.areas for proceso in area.procesos]
    per_level = [func.sum(case((Valoracion.level == level, 1), else_=0)) for level in LEVELS]
    for chunk in batches(scope.perfil_rows):
        # Per Ruta and proceso: componentes rated, the sum of their levels, and how many at
        # each level (one row each, counted by the database).
        counts = {(ruta_id, proceso_id): (rated, total, levels) for
                  ruta_id, proceso_id, rated, total, *levels in plain_rows(session,
                      select(Valoracion.ruta_id, CatalogComponente.proceso_id,
                             func.count(Valoracion.id), func.sum(Valoracion.level), *per_level)
                      .join(CatalogComponente,
                            CatalogComponente.id == Valoracion.componente_id)
                      .where(among(session, Valoracion.ruta_id,
                                   [row.ruta.id for row in chunk if row.ruta]),
                             Valoracion.level.is_not(None))
                      .group_by(Valoracion.ruta_id, CatalogComponente.proceso_id))}
        for row in chunk:
            assert row.ruta is not None
            ruta_id, dane_code, name = row.ruta.id, row.school.dane_code, row.school.name
            for area_name, proceso_name, proceso_id, size in procesos:
                found = counts.get((ruta_id, proceso_id))
                if found is None:
                    yield (dane_code, name, area_name, proceso_name, size, 0, *UNRATED)
                    continue
                rated, total, levels = found
                yield (dane_code, name, area_name, proceso_name, size, rated,
                       *[int(count) for count in levels], round(int(total) / rated, 2))


def _procesos(scope: ExportScope) -> int:
    catalog = scope.catalog
    return sum(len(area.procesos) for area in catalog.areas) if catalog else 0


# --- the PMI ------------------------------------------------------------------------------


@dataclass
class _Numbers:
    """The plan's own numbering: "Objetivo 2", "Meta 2.1", "Indicador 2.1.3"."""

    objetivos: dict[int, str]
    metas: dict[int, str]


def _numbers(session: Session, ruta_ids: Sequence[int]) -> _Numbers:
    objetivos: dict[int, str] = {}
    per_ruta: dict[int, int] = {}
    for objetivo_id, ruta_id in plain_rows(session,
            select(Objetivo.id, Objetivo.ruta_id).where(among(session, Objetivo.ruta_id, ruta_ids))
            .order_by(Objetivo.id)):
        per_ruta[ruta_id] = per_ruta.get(ruta_id, 0) + 1
        objetivos[objetivo_id] = str(per_ruta[ruta_id])
    metas: dict[int, str] = {}
    per_objetivo: dict[int, int] = {}
    for meta_id, objetivo_id in plain_rows(session,
            select(Meta.id, Meta.objetivo_id).where(among(session, Meta.ruta_id, ruta_ids))
            .order_by(Meta.id)):
        per_objetivo[objetivo_id] = per_objetivo.get(objetivo_id, 0) + 1
        metas[meta_id] = f"{objetivos.get(objetivo_id, '?')}.{per_objetivo[objetivo_id]}"
    return _Numbers(objetivos, metas)


def _by_ruta(rows: Iterable[Any]) -> dict[int, list[Any]]:
    grouped: dict[int, list[Any]] = {}
    for row in rows:
        grouped.setdefault(row.ruta_id, []).append(row)
    return grouped


def _plan_chunks(data: ExportScope) -> Iterator[tuple[list[SchoolRow], list[int]]]:
    for chunk in batches(data.plan_rows):
        yield list(chunk), [row.ruta.id for row in chunk if row.ruta is not None]


def _count(session: Session, model: type[Any], data: ExportScope) -> int:
    return sum(session.scalar(select(func.count(model.id))
                              .where(among(session, model.ruta_id, ids))) or 0
               for _, ids in _plan_chunks(data))


def _objetivo_rows(session: Session, data: ExportScope) -> Iterator[Row]:
    for chunk, ids in _plan_chunks(data):
        links = objetivo_componentes_of(session, ids)
        counts = {objetivo_id: count for objetivo_id, count in plain_rows(session,
            select(Meta.objetivo_id, func.count(Meta.id)).where(among(session, Meta.ruta_id, ids))
            .group_by(Meta.objetivo_id))}
        objetivos = _by_ruta(plain_rows(session,
            select(Objetivo.id, Objetivo.ruta_id, Objetivo.enunciado)
            .where(among(session, Objetivo.ruta_id, ids)).order_by(Objetivo.id)))
        for row in chunk:
            assert row.ruta is not None
            school = school_cells(row)
            for number, objetivo in enumerate(objetivos.get(row.ruta.id, []), 1):
                linked = links.get(objetivo.id, [])
                yield (*school, str(number), objetivo.enunciado,
                       areas_label(linked) or NO_AREA, componentes_label(linked),
                       counts.get(objetivo.id, 0))


def _meta_rows(session: Session, data: ExportScope) -> Iterator[Row]:
    for chunk, ids in _plan_chunks(data):
        links = objetivo_componentes_of(session, ids)
        numbers = _numbers(session, ids)
        metas = _by_ruta(plain_rows(session,
            select(Meta.id, Meta.ruta_id, Meta.objetivo_id, Meta.enunciado, Meta.cantidad,
                   Meta.unidad, Meta.fecha_limite, Meta.linea_base)
            .where(among(session, Meta.ruta_id, ids)).order_by(Meta.id)))
        for row in chunk:
            assert row.ruta is not None
            school = school_cells(row)
            for meta in metas.get(row.ruta.id, []):
                linked = links.get(meta.objetivo_id, [])
                yield (*school, numbers.metas[meta.id],
                       numbers.objetivos.get(meta.objetivo_id), meta.enunciado, meta.cantidad,
                       meta.unidad, meta.fecha_limite, meta.linea_base,
                       areas_label(linked) or NO_AREA, componentes_label(linked))


def _element_rows(session: Session, data: ExportScope, model: type[Any],
                  columns: Sequence[Any],
                  cells: Callable[[Any], Row]) -> Iterator[Row]:
    """Indicadores or actividades: numbered within their meta, "1.2.3"."""
    for chunk, ids in _plan_chunks(data):
        numbers = _numbers(session, ids)
        found = _by_ruta(plain_rows(session,
            select(model.id, model.ruta_id, model.meta_id, *columns)
            .where(among(session, model.ruta_id, ids)).order_by(model.id)))
        for row in chunk:
            assert row.ruta is not None
            school = school_cells(row)
            per_meta: dict[int, int] = {}
            for element in found.get(row.ruta.id, []):
                per_meta[element.meta_id] = per_meta.get(element.meta_id, 0) + 1
                meta_number = numbers.metas.get(element.meta_id, "?")
                yield (*school, f"{meta_number}.{per_meta[element.meta_id]}",
                       meta_number, *cells(element))


def _target(value: Any) -> Any:
    return None if value is None or value == "" else value


def _indicador_sheet(session: Session, data: ExportScope) -> Sheet:
    years = data.horizon_years

    def cells(row: Any) -> Row:
        targets = row.metas_anuales or {}
        return (row.nombre, row.formula, row.unidad, row.frecuencia, row.fuente,
                row.linea_base, *[_target(targets.get(str(year))) for year in years])

    columns = [Indicador.nombre, Indicador.formula, Indicador.unidad, Indicador.frecuencia,
               Indicador.fuente, Indicador.linea_base, Indicador.metas_anuales]
    return Sheet(
        "indicadores", "PMI - Indicadores",
        (*SCHOOL_HEADER, "Indicador", "Meta", "Nombre", "Fórmula", "Unidad", "Frecuencia",
         "Fuente", "Línea base", *[f"Meta {year}" for year in years]),
        lambda: _element_rows(session, data, Indicador, columns, cells),
        lambda: _count(session, Indicador, data))


def trayectorias_label(values: Iterable[str]) -> str:
    labels = _trayectoria_labels()
    return "; ".join(labels.get(value, value) for value in values)


@functools.cache
def _trayectoria_labels() -> dict[str, str]:
    return {item.value: item.label for item in Trayectoria}


def _actividad_sheet(session: Session, data: ExportScope) -> Sheet:
    def cells(row: Any) -> Row:
        return (row.descripcion, row.responsable, row.fecha_inicio, row.fecha_fin,
                row.recursos, row.costo, row.fuente_financiacion,
                trayectorias_label(row.trayectorias or []))

    columns = [Actividad.descripcion, Actividad.responsable, Actividad.fecha_inicio,
               Actividad.fecha_fin, Actividad.recursos, Actividad.costo,
               Actividad.fuente_financiacion, Actividad.trayectorias]
    return Sheet(
        "actividades", "PMI - Actividades",
        (*SCHOOL_HEADER, "Actividad", "Meta", "Descripción", "Responsable", "Fecha de inicio",
         "Fecha de terminación", "Recursos", "Costo estimado (COP)", "Fuente de financiación",
         "Trayectorias diversas"),
        lambda: _element_rows(session, data, Actividad, columns, cells),
        lambda: _count(session, Actividad, data))


def _metas_por_area_rows(data: ExportScope) -> list[Row]:
    rows: list[Row] = []
    for area in data.metas_por_area.areas:
        unidades = "; ".join(f"{name} ({count})" for name, count in area.unidades)
        rows.append((area.name, "", "Toda el área", area.metas, area.schools, unidades))
        for componente in area.componentes:
            if componente.code:
                rows.append((area.name, componente.code, componente.name, componente.metas,
                             componente.schools, ""))
    return rows


def sheets(session: Session, data: ExportScope, *,
           perfil_componentes: bool = False) -> list[Sheet]:
    """Every sheet of the workbook, in its order; none reads anything before it is counted
    or written, and each reads only its own data. The per-componente perfil (one row per
    school and componente) is left out unless ``perfil_componentes``: it is the detail,
    asked for on its own."""
    return [
        Sheet("instituciones", "Instituciones",
              (*SCHOOL_HEADER, "Días en el estado", "PMI vencido", "Estancada",
               "Último recordatorio", "Recordatorio", "Seguimiento"),
              lambda: _school_rows(data), lambda: len(data.schools)),
        lazy("estados", "Estados", ("Estado", "Rutas"),
             lambda: [(state.label, count) for state, count in data.funnel]),
        Sheet("perfil", "Perfil por proceso", PERFIL_HEADER,
              lambda: _perfil_rows(session, data),
              lambda: len(data.perfil_rows) * _procesos(data)),
        *([perfil_componente_sheet(session, data)] if perfil_componentes else []),
        Sheet("objetivos", "PMI - Objetivos",
              (*SCHOOL_HEADER, "Objetivo", "Enunciado", "Áreas de gestión", "Componentes",
               "Metas"),
              lambda: _objetivo_rows(session, data), lambda: _count(session, Objetivo, data)),
        Sheet("metas", "PMI - Metas",
              (*SCHOOL_HEADER, "Meta", "Objetivo", "Enunciado", "Cantidad", "Unidad",
               "Fecha límite", "Línea base", "Áreas de gestión", "Componentes"),
              lambda: _meta_rows(session, data), lambda: _count(session, Meta, data)),
        _indicador_sheet(session, data),
        _actividad_sheet(session, data),
        lazy("metas-por-area", "Metas por área",
             ("Área de gestión", "Código", "Componente", "Metas", "Instituciones",
              "Unidades más frecuentes"),
             lambda: _metas_por_area_rows(data)),
        _follow_up_sheet("seguimiento", "Seguimiento", seguimiento.EXPORT_HEADER,
                         seguimiento.export_rows, seguimiento.export_row_count, session, data),
        _follow_up_sheet("indicadores-medidos", "Indicadores medidos",
                         seguimiento.INDICATOR_EXPORT_HEADER,
                         seguimiento.indicator_export_rows,
                         seguimiento.indicator_export_row_count, session, data),
        hallazgo_sheet(session, data),
        lazy("hallazgos-por-fuente", "Hallazgos por fuente",
             ("Fuente", "Prueba externa", "Hallazgos", "Instituciones"),
             lambda: [(row.label, "Sí" if row.external else "No", row.hallazgos, row.schools)
                      for row in hallazgos_por_fuente(session, data.plan_rows)]),
        rubric_sheet(session, data),
        *secciones.sheets(session, data),  # type: ignore[arg-type]
    ]


def perfil_componente_sheet(session: Session, data: ExportScope) -> Sheet:
    return Sheet("perfil-componentes", "Perfil por componente",
                 ("Código DANE", "Institución", "Área", "Proceso", "Código", "Componente",
                  "Nivel"),
                 lambda: _perfil_componente_rows(session, data),
                 lambda: len(data.perfil_rows) * (len(data.catalog.componentes)
                                                  if data.catalog else 0))


def sheet(session: Session, data: ExportScope, slug: str) -> Sheet | None:
    """The one sheet ``slug`` names (None if none does): nothing of the others is read."""
    return next((item for item in sheets(session, data, perfil_componentes=True)
                 if item.slug == slug), None)


def rubric_sheet(session: Session, data: ExportScope) -> Sheet:
    """The rubric sheet: computed once, when first counted or written (a few rows per
    round, zona and comuna, whatever the number of schools)."""
    computed: dict[str, list[Row]] = {}

    def rows() -> list[Row]:
        if "rows" not in computed:
            computed["rows"] = rubric_rows(rubric_shares(session, data))
        return computed["rows"]

    return Sheet("rubrica", "Rúbrica de la revisión", RUBRIC_HEADER, rows,
                 lambda: len(rows()))


def _follow_up_sheet(slug: str, title: str, header: tuple[str, ...],
                     produce: Callable[[Session, Sequence[int]], Iterator[Row]],
                     count: Callable[[Session, Sequence[int]], int],
                     session: Session, data: ExportScope) -> Sheet:
    """A seguimiento sheet over every Ruta in scope (only reports sent have rows). The
    seguimiento module owns which reports count, and counts them with the same query."""
    def ids() -> list[int]:
        return [ruta.id for ruta in data.rutas]

    return Sheet(slug, title, header, lambda: produce(session, ids()),
                 lambda: count(session, ids()))


SHEET_LABELS = {
    "instituciones": "instituciones", "estados": "estados", "perfil": "perfil por proceso",
    "perfil-componentes": "perfil por componente (detalle: una fila por componente)",
    "objetivos": "objetivos del PMI", "metas": "metas del PMI",
    "indicadores": "indicadores del PMI", "actividades": "actividades del PMI",
    "metas-por-area": "metas por área", "seguimiento": "seguimiento de actividades",
    "indicadores-medidos": "indicadores medidos",
    "rubrica": "rúbrica de la revisión (criterios que no se cumplen)",
}


WIDTH_SAMPLE = 200  # rows read ahead to size the columns (bounded memory)
MIN_WIDTH, MAX_WIDTH = 8, 60
DATE_FORMAT = xlsx.DATE_FORMAT
DATETIME_FORMAT = xlsx.DATETIME_FORMAT
DECIMAL_FORMAT = xlsx.DECIMAL_FORMAT
INTEGER_FORMAT = xlsx.INTEGER_FORMAT


def _text_width(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, datetime.datetime):
        return 16
    if isinstance(value, datetime.date):
        return 10
    return max((len(line) for line in str(value).splitlines()), default=0)


def column_widths(header: Sequence[str], sample: Sequence[Row]) -> list[float]:
    """Widths (in characters) fitting the header and the first rows, within bounds."""
    widths = [len(title) for title in header]
    for row in sample:
        for index, value in enumerate(row[:len(widths)]):
            widths[index] = max(widths[index], _text_width(value))
    return [min(max(width + 2, MIN_WIDTH), MAX_WIDTH) for width in widths]


def number_format(value: Any) -> str | None:
    """The Excel format of a value: dates as day/month/year, decimals with two places at
    most, whole numbers plain (a year must not read "2.024")."""
    if isinstance(value, bool):
        return None
    if isinstance(value, datetime.datetime):
        return DATETIME_FORMAT
    if isinstance(value, datetime.date):
        return DATE_FORMAT
    if isinstance(value, float | decimal.Decimal):
        return DECIMAL_FORMAT
    if isinstance(value, int):
        return INTEGER_FORMAT
    return None


def write_xlsx(all_sheets: Sequence[Sheet], out: IO[bytes],
               progress: Callable[[int], None] | None = None) -> None:
    """Write the workbook as rows come (``xlsx.Workbook``: bounded memory), one sheet per
    section, each opened ready to use: a bold header that stays in view, an autofilter,
    columns sized to the header and the first rows, dates and numbers formatted.
    ``progress`` is told how many rows were written since its last call."""
    workbook = xlsx.Workbook(out)
    for sheet in all_sheets:
        rows = iter(sheet.rows())
        sample = list(itertools.islice(rows, WIDTH_SAMPLE))
        workbook.add_sheet(sheet.title, [cell(title) for title in sheet.header],
                           column_widths(sheet.header, sample),
                           itertools.chain(sample, rows), progress)
    workbook.close()


def total_rows(all_sheets: Iterable[Sheet]) -> int:
    return sum(sheet.size() for sheet in all_sheets)


# --- hallazgos (criterion 7): their source, data and componentes ------------------------------


def _hallazgo_rows(session: Session, data: ExportScope) -> Iterator[Row]:
    shipped = {item.value: item.label for item in Fuente}
    units = {item: item.label for item in ValorUnidad}
    comparisons = dict(COMPARACION_LABELS)
    for chunk, ids in _plan_chunks(data):
        own = {row.code: row for row in session.scalars(select(FuenteSecretaria).where(
            FuenteSecretaria.secretaria_id.in_({row.school.secretaria_id for row in chunk})))}
        # Plain rows, their componentes and objetivos with them (three statements per batch,
        # not two per hallazgo: 30,000 hallazgos at 10,000 schools).
        found = _by_ruta(plain_rows(session,
            select(Hallazgo.id, Hallazgo.ruta_id, Hallazgo.fuente, Hallazgo.fuente_nombre,
                   Hallazgo.anio, Hallazgo.grado, Hallazgo.area, Hallazgo.valor,
                   Hallazgo.valor_unidad, Hallazgo.comparacion, Hallazgo.comparacion_valor,
                   Hallazgo.descripcion)
            .where(among(session, Hallazgo.ruta_id, ids)).order_by(Hallazgo.id)))
        componentes: dict[int, list[str]] = {}
        for hallazgo_id, code, name in plain_rows(session,
                select(hallazgo_componentes.c.hallazgo_id, CatalogComponente.code,
                       CatalogComponente.name)
                .join(CatalogComponente,
                      CatalogComponente.id == hallazgo_componentes.c.componente_id)
                .join(Hallazgo, Hallazgo.id == hallazgo_componentes.c.hallazgo_id)
                .where(among(session, Hallazgo.ruta_id, ids))
                .order_by(hallazgo_componentes.c.hallazgo_id, CatalogComponente.id)):
            componentes.setdefault(hallazgo_id, []).append(f"{code} {name}")
        objetivos = _numbers(session, ids).objetivos
        attending: dict[int, list[str]] = {}
        for hallazgo_id, objetivo_id in plain_rows(session,
                select(objetivo_hallazgos.c.hallazgo_id, objetivo_hallazgos.c.objetivo_id)
                .join(Hallazgo, Hallazgo.id == objetivo_hallazgos.c.hallazgo_id)
                .where(among(session, Hallazgo.ruta_id, ids))
                .order_by(objetivo_hallazgos.c.hallazgo_id, objetivo_hallazgos.c.objetivo_id)):
            if objetivo_id in objetivos:
                attending.setdefault(hallazgo_id, []).append(f"Objetivo {objetivos[objetivo_id]}")
        for row in chunk:
            assert row.ruta is not None
            school = school_cells(row)
            for number, hallazgo in enumerate(found.get(row.ruta.id, []), 1):
                source = own.get(hallazgo.fuente)
                label = source.nombre if source else shipped.get(hallazgo.fuente,
                                                                 hallazgo.fuente)
                if hallazgo.fuente_nombre:
                    label = f"{label}: {hallazgo.fuente_nombre}"
                external = source.externa if source else hallazgo.fuente != Fuente.INTERNA.value
                yield (*school, str(number), label, "Sí" if external else "No",
                       hallazgo.anio, hallazgo.grado, hallazgo.area, hallazgo.valor,
                       units.get(hallazgo.valor_unidad) if hallazgo.valor_unidad else None,
                       comparisons.get(hallazgo.comparacion) if hallazgo.comparacion
                       else None, hallazgo.comparacion_valor,
                       "; ".join(componentes.get(hallazgo.id, ())),
                       ", ".join(attending.get(hallazgo.id, ())),
                       hallazgo.descripcion)


def hallazgo_sheet(session: Session, data: ExportScope) -> Sheet:
    return Sheet(
        "hallazgos", "PMI - Hallazgos",
        (*SCHOOL_HEADER, "Hallazgo", "Fuente", "Prueba externa", "Año", "Grado",
         "Área o competencia", "Valor", "Unidad del valor", "Comparación",
         "Valor de comparación", "Componentes a los que apunta", "Objetivos que lo atienden",
         "Qué se encontró"),
        lambda: _hallazgo_rows(session, data), lambda: _count(session, Hallazgo, data))


SHEET_LABELS["hallazgos"] = "hallazgos del PMI"
SHEET_LABELS["hallazgos-por-fuente"] = "hallazgos por fuente"
SHEET_LABELS.update(secciones.SHEET_LABELS)
