"""The perfil institucional and the oportunidades de mejoramiento the team prioritises.

From the valoraciones come averages and counts per level by proceso and área, compared with
the school's previous Ruta (↑/↓/=; across instrument versions only through a crosswalk,
``workflow.catalogo.crosswalk``, and «no comparable» where it has no equivalent); the
componentes split into fortalezas and oportunidades by the cut-off of the Ruta's rule set, and
the team weighs each oportunidad (urgencia, tendencia, impacto, added or multiplied as the rule
set says) to say where the PMI starts.
The prioritisation serves the PMI: it is not needed to send the autoevaluación, stays open
while the PMI is formulated (also after a return to it) and is fixed once the PMI is sent.
Services flush, never commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow.autoevaluacion.evidence import files_by_componente
from workflow.autoevaluacion.models import Priorizacion
from workflow.autoevaluacion.ratings import valoraciones
from workflow.autoevaluacion.team import editable_area_ids
from workflow.catalogo.catalog import Rules, rules_of
from workflow.catalogo.crosswalk import Equivalence, equivalence_between
from workflow.catalogo.models import LEVELS, Catalog
from workflow.errors import Forbidden, InvalidInput, NotEditable
from workflow.models import Ruta, User, utcnow
from workflow.ruta_rows import rows_of
from workflow.states import State

PRIORITY_RANGE = range(1, 6)
# The team prioritises while doing the autoevaluación and while formulating the PMI (also
# after the Secretaría returns the PMI); from the PMI's sending on, the priorities are fixed.
PRIORITY_STATES = frozenset({State.BORRADOR, State.AUTOEVALUACION_ENVIADA})


# --- perfil institucional -----------------------------------------------------------------


@dataclass(frozen=True)
class Rated:
    """One componente with its level (None when not rated): the input of the perfil."""

    area_code: str
    area_name: str
    proceso_code: str
    proceso_name: str
    code: str
    name: str
    level: int | None
    componente_id: int = 0
    evidence: str = ""
    comments: str = ""
    # The names of the files attached to the valoración: evidence as much as the text is.
    files: tuple[str, ...] = ()

    @property
    def has_evidence(self) -> bool:
        return bool(self.evidence.strip()) or bool(self.files)


@dataclass(frozen=True)
class Tally:
    counts: dict[int, int]
    total: int

    @property
    def rated(self) -> int:
        return sum(self.counts.values())

    @property
    def unrated(self) -> int:
        return self.total - self.rated

    @property
    def average(self) -> float | None:
        if not self.rated:
            return None
        return sum(level * count for level, count in self.counts.items()) / self.rated


def tally(items: Iterable[Rated]) -> Tally:
    counts = dict.fromkeys(LEVELS, 0)
    total = 0
    for item in items:
        total += 1
        if item.level is not None:
            counts[item.level] += 1
    return Tally(counts, total)


# A change of an average smaller than this reads as "the same" (levels are whole numbers;
# an average moves by at least 1/n when one of n componentes moves one level).
SAME_AVERAGE = 0.05


@dataclass(frozen=True)
class Trend:
    """How a level or an average moved from the previous Ruta to this one."""

    key: str  # "up", "down", "same"
    arrow: str
    label: str


UP = Trend("up", "↑", "Subió")
DOWN = Trend("down", "↓", "Bajó")
SAME = Trend("same", "=", "Igual")
# Nothing the previous Ruta rated answers for it: another instrument version without an
# equivalent, or an área the previous version does not have.
NOT_COMPARABLE = Trend("none", "≠", "No comparable")


def trend(current: float | None, previous: float | None) -> Trend | None:
    """↑, ↓ or = from ``previous`` to ``current``; None when either is missing."""
    if current is None or previous is None:
        return None
    delta = current - previous
    if delta > SAME_AVERAGE:
        return UP
    if delta < -SAME_AVERAGE:
        return DOWN
    return SAME


@dataclass(frozen=True)
class ProcesoPerfil:
    code: str
    name: str
    tally: Tally
    previous: float | None = None

    @property
    def trend(self) -> Trend | None:
        return trend(self.tally.average, self.previous)


@dataclass(frozen=True)
class AreaPerfil:
    code: str
    name: str
    tally: Tally
    procesos: list[ProcesoPerfil]
    previous: float | None = None
    # False when the previous Ruta's version has no área with this code.
    comparable: bool = True

    @property
    def trend(self) -> Trend | None:
        return trend(self.tally.average, self.previous) if self.comparable else NOT_COMPARABLE


@dataclass(frozen=True)
class ComponenteChange:
    """One componente: its level in the previous Ruta and now.

    Matched by code within one instrument version; across versions through the crosswalk,
    where ``sources`` are the previous version's componentes (code, name) that answer for it
    and ``previous`` their level (the average of their levels when several merged into it).
    """

    area_code: str
    area_name: str
    code: str
    name: str
    previous: float | None
    level: int | None
    comparable: bool = True
    sources: tuple[tuple[str, str], ...] = ()

    @property
    def trend(self) -> Trend | None:
        return trend(self.level, self.previous) if self.comparable else NOT_COMPARABLE

    @property
    def previous_is_average(self) -> bool:
        return len(self.sources) > 1 and self.previous is not None

    @property
    def renamed(self) -> bool:
        """Whether what it is compared with is not the same componente by code and name."""
        return self.sources != ((self.code, self.name),)


@dataclass(frozen=True)
class Perfil:
    areas: list[AreaPerfil]
    overall: Tally
    previous_overall: float | None = None
    # Empty without a previous Ruta.
    componentes: list[ComponenteChange] = field(default_factory=list)
    # How the previous Ruta's version answers for this one's; None for the same version.
    equivalence: Equivalence | None = None

    @property
    def trend(self) -> Trend | None:
        return trend(self.overall.average, self.previous_overall)

    def count(self, key: str) -> int:
        """How many componentes went up, down or stayed the same ("none": not comparable)."""
        return sum(1 for item in self.componentes if item.trend and item.trend.key == key)

    def componentes_by_area(self) -> list[tuple[str, list[ComponenteChange]]]:
        """The componente changes grouped by área, in the instrument's order."""
        groups: dict[str, list[ComponenteChange]] = {}
        for item in self.componentes:
            groups.setdefault(item.area_name, []).append(item)
        return list(groups.items())


def compute_perfil(items: Sequence[Rated], previous: Sequence[Rated] | None = None, *,
                   compare_procesos: bool = False,
                   equivalence: Equivalence | None = None) -> Perfil:
    """Averages and counts per level, per proceso and área, in the instrument's order.

    With ``previous`` (the school's previous Ruta), each área carries its previous average,
    matched by área code (an área the previous Ruta lacks is not comparable); procesos are
    matched only when ``compare_procesos`` says both Rutas used the same catalog; every
    componente carries its previous level (``componentes``), with ↑/↓/= from ``trend``:
    matched by code, or, with an ``equivalence`` (another version), only through it.
    """
    previous_areas: dict[str, float | None] = {}
    previous_procesos: dict[str, float | None] = {}
    previous_overall = None
    if previous:
        previous_overall = tally(previous).average
        for code in dict.fromkeys(item.area_code for item in previous):
            previous_areas[code] = tally(i for i in previous if i.area_code == code).average
        if compare_procesos:
            for code in dict.fromkeys(item.proceso_code for item in previous):
                previous_procesos[code] = tally(
                    i for i in previous if i.proceso_code == code).average
    areas = []
    for area_code in dict.fromkeys(item.area_code for item in items):
        in_area = [item for item in items if item.area_code == area_code]
        procesos = []
        for proceso_code in dict.fromkeys(item.proceso_code for item in in_area):
            in_proceso = [item for item in in_area if item.proceso_code == proceso_code]
            procesos.append(ProcesoPerfil(proceso_code, in_proceso[0].proceso_name,
                                          tally(in_proceso),
                                          previous_procesos.get(proceso_code)))
        areas.append(AreaPerfil(area_code, in_area[0].area_name, tally(in_area), procesos,
                                previous_areas.get(area_code),
                                comparable=not previous or area_code in previous_areas))
    changes = [] if not previous else _componente_changes(items, previous, equivalence)
    return Perfil(areas, tally(items), previous_overall, changes, equivalence)


def _componente_changes(items: Sequence[Rated], previous: Sequence[Rated],
                        equivalence: Equivalence | None) -> list[ComponenteChange]:
    before = {item.code: item for item in previous}
    changes = []
    for item in items:
        if equivalence is None:
            # One version: a componente is itself in both Rutas.
            found = before.get(item.code)
            changes.append(ComponenteChange(
                item.area_code, item.area_name, item.code, item.name,
                None if found is None else found.level, item.level,
                sources=() if found is None else ((found.code, found.name),)))
            continue
        sources = equivalence.predecessors.get(item.code, ()) if equivalence.found else ()
        levels = [level for code, _ in sources
                  for level in [before[code].level if code in before else None]
                  if level is not None]
        average = sum(levels) / len(levels) if levels else None
        changes.append(ComponenteChange(
            item.area_code, item.area_name, item.code, item.name,
            levels[0] if len(sources) == 1 and levels else average, item.level,
            comparable=bool(sources), sources=sources))
    return changes


def rated_items(session: Session, ruta: Ruta) -> list[Rated]:
    catalog: Catalog | None = getattr(ruta, "catalog", None)
    if catalog is None:
        return []
    rows = valoraciones(session, ruta)
    files = {componente_id: tuple(item.display_name for item in found)
             for componente_id, found in files_by_componente(session, ruta).items()}
    items = []
    for area in catalog.areas:
        for proceso in area.procesos:
            for componente in proceso.componentes:
                row = rows.get(componente.id)
                items.append(Rated(area.code, area.name, proceso.code, proceso.name,
                                   componente.code, componente.name,
                                   row.level if row else None, componente.id,
                                   row.evidence if row else "", row.comments if row else "",
                                   files.get(componente.id, ())))
    return items


def previous_ruta(session: Session, ruta: Ruta) -> Ruta | None:
    """The Ruta this one continues (``previous_ruta_id``, set when the next cycle is opened
    from a closed Ruta); else the school's latest earlier Ruta that has a catalog, if any."""
    linked = session.get(Ruta, ruta.previous_ruta_id) if ruta.previous_ruta_id else None
    if linked is not None and getattr(linked, "catalog_id", None) is not None:
        return linked
    return session.scalar(
        select(Ruta).where(Ruta.school_id == ruta.school_id,
                           Ruta.horizon_start_year < ruta.horizon_start_year,
                           Ruta.catalog_id.isnot(None))  # type: ignore[attr-defined]
        .order_by(Ruta.horizon_start_year.desc()).limit(1))


def perfil_for(session: Session, ruta: Ruta) -> tuple[Perfil, Ruta | None]:
    """The Ruta's perfil, compared with the school's previous Ruta when there is one."""
    before = previous_ruta(session, ruta)
    return compare_rutas(session, ruta, before), before


def compare_rutas(session: Session, ruta: Ruta, before: Ruta | None) -> Perfil:
    """The perfil of ``ruta`` compared with ``before`` (None: with nothing).

    On the same instrument version componentes and procesos compare by identity; across
    versions componentes compare only through the Secretaría's crosswalk from ``before``'s
    version to ``ruta``'s (none: nothing is comparable, ``Perfil.equivalence.reason`` says
    why), and áreas by code.
    """
    items = rated_items(session, ruta)
    if before is None:
        return compute_perfil(items)
    catalog: Catalog | None = getattr(ruta, "catalog", None)
    previous_catalog: Catalog | None = getattr(before, "catalog", None)
    equivalence = None
    if catalog is not None and previous_catalog is not None:
        equivalence = equivalence_between(session, previous_catalog, catalog,
                                          ruta.school.secretaria_id)
    return compute_perfil(items, rated_items(session, before),
                          compare_procesos=catalog is not None and equivalence is None,
                          equivalence=equivalence)


# --- fortalezas and oportunidades ---------------------------------------------------------


@dataclass(frozen=True)
class Oportunidad:
    item: Rated
    priority: Priorizacion | None
    # By the rule set's formula; None while the team has not prioritised it.
    score: int | None = None


@dataclass(frozen=True)
class Classification:
    fortalezas: list[Rated]
    oportunidades: list[Oportunidad]


def classify(items: Sequence[Rated], rules: Rules,
             priorities: Mapping[int, Priorizacion] | None = None) -> Classification:
    """Fortalezas and oportunidades by the cut-off; oportunidades most urgent first.

    Prioritised oportunidades come first, by the rule set's score (ties: lower
    level, then the instrument's order); the ones not prioritised yet follow by level.
    """
    priorities = priorities or {}
    rated = [item for item in items if item.level is not None]
    fortalezas = [item for item in rated if rules.is_fortaleza(item.level)]  # type: ignore[arg-type]
    order = {item.code: index for index, item in enumerate(items)}
    oportunidades = [Oportunidad(item, priority, None if priority is None else
                                 rules.priority_score(priority.urgencia, priority.tendencia,
                                                      priority.impacto))
                     for item in rated if not rules.is_fortaleza(item.level)  # type: ignore[arg-type]
                     for priority in [priorities.get(item.componente_id)]]
    oportunidades.sort(key=lambda o: (o.score is None, -(o.score or 0), o.item.level,
                                      order[o.item.code]))
    return Classification(fortalezas, oportunidades)


def priorities_of(session: Session, ruta: Ruta) -> dict[int, Priorizacion]:
    return {row.componente_id: row for row in rows_of(session, Priorizacion, ruta.id)}


def classification_for(session: Session, ruta: Ruta) -> Classification:
    return classify(rated_items(session, ruta), rules_of(session, ruta),
                    priorities_of(session, ruta))


def top_oportunidades(session: Session, ruta: Ruta, limit: int = 5) -> list[Oportunidad]:
    """Where the PMI starts: the oportunidades the team prioritised highest.

    Only prioritised ones: an oportunidad not weighed yet is no priority, whatever its place
    in the instrument.
    """
    return [item for item in classification_for(session, ruta).oportunidades
            if item.score is not None][:limit]


def may_prioritize(ruta: Ruta) -> bool:
    """Whether the Ruta's state lets anyone change its priorities."""
    return ruta.state in PRIORITY_STATES and getattr(ruta, "catalog", None) is not None


def prioritizable_area_ids(session: Session, ruta: Ruta, actor: User) -> set[int]:
    """The áreas whose oportunidades ``actor`` may prioritise now (empty when none)."""
    return editable_area_ids(session, ruta, actor) if may_prioritize(ruta) else set()


LOCKED_MESSAGE = ("La priorización ya no se puede cambiar: el PMI fue enviado a la Secretaría "
                  "con ella. Vuelve a abrirse solo si la Secretaría devuelve la Ruta.")


def _require_prioritizable(session: Session, ruta: Ruta) -> None:
    """Lock the Ruta's row, then check its state as committed, so a save and the sending of
    the PMI cannot interleave: whichever comes second sees what the first did."""
    session.scalars(select(Ruta).where(Ruta.id == ruta.id).with_for_update()
                    .execution_options(populate_existing=True)).one()
    if getattr(ruta, "catalog", None) is None:
        raise NotEditable("Esta Ruta todavía no tiene instrumento de autoevaluación: "
                          "empiece la autoevaluación primero.")
    if ruta.state not in PRIORITY_STATES:
        raise NotEditable(LOCKED_MESSAGE)


@dataclass(frozen=True)
class PriorityInput:
    urgencia: str = ""
    tendencia: str = ""
    impacto: str = ""


PRIORITY_FIELDS = (("urgencia", "la urgencia"), ("tendencia", "la tendencia"),
                   ("impacto", "el impacto"))


def save_priorities(session: Session, ruta: Ruta, entries: Mapping[int, PriorityInput], *,
                    actor: User, now: datetime | None = None) -> int:
    """Save urgencia, tendencia and impacto (1–5) of oportunidades, all or nothing.

    Open while the autoevaluación is in borrador and while the PMI is formulated
    (``PRIORITY_STATES``). All three blank clears a componente's priority. Only oportunidades
    of áreas the actor may edit are accepted. Returns how many changed. Flushes.
    """
    allowed = editable_area_ids(session, ruta, actor)
    if not allowed:
        raise Forbidden("Solo el rector o la rectora y el equipo de gestión priorizan las "
                        "oportunidades de mejoramiento de sus áreas.")
    _require_prioritizable(session, ruta)
    items = {item.componente_id: item for item in rated_items(session, ruta)}
    rules = rules_of(session, ruta)
    areas = {area.code: area for area in ruta.catalog.areas}  # type: ignore[attr-defined]
    errors: dict[str, list[str]] = {}
    accepted: list[tuple[int, tuple[int, int, int] | None]] = []
    for componente_id, given in entries.items():
        key = f"urgencia-{componente_id}"
        item = items.get(componente_id)
        if item is None:
            errors[key] = [f"El componente número {componente_id} no es del instrumento de "
                           "esta Ruta."]
            continue
        if item.level is None or rules.is_fortaleza(item.level):
            errors[key] = [f"«{item.code} {item.name}» no es una oportunidad de mejoramiento: "
                           "solo se priorizan las oportunidades."]
            continue
        if areas[item.area_code].id not in allowed:
            errors[key] = [f"«{item.code}» es del área «{item.area_name}», que usted no tiene "
                           "asignada."]
            continue
        raw = [getattr(given, name).strip() for name, _ in PRIORITY_FIELDS]
        if not any(raw):
            accepted.append((componente_id, None))
            continue
        values = []
        for (name, label), text in zip(PRIORITY_FIELDS, raw, strict=True):
            number = int(text) if text.isdigit() else None
            if number not in PRIORITY_RANGE:
                errors[f"{name}-{componente_id}"] = [
                    f"«{item.code}»: {label} debe ser un número de 1 a 5."]
            values.append(number or 0)
        accepted.append((componente_id, (values[0], values[1], values[2])))
    if errors:
        raise InvalidInput(errors)
    existing = priorities_of(session, ruta)
    changed = 0
    for componente_id, values in accepted:
        row = existing.get(componente_id)
        if values is None:
            if row is not None:
                session.delete(row)
                changed += 1
            continue
        if row is None:
            row = Priorizacion(ruta_id=ruta.id, componente_id=componente_id)
            session.add(row)
        elif (row.urgencia, row.tendencia, row.impacto) == values:
            continue
        row.urgencia, row.tendencia, row.impacto = values
        row.updated_at, row.updated_by_id = now or utcnow(), actor.id
        changed += 1
    session.flush()
    return changed
