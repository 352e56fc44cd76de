"""What the schools' plans give the Secretaría's own plan: the hallazgos, cut by source, grade
and área or competencia, and the componentes the schools chose to work on.

Both read the plans the schools sent (Rutas at or past ``pmi_formulado``, the consolidado's
``plan_rows``): a draft is not a plan. Grade and área are typed by each school, so they are
grouped by their search form (case, accents and spaces ignored: «Matemáticas» and
« matematicas » are one área) and shown with the spelling most schools used. A componente is
«worked on» by a school when an objetivo of its plan addresses it; «priorizado» when its
equipo weighed it as an oportunidad de mejoramiento (urgencia, tendencia, impacto). Componentes
are grouped by área, code and name, so plans made with different instrument versions add up
where the componente is the same.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow.autoevaluacion.models import Priorizacion
from workflow.catalogo.models import CatalogArea, CatalogComponente, CatalogProceso
from workflow.consolidado.consolidate import (
    FuenteCount,
    SchoolRow,
    batches,
    hallazgos_por_fuente,
)
from workflow.consolidado.id_lists import among
from workflow.plain_rows import plain_rows
from workflow.pmi.models import Hallazgo, Objetivo, objetivo_componentes
from workflow.search_keys import search_key

NO_GRADE = "Sin grado"
NO_AREA = "Sin área o competencia"
TOP_CUTS = 10
TOP_COMPONENTES = 10


@dataclass(frozen=True)
class CutCount:
    label: str
    hallazgos: int
    schools: int


@dataclass
class _Cut:
    spellings: Counter[str] = field(default_factory=Counter)
    hallazgos: int = 0
    ruta_ids: set[int] = field(default_factory=set)

    def count(self, blank: str) -> CutCount:
        # The spelling most hallazgos used; ties: the first alphabetically.
        label = min(self.spellings.items(), key=lambda pair: (-pair[1], pair[0]))[0]
        return CutCount(label or blank, self.hallazgos, len(self.ruta_ids))


def _ranked(cuts: dict[str, _Cut], blank: str) -> list[CutCount]:
    counted = [cut.count(blank) for cut in cuts.values()]
    return sorted(counted, key=lambda item: (-item.hallazgos, -item.schools,
                                             search_key(item.label)))


@dataclass(frozen=True)
class HallazgoCuts:
    fuentes: list[FuenteCount]
    grados: list[CutCount]
    areas: list[CutCount]
    hallazgos: int
    schools: int
    plans: int

    @property
    def top_grados(self) -> list[CutCount]:
        return self.grados[:TOP_CUTS]

    @property
    def top_areas(self) -> list[CutCount]:
        return self.areas[:TOP_CUTS]


def hallazgo_cuts(session: Session, plan_rows: Sequence[SchoolRow]) -> HallazgoCuts:
    """The hallazgos of the sent plans, counted by source, grade and área or competencia."""
    ruta_ids = [row.ruta.id for row in plan_rows if row.ruta is not None]
    grados: dict[str, _Cut] = {}
    areas: dict[str, _Cut] = {}
    total = 0
    schools: set[int] = set()
    for chunk in batches(ruta_ids):
        for ruta_id, grado, area in plain_rows(session,
                select(Hallazgo.ruta_id, Hallazgo.grado, Hallazgo.area)
                .where(among(session, Hallazgo.ruta_id, chunk))):
            total += 1
            schools.add(ruta_id)
            for cuts, text in ((grados, grado), (areas, area)):
                shown = " ".join((text or "").split())
                cut = cuts.setdefault(search_key(shown), _Cut())
                cut.spellings[shown] += 1
                cut.hallazgos += 1
                cut.ruta_ids.add(ruta_id)
    return HallazgoCuts(hallazgos_por_fuente(session, plan_rows), _ranked(grados, NO_GRADE),
                        _ranked(areas, NO_AREA), total, len(schools), len(ruta_ids))


# --- componentes worked on -----------------------------------------------------------------


@dataclass
class ComponenteElegido:
    code: str
    name: str
    area_name: str
    order: tuple[int, int, int]
    school_ids: set[int] = field(default_factory=set)
    objetivos: int = 0
    prioritised_ids: set[int] = field(default_factory=set)

    @property
    def schools(self) -> int:
        return len(self.school_ids)

    @property
    def prioritised(self) -> int:
        return len(self.prioritised_ids)


@dataclass(frozen=True)
class ComponentesElegidos:
    componentes: list[ComponenteElegido]
    plans: int

    @property
    def top(self) -> list[ComponenteElegido]:
        return self.componentes[:TOP_COMPONENTES]


def _componente_columns() -> tuple[Any, ...]:
    return (CatalogComponente.id, CatalogComponente.code, CatalogComponente.name,
            CatalogArea.name, CatalogArea.position, CatalogProceso.position,
            CatalogComponente.position)


def componentes_elegidos(session: Session, plan_rows: Sequence[SchoolRow]
                         ) -> ComponentesElegidos:
    """Per componente: the schools whose sent plan works on it (an objetivo addresses it), how
    many objetivos, and how many of those schools weighed it as an oportunidad. Most worked on
    first; ties in the order of the instrument."""
    by_ruta = {row.ruta.id: row.school.id for row in plan_rows if row.ruta is not None}
    found: dict[tuple[str, str, str], ComponenteElegido] = {}
    for chunk in batches(list(by_ruta)):
        worked: dict[int, set[tuple[str, str, str]]] = {}
        for _, code, name, area, area_pos, proceso_pos, position, ruta_id in plain_rows(session,
                select(*_componente_columns(), Objetivo.ruta_id)
                .join(objetivo_componentes,
                      objetivo_componentes.c.componente_id == CatalogComponente.id)
                .join(Objetivo, Objetivo.id == objetivo_componentes.c.objetivo_id)
                .join(CatalogProceso, CatalogProceso.id == CatalogComponente.proceso_id)
                .join(CatalogArea, CatalogArea.id == CatalogProceso.area_id)
                .where(among(session, Objetivo.ruta_id, chunk))):
            key = (area, code, name)
            item = found.setdefault(key, ComponenteElegido(
                code, name, area, (area_pos, proceso_pos, position)))
            item.school_ids.add(by_ruta[ruta_id])
            item.objetivos += 1
            worked.setdefault(ruta_id, set()).add(key)
        for _, code, name, area, *_, ruta_id in plain_rows(session,
                select(*_componente_columns(), Priorizacion.ruta_id)
                .join(Priorizacion, Priorizacion.componente_id == CatalogComponente.id)
                .join(CatalogProceso, CatalogProceso.id == CatalogComponente.proceso_id)
                .join(CatalogArea, CatalogArea.id == CatalogProceso.area_id)
                .where(among(session, Priorizacion.ruta_id, chunk))):
            key = (area, code, name)
            if key in worked.get(ruta_id, set()):
                found[key].prioritised_ids.add(by_ruta[ruta_id])
    ranked = sorted(found.values(), key=lambda item: (-item.schools, -item.objetivos,
                                                      item.order, item.code))
    return ComponentesElegidos(ranked, len(by_ruta))
