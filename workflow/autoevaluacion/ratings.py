"""The valoraciones of an autoevaluación: saving them per proceso, progress, what is missing.

Every componente of the Ruta's pinned catalog gets a level 1–4 with its evidence; a proceso
is saved all or nothing. ``missing_items`` says exactly what keeps the autoevaluación from
being sent (the ``self_assessment_complete`` guard of ``actions``, which locks the Ruta so
no save lands between that check and the state change). A componente's evidence is its text
or at least one attached file: either one counts wherever evidence is required.
Each valoración has a version; the proceso form carries them, and a save drawn before someone
else saved a componente of the same proceso is refused whole (``StaleEdit``).
``overview`` gathers what the autoevaluación pages show. Services flush, never commit; bad
input raises ``InvalidInput`` before anything is written.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from workflow.autoevaluacion.models import MAX_TEXT, IdentityReview, TeamMember, Valoracion
from workflow.autoevaluacion.team import (
    TEAM_STATES,
    can_edit_identity,
    editable_area_ids,
    identity_gaps,
    is_editable,
    is_rector_of,
    require_editable,
    team,
    team_gaps,
)
from workflow.catalogo.catalog import Rules, rules_of
from workflow.catalogo.models import LEVELS, Catalog, CatalogArea, CatalogComponente, CatalogProceso
from workflow.errors import Forbidden, InvalidInput, NotFound, StaleEdit
from workflow.evidencias.models import EvidenceFile
from workflow.models import Ruta, User, utcnow
from workflow.ruta_rows import rows_of

# --- valoración ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RatingInput:
    """One componente as a form posts it: the level as text ("" for not rated yet)."""

    level: str = ""
    evidence: str = ""
    comments: str = ""
    # The valoración's version when the form was drawn (0: there was none); None: not carried.
    version: int | None = None


@dataclass(frozen=True)
class SaveResult:
    saved: int
    # Componentes saved at a level that requires evidence, without it.
    missing_evidence: list[CatalogComponente]


def level_field(componente_id: int) -> str:
    return f"nivel-{componente_id}"


def componentes_with_files(session: Session, ruta: Ruta) -> set[int]:
    """The componentes of ``ruta`` whose valoración has at least one attached file."""
    return set(session.scalars(
        select(Valoracion.componente_id).join(EvidenceFile,
                                              EvidenceFile.valoracion_id == Valoracion.id)
        .where(Valoracion.ruta_id == ruta.id).distinct()))


def has_evidence(row: Valoracion | None, with_files: Collection[int]) -> bool:
    """Evidence is a written text or an attached file; either is enough."""
    return row is not None and (bool(row.evidence.strip()) or row.componente_id in with_files)


def get_proceso(session: Session, ruta: Ruta, proceso_id: int) -> CatalogProceso:
    """A proceso of the Ruta's catalog; ``NotFound`` for any other."""
    proceso = session.get(CatalogProceso, proceso_id)
    if (proceso is None or ruta.catalog is None
            or proceso.area.catalog_id != ruta.catalog_id):  # type: ignore[attr-defined]
        raise NotFound("Ese proceso no es del instrumento de esta Ruta.")
    return proceso


def get_area(session: Session, ruta: Ruta, area_code: str) -> CatalogArea:
    if ruta.catalog is not None:
        for area in ruta.catalog.areas:
            if area.code == area_code:
                return area
    raise NotFound("Esa área de gestión no es del instrumento de esta Ruta.")


def _parse_level(raw: str) -> int | None | str:
    """The level, None when blank, or the raw text when it is not 1–4."""
    text = raw.strip()
    if not text:
        return None
    try:
        level = int(text)
    except ValueError:
        return text
    return level if level in LEVELS else text


def _blank(row: Valoracion | None) -> bool:
    """A row with nothing typed in it: made by attaching a file to an unrated componente.
    A form drawn before it existed overwrites nothing by saving over it."""
    return row is not None and row.level is None and not row.evidence and not row.comments


def save_proceso(session: Session, ruta: Ruta, proceso: CatalogProceso,
                 entries: Mapping[int, RatingInput], *, actor: User,
                 now: datetime | None = None, files_coming: Collection[int] = ()
                 ) -> SaveResult:
    """Save the valoraciones of one proceso, all or nothing. Flushes.

    Refuses componentes that do not exist, belong to another catalog version or to another
    proceso, levels outside 1–4, texts over the limit, an área not assigned to the actor,
    and any change once the autoevaluación was sent. A form drawn before someone else saved
    any componente of this proceso (an entry's ``version`` differs from the row's) raises
    ``StaleEdit`` and saves nothing. A changed row's version goes up by one.
    ``files_coming``: componentes that get a file in the same save (they count as evidenced).
    """
    if proceso.area.catalog_id != getattr(ruta, "catalog_id", None):
        raise NotFound("Ese proceso no es del instrumento de esta Ruta.")
    if proceso.area_id not in editable_area_ids(session, ruta, actor):
        raise Forbidden(f"Usted no tiene asignada el área «{proceso.area.name}». Solo puede "
                        "valorar las áreas que le asignó el rector o la rectora.")
    require_editable(session, ruta)
    catalog: Catalog = ruta.catalog  # type: ignore[attr-defined]
    errors: dict[str, list[str]] = {}
    accepted: list[tuple[CatalogComponente, int | None, str, str]] = []
    for componente_id, given in entries.items():
        componente = session.get(CatalogComponente, componente_id)
        key = level_field(componente_id)
        if componente is None:
            errors[key] = [f"No existe el componente número {componente_id}."]
            continue
        if componente.catalog_id != catalog.id:
            errors[key] = [f"El componente «{componente.code} {componente.name}» es de otra "
                           f"versión del instrumento («{componente.catalog.slug}»), no de la "
                           f"que usa esta Ruta («{catalog.slug}»)."]
            continue
        if componente.proceso_id != proceso.id:
            errors[key] = [f"El componente «{componente.code}» no es del proceso "
                           f"«{proceso.name}»: valórelo en su propio proceso."]
            continue
        level = _parse_level(given.level)
        if isinstance(level, str):
            errors[key] = [f"«{componente.code} {componente.name}»: el nivel debe ser 1, 2, 3 "
                           f"o 4 (llegó «{level[:20]}»)."]
            continue
        evidence, comments = given.evidence.strip(), given.comments.strip()
        for text, what, name in ((evidence, "La evidencia", "evidencia"),
                                 (comments, "El comentario", "comentario")):
            if len(text) > MAX_TEXT:
                errors[f"{name}-{componente_id}"] = [
                    f"«{componente.code}»: {what.lower()} no puede pasar de {MAX_TEXT} "
                    "caracteres."]
        accepted.append((componente, level, evidence, comments))
    if errors:
        raise InvalidInput(errors)

    rules = rules_of(session, ruta)
    # Read as committed (the Ruta is locked by ``require_editable``): a row this session
    # loaded earlier must not hide someone else's save.
    existing = {valoracion.componente_id: valoracion for valoracion in session.scalars(
        select(Valoracion).where(Valoracion.ruta_id == ruta.id,
                                 Valoracion.componente_id.in_([c.id for c in
                                                               proceso.componentes]))
        .execution_options(populate_existing=True))}
    for componente_id, given in entries.items():
        row = existing.get(componente_id)
        if given.version is not None and given.version != (row.version if row else 0) \
                and not (given.version == 0 and _blank(row)):
            raise StaleEdit(f"la valoración de «{proceso.name}»")
    evidenced = componentes_with_files(session, ruta) | set(files_coming)
    moment = now or utcnow()
    saved = 0
    missing: list[CatalogComponente] = []
    for componente, level, evidence, comments in accepted:
        row = existing.get(componente.id)
        if row is None:
            if level is None and not evidence and not comments:
                continue
            row = Valoracion(ruta_id=ruta.id, componente_id=componente.id)
            session.add(row)
        elif (row.level, row.evidence, row.comments) == (level, evidence, comments):
            if rules.needs_evidence(level) and not evidence and componente.id not in evidenced:
                missing.append(componente)
            continue
        else:
            row.version += 1
        row.level, row.evidence, row.comments = level, evidence, comments
        row.updated_at, row.updated_by_id = moment, actor.id
        saved += 1
        if rules.needs_evidence(level) and not evidence and componente.id not in evidenced:
            missing.append(componente)
    session.flush()
    return SaveResult(saved=saved, missing_evidence=missing)


def valoraciones(session: Session, ruta: Ruta) -> dict[int, Valoracion]:
    """The Ruta's valoraciones by componente id (of its pinned catalog only)."""
    return {row.componente_id: row for row in rows_of(session, Valoracion, ruta.id)}


# --- progress, what is missing ------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    rated: int
    total: int

    @property
    def percent(self) -> int:
        return round(100 * self.rated / self.total) if self.total else 0

    @property
    def complete(self) -> bool:
        return self.total > 0 and self.rated == self.total


@dataclass(frozen=True)
class Missing:
    """One thing that keeps the autoevaluación from being sent, and where to fix it."""

    message: str
    kind: str  # "catalog", "identity", "team", "rating", "evidence"
    area_code: str | None = None
    proceso_id: int | None = None


def progress_by_area(catalog: Catalog, rated: Mapping[int, Valoracion]
                     ) -> dict[str, Progress]:
    result = {}
    for area in catalog.areas:
        componentes = area.componentes
        done = sum(1 for c in componentes if c.id in rated and rated[c.id].level is not None)
        result[area.code] = Progress(done, len(componentes))
    return result


def overall_progress(by_area: Mapping[str, Progress]) -> Progress:
    return Progress(sum(p.rated for p in by_area.values()),
                    sum(p.total for p in by_area.values()))


def missing_items(session: Session, ruta: Ruta) -> list[Missing]:
    """Exactly what is missing to send the autoevaluación, in the order of the instrument."""
    catalog: Catalog | None = getattr(ruta, "catalog", None)
    if catalog is None:
        return [Missing("La Ruta no tiene instrumento de autoevaluación: el rector o la rectora "
                        "debe empezar la autoevaluación con el instrumento vigente de la "
                        "Secretaría.", "catalog")]
    found: list[Missing] = []
    rules = rules_of(session, ruta)
    gaps = identity_gaps(session.get(IdentityReview, ruta.id), rules)
    if gaps:
        found.append(Missing("Revisión de la identidad institucional: falta "
                             + join_phrases(gaps) + ".", "identity"))
    found += [Missing(message, "team") for message in team_gaps(team(session, ruta), rules)]
    rated = valoraciones(session, ruta)
    with_files = componentes_with_files(session, ruta)
    for area in catalog.areas:
        for proceso in area.procesos:
            unrated = [c for c in proceso.componentes
                       if c.id not in rated or rated[c.id].level is None]
            if unrated:
                count, total = len(unrated), len(proceso.componentes)
                verb = "falta" if count == 1 else "faltan"
                noun = "componente" if total == 1 else "componentes"
                codes = ", ".join(c.code for c in unrated)
                found.append(Missing(
                    f"{area.name} › {proceso.name}: {verb} {count} de {total} {noun} por "
                    f"valorar ({codes}).", "rating", area.code, proceso.id))
            for componente in proceso.componentes:
                row = rated.get(componente.id)
                if row is not None and rules.needs_evidence(row.level) \
                        and not has_evidence(row, with_files):
                    found.append(Missing(
                        f"{componente.code} {componente.name}: valorado en {row.level}, le "
                        "falta la evidencia.", "evidence", area.code, proceso.id))
    return found


def join_phrases(phrases: Sequence[str]) -> str:
    return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " y " + phrases[-1]


# --- everything a page needs, in one place -------------------------------------------------


@dataclass
class Overview:
    ruta: Ruta
    catalog: Catalog | None
    rules: Rules
    by_area: dict[str, Progress]
    overall: Progress
    missing: list[Missing]
    identity: IdentityReview | None
    members: list[TeamMember]
    editable_area_ids: set[int]
    can_edit_identity: bool
    can_manage_team: bool
    editable: bool

    @property
    def ready(self) -> bool:
        return not self.missing


def overview(session: Session, ruta: Ruta, actor: User, *,
             member_areas: bool = False) -> Overview:
    """The autoevaluación at a glance; ``member_areas`` for pages listing each member's
    áreas (loaded in one statement)."""
    catalog: Catalog | None = getattr(ruta, "catalog", None)
    rated = valoraciones(session, ruta)
    by_area = progress_by_area(catalog, rated) if catalog else {}
    return Overview(
        ruta=ruta, catalog=catalog, rules=rules_of(session, ruta),
        by_area=by_area, overall=overall_progress(by_area),
        missing=missing_items(session, ruta) if is_editable(ruta) else [],
        identity=session.get(IdentityReview, ruta.id),
        members=team(session, ruta, with_areas=member_areas),
        editable_area_ids=editable_area_ids(session, ruta, actor) if is_editable(ruta) else set(),
        can_edit_identity=is_editable(ruta) and can_edit_identity(session, ruta, actor),
        can_manage_team=is_rector_of(actor, ruta) and ruta.state in TEAM_STATES,
        editable=is_editable(ruta),
    )


@dataclass(frozen=True)
class Glance:
    """The autoevaluación as the Ruta page shows it: progress and, while it is editable,
    what is missing (the team and the identity are read only then)."""

    catalog: Catalog | None
    overall: Progress
    missing: list[Missing]
    editable: bool


def glance(session: Session, ruta: Ruta) -> Glance:
    catalog: Catalog | None = getattr(ruta, "catalog", None)
    by_area = progress_by_area(catalog, valoraciones(session, ruta)) if catalog else {}
    editable = is_editable(ruta)
    return Glance(catalog=catalog, overall=overall_progress(by_area),
                  missing=missing_items(session, ruta) if editable else [], editable=editable)
