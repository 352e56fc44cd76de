"""The autoevaluación institucional: the first stage of a Ruta.

The team reviews the institutional identity, the rector forms the equipo de gestión and
assigns it áreas, and every componente of the Ruta's pinned catalog gets a level 1–4 with its
evidence. From the valoraciones come the perfil institucional and the fortalezas and
oportunidades de mejoramiento, which the team prioritises for the PMI.

Content is editable only while the Ruta is in ``borrador`` (also after a return to the
autoevaluación). Services flush, never commit; bad input raises ``InvalidInput`` before
anything is written.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum as PyEnum

from sqlalchemy import (
    CheckConstraint,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from workflow import outbox
from workflow.catalogo.catalog import Rules, current_catalog, rules_for
from workflow.catalogo.models import LEVELS, Catalog, CatalogArea, CatalogComponente, CatalogProceso
from workflow.cuentas import accounts, tokens
from workflow.cuentas.accounts import EMAIL_PATTERN, normalize_email
from workflow.errors import Forbidden, InvalidInput, NotEditable, NotFound
from workflow.models import Base, Ruta, User, str_enum, utcnow
from workflow.roles import Role
from workflow.states import State

MAX_TEXT = 5000
MAX_REFERENCE = 500
PRIORITY_RANGE = range(1, 6)
# The autoevaluación is content of these states only; a return to it reopens editing.
EDITABLE_STATES = frozenset({State.BORRADOR})
# The team keeps working after the autoevaluación is sent: it formulates the PMI too.
TEAM_STATES = frozenset({State.BORRADOR, State.AUTOEVALUACION_ENVIADA})
# Misión, visión and principios belong to the direccionamiento estratégico of this área.
IDENTITY_AREA_CODE = "DIR"


# --- models -------------------------------------------------------------------------------


class Estamento(PyEnum):
    DIRECTIVO = "directivo"
    DOCENTE = "docente"
    PADRE_MADRE = "padre_madre"
    ESTUDIANTE = "estudiante"
    EGRESADO = "egresado"
    ADMINISTRATIVO = "administrativo"
    SECTOR_PRODUCTIVO = "sector_productivo"

    @property
    def label(self) -> str:
        return ESTAMENTO_LABELS[self]


ESTAMENTO_LABELS = {
    Estamento.DIRECTIVO: "Directivo(a)",
    Estamento.DOCENTE: "Docente",
    Estamento.PADRE_MADRE: "Padre o madre de familia",
    Estamento.ESTUDIANTE: "Estudiante",
    Estamento.EGRESADO: "Egresado(a)",
    Estamento.ADMINISTRATIVO: "Administrativo(a)",
    Estamento.SECTOR_PRODUCTIVO: "Sector productivo",
}


class Vigencia(PyEnum):
    """The team's verdict on one element of the identity."""

    VIGENTE = "vigente"
    AJUSTAR = "ajustar"

    @property
    def label(self) -> str:
        return {"vigente": "Sigue vigente", "ajustar": "Requiere ajustes"}[self.value]


class IdentityReview(Base):
    """The revisión de la identidad institucional: what it says and whether it still holds."""

    __tablename__ = "identity_reviews"

    ruta_id: Mapped[int] = mapped_column(ForeignKey("rutas.id"), primary_key=True)
    mision: Mapped[str] = mapped_column(Text, default="")
    vision: Mapped[str] = mapped_column(Text, default="")
    principios: Mapped[str] = mapped_column(Text, default="")
    # Where the PEI is adopted and kept ("Acuerdo 03 de 2021 del Consejo Directivo").
    pei_reference: Mapped[str] = mapped_column(String(MAX_REFERENCE), default="")
    mision_vigencia: Mapped[Vigencia | None] = mapped_column(str_enum(Vigencia, "mision_vigencia"))
    vision_vigencia: Mapped[Vigencia | None] = mapped_column(str_enum(Vigencia, "vision_vigencia"))
    principios_vigencia: Mapped[Vigencia | None] = mapped_column(
        str_enum(Vigencia, "principios_vigencia"))
    notes: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    updated_by: Mapped[User | None] = relationship()


team_member_areas = Table(
    "team_member_areas", Base.metadata,
    Column("member_id", ForeignKey("team_members.id"), primary_key=True),
    Column("area_id", ForeignKey("catalog_areas.id"), primary_key=True),
)


class TeamMember(Base):
    """A member of the equipo de gestión of one Ruta, with the áreas they work on."""

    __tablename__ = "team_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    ruta_id: Mapped[int] = mapped_column(ForeignKey("rutas.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(254))
    estamento: Mapped[Estamento] = mapped_column(str_enum(Estamento, "estamento"))
    # The account of role ``equipo`` with this e-mail at the same school, when there is one.
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    user: Mapped[User | None] = relationship()
    areas: Mapped[list[CatalogArea]] = relationship(secondary=team_member_areas,
                                                    order_by=CatalogArea.position)

    __table_args__ = (
        UniqueConstraint("ruta_id", "email"),
        CheckConstraint("email = lower(email)", name="email_lowercase"),
    )


class Valoracion(Base):
    """One componente's valoración in one Ruta. ``level`` NULL: saved, not rated yet."""

    __tablename__ = "valoraciones"

    id: Mapped[int] = mapped_column(primary_key=True)
    ruta_id: Mapped[int] = mapped_column(ForeignKey("rutas.id"), index=True)
    componente_id: Mapped[int] = mapped_column(ForeignKey("catalog_componentes.id"))
    level: Mapped[int | None] = mapped_column(Integer)
    evidence: Mapped[str] = mapped_column(Text, default="")
    comments: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    componente: Mapped[CatalogComponente] = relationship()
    updated_by: Mapped[User | None] = relationship()

    __table_args__ = (
        UniqueConstraint("ruta_id", "componente_id"),
        CheckConstraint("level IS NULL OR level BETWEEN 1 AND 4", name="level_range"),
    )


class Priorizacion(Base):
    """How the team weighs one oportunidad de mejoramiento: urgencia, tendencia, impacto."""

    __tablename__ = "priorizaciones"

    id: Mapped[int] = mapped_column(primary_key=True)
    ruta_id: Mapped[int] = mapped_column(ForeignKey("rutas.id"), index=True)
    componente_id: Mapped[int] = mapped_column(ForeignKey("catalog_componentes.id"))
    urgencia: Mapped[int] = mapped_column(Integer)
    tendencia: Mapped[int] = mapped_column(Integer)
    impacto: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))

    __table_args__ = (
        UniqueConstraint("ruta_id", "componente_id"),
        CheckConstraint("urgencia BETWEEN 1 AND 5", name="urgencia_range"),
        CheckConstraint("tendencia BETWEEN 1 AND 5", name="tendencia_range"),
        CheckConstraint("impacto BETWEEN 1 AND 5", name="impacto_range"),
    )

    @property
    def score(self) -> int:
        return self.urgencia * self.tendencia * self.impacto


# --- who may do what ----------------------------------------------------------------------


def is_rector_of(actor: User, ruta: Ruta) -> bool:
    return actor.active and actor.role is Role.RECTOR and actor.school_id == ruta.school_id


def member_for(session: Session, ruta: Ruta, actor: User) -> TeamMember | None:
    """The team record of an ``equipo`` account: linked by account, or else by e-mail."""
    if not actor.active or actor.role is not Role.EQUIPO or actor.school_id != ruta.school_id:
        return None
    members = session.scalars(select(TeamMember).where(TeamMember.ruta_id == ruta.id)).all()
    return (next((member for member in members if member.user_id == actor.id), None)
            or next((member for member in members if member.email == actor.email), None))


def editable_area_ids(session: Session, ruta: Ruta, actor: User) -> set[int]:
    """The áreas ``actor`` may rate in this Ruta, whatever its state."""
    if ruta.catalog is None:
        return set()
    if is_rector_of(actor, ruta):
        return {area.id for area in ruta.catalog.areas}
    member = member_for(session, ruta, actor)
    return {area.id for area in member.areas} if member else set()


def can_edit_identity(session: Session, ruta: Ruta, actor: User) -> bool:
    if is_rector_of(actor, ruta):
        return True
    member = member_for(session, ruta, actor)
    return member is not None and any(area.code == IDENTITY_AREA_CODE for area in member.areas)


def is_editable(ruta: Ruta) -> bool:
    return ruta.state in EDITABLE_STATES


def _require_editable(session: Session, ruta: Ruta) -> None:
    """Lock the Ruta's row, then check its state as committed.

    With the row locked, a save and the submission of the autoevaluación cannot interleave:
    whichever comes second sees what the first did (PostgreSQL; SQLite serialises writers).
    """
    session.scalars(select(Ruta).where(Ruta.id == ruta.id).with_for_update()
                    .execution_options(populate_existing=True)).one()
    if not is_editable(ruta):
        raise NotEditable("La autoevaluación ya fue enviada y no se puede modificar. Solo "
                          "vuelve a ser editable si la Secretaría devuelve la Ruta a la "
                          "autoevaluación.")
    if ruta.catalog is None:
        raise NotEditable("Esta Ruta todavía no tiene instrumento de autoevaluación: "
                          "empiece la autoevaluación primero.")


def lock_for_submission(session: Session, ruta: Ruta) -> None:
    """Lock the Ruta's row so no save lands between the check and the state change."""
    session.execute(select(Ruta.id).where(Ruta.id == ruta.id).with_for_update())


# --- starting: pin the instrument ---------------------------------------------------------


def start_self_assessment(session: Session, ruta: Ruta, *, actor: User) -> Catalog:
    """Pin the Secretaría's current catalog to a Ruta opened without one. Flushes.

    Rutas opened before any catalog was loaded have none; the rector (or the
    administración) starts their autoevaluación with the current one.
    """
    allowed = is_rector_of(actor, ruta) or (
        actor.active and actor.role is Role.ADMINISTRADOR
        and actor.secretaria_id == ruta.school.secretaria_id)
    if not allowed:
        raise Forbidden("Solo el rector o la rectora de la institución empieza la "
                        "autoevaluación.")
    if ruta.catalog is not None:
        return ruta.catalog
    if not is_editable(ruta):
        raise NotEditable("La autoevaluación solo se empieza mientras la Ruta está en "
                          "«Autoevaluación en curso».")
    catalog = current_catalog(session, ruta.school.secretaria_id)
    if catalog is None:
        raise NotEditable("La Secretaría todavía no tiene un instrumento de autoevaluación "
                          "cargado. Pida a la administración que cargue uno.")
    ruta.catalog = catalog  # type: ignore[attr-defined]
    session.flush()
    return catalog


# --- identity -----------------------------------------------------------------------------


@dataclass
class IdentityData:
    mision: str = ""
    vision: str = ""
    principios: str = ""
    pei_reference: str = ""
    mision_vigencia: str = ""
    vision_vigencia: str = ""
    principios_vigencia: str = ""
    notes: str = ""


IDENTITY_TEXTS = {"mision": "La misión", "vision": "La visión", "principios": "Los principios",
                  "notes": "Las notas del equipo"}


def _vigencia(value: str, field_name: str, label: str,
              errors: dict[str, list[str]]) -> Vigencia | None:
    if not value:
        return None
    try:
        return Vigencia(value)
    except ValueError:
        errors[field_name] = [f"{label}: elija «Sigue vigente» o «Requiere ajustes»."]
        return None


def save_identity(session: Session, ruta: Ruta, data: IdentityData, *, actor: User,
                  now: datetime | None = None) -> IdentityReview:
    """Save the identity review (a draft may be partial). Flushes."""
    if not can_edit_identity(session, ruta, actor):
        raise Forbidden("La identidad institucional la revisan el rector o la rectora y el "
                        "equipo asignado a la gestión directiva.")
    _require_editable(session, ruta)
    errors: dict[str, list[str]] = {}
    texts = {name: getattr(data, name).strip() for name in IDENTITY_TEXTS}
    for name, label in IDENTITY_TEXTS.items():
        if len(texts[name]) > MAX_TEXT:
            errors[name] = [f"{label} no puede pasar de {MAX_TEXT} caracteres."]
    reference = " ".join(data.pei_reference.split())
    if len(reference) > MAX_REFERENCE:
        errors["pei_reference"] = [f"La referencia del PEI no puede pasar de {MAX_REFERENCE} "
                                   "caracteres."]
    verdicts = {
        name: _vigencia(getattr(data, f"{name}_vigencia").strip(), f"{name}_vigencia",
                        IDENTITY_TEXTS[name], errors)
        for name in ("mision", "vision", "principios")}
    if errors:
        raise InvalidInput(errors)
    review = session.get(IdentityReview, ruta.id) or IdentityReview(ruta_id=ruta.id)
    session.add(review)
    review.mision, review.vision, review.principios, review.notes = (
        texts["mision"], texts["vision"], texts["principios"], texts["notes"])
    review.pei_reference = reference
    review.mision_vigencia = verdicts["mision"]
    review.vision_vigencia = verdicts["vision"]
    review.principios_vigencia = verdicts["principios"]
    review.updated_at = now or utcnow()
    review.updated_by_id = actor.id
    session.flush()
    return review


def identity_gaps(review: IdentityReview | None) -> list[str]:
    """What the identity review still lacks, as phrases that follow «falta»."""
    written = {"la misión": "", "la visión": "", "los principios": "",
               "la referencia del PEI": ""}
    verdicts: dict[str, Vigencia | None] = {"la misión sigue vigente": None,
                                            "la visión sigue vigente": None,
                                            "los principios siguen vigentes": None}
    notes = ""
    if review is not None:
        written = {"la misión": review.mision, "la visión": review.vision,
                   "los principios": review.principios,
                   "la referencia del PEI": review.pei_reference}
        verdicts = {"la misión sigue vigente": review.mision_vigencia,
                    "la visión sigue vigente": review.vision_vigencia,
                    "los principios siguen vigentes": review.principios_vigencia}
        notes = review.notes
    gaps = [f"escribir {phrase}" for phrase, value in written.items() if not value.strip()]
    gaps += [f"decir si {phrase}" for phrase, verdict in verdicts.items() if verdict is None]
    if Vigencia.AJUSTAR in verdicts.values() and not notes.strip():
        gaps.append("explicar en las notas qué ajustar")
    return gaps


# --- the equipo de gestión ----------------------------------------------------------------


def _require_team_manager(ruta: Ruta, actor: User) -> None:
    if not is_rector_of(actor, ruta):
        raise Forbidden("Solo el rector o la rectora conforma el equipo de gestión.")
    if ruta.state not in TEAM_STATES:
        raise NotEditable("El equipo de gestión se conforma mientras la institución hace la "
                          "autoevaluación o formula el PMI.")
    if ruta.catalog is None:
        raise NotEditable("Esta Ruta todavía no tiene instrumento de autoevaluación: "
                          "empiece la autoevaluación primero.")


def _areas_from_ids(ruta: Ruta, area_ids: Iterable[str | int],
                    errors: dict[str, list[str]]) -> list[CatalogArea]:
    by_id = {area.id: area for area in ruta.catalog.areas}  # type: ignore[attr-defined]
    chosen = []
    for raw in area_ids:
        try:
            area = by_id[int(raw)]
        except (KeyError, TypeError, ValueError):
            errors["areas"] = ["Una de las áreas elegidas no es de esta Ruta."]
            continue
        if area not in chosen:
            chosen.append(area)
    return sorted(chosen, key=lambda area: area.position)


def _member_account(session: Session, ruta: Ruta, name: str, email: str,
                    errors: dict[str, list[str]]) -> User | None:
    """The ``equipo`` account a new member works with: the school's existing one with that
    e-mail, or a new one (no password: the invitation carries the link to choose it).

    The rector of the school needs none (they edit everything already). An e-mail that
    belongs to someone else (another school, the Secretaría) is refused rather than shared.
    """
    existing = session.scalar(select(User).where(User.email == email))
    if existing is None:
        return accounts.create_user(
            session, actor=None, secretaria_id=ruta.school.secretaria_id,
            data=accounts.UserData(email=email, name=name, role=Role.EQUIPO.value,
                                   school_id=ruta.school_id))
    if existing.school_id == ruta.school_id and existing.role is Role.EQUIPO:
        if not existing.active:
            errors["email"] = ["La cuenta de ese correo está desactivada: pida a la Secretaría "
                               "que la reactive."]
        return existing
    if existing.school_id == ruta.school_id and existing.role is Role.RECTOR:
        return None
    errors["email"] = ["Ese correo ya es de una cuenta de otra institución o de la Secretaría. "
                       "Use el correo personal o institucional de esta persona en su colegio."]
    return None


@dataclass
class MemberData:
    name: str = ""
    email: str = ""
    estamento: str = ""
    area_ids: list[str] = field(default_factory=list)


def add_member(session: Session, ruta: Ruta, data: MemberData, *, actor: User,
               now: datetime | None = None, invite: bool = True) -> TeamMember:
    """Add a member to the equipo de gestión with their áreas. Flushes.

    Links the member to the school's ``equipo`` account with the same e-mail, creating it
    when there is none, and queues the invitation e-mail (``equipo_invitacion``), with a link
    to choose a password when the account has none, in the same transaction.
    """
    _require_team_manager(ruta, actor)
    errors: dict[str, list[str]] = {}
    name = " ".join(data.name.split())
    if not name:
        errors["name"] = ["Escriba el nombre completo."]
    elif len(name) > 200:
        errors["name"] = ["El nombre no puede pasar de 200 caracteres."]
    email = normalize_email(data.email)
    if not EMAIL_PATTERN.match(email) or len(email) > 254:
        errors["email"] = ["Escriba un correo electrónico válido, como nombre@dominio.co."]
    elif session.scalar(select(TeamMember.id).where(TeamMember.ruta_id == ruta.id,
                                                    TeamMember.email == email)):
        errors["email"] = ["Ya hay un integrante del equipo con ese correo."]
    try:
        estamento = Estamento(data.estamento)
    except ValueError:
        errors["estamento"] = ["Elija el estamento que representa."]
    areas = _areas_from_ids(ruta, data.area_ids, errors)
    if errors:
        raise InvalidInput(errors)
    account = _member_account(session, ruta, name, email, errors)
    if errors:
        raise InvalidInput(errors)
    member = TeamMember(ruta_id=ruta.id, name=name, email=email, estamento=estamento,
                        user=account, created_at=now or utcnow(), areas=areas)
    session.add(member)
    session.flush()
    if invite:
        _invite(session, ruta, member, actor=actor)
    return member


def _invite(session: Session, ruta: Ruta, member: TeamMember, *, actor: User) -> None:
    """Queue the invitation e-mail, once per member and Ruta, in the same transaction."""
    school = ruta.school
    account = member.user
    activation_url = None
    if account is not None and account.password_hash is None:
        # A link to choose the password: without it the invitation would open nothing.
        token = tokens.issue(session, account, tokens.TokenPurpose.INVITATION)
        activation_url = outbox.absolute_url(session, f"/invitacion/{token}")
    outbox.enqueue(
        session, kind="equipo_invitacion", to=member.email,
        dedupe_key=f"equipo_invitacion:{ruta.id}:{member.email}",
        secretaria_id=school.secretaria_id, ruta_id=ruta.id,
        context={
            "member_name": member.name, "estamento": member.estamento.label,
            "areas": [area.name for area in member.areas],
            "rector_name": actor.name, "school_name": school.name,
            "dane_code": school.dane_code, "horizon": ruta.horizon_label,
            "secretaria_name": school.secretaria.name,
            "activation_url": activation_url, "email": member.email,
            "autoevaluacion_url": outbox.absolute_url(session,
                                                      f"/rutas/{ruta.id}/autoevaluacion"),
        })


def set_member_areas(session: Session, ruta: Ruta, member: TeamMember,
                     area_ids: Sequence[str | int], *, actor: User) -> TeamMember:
    """Replace the áreas assigned to ``member``. Flushes."""
    _require_team_manager(ruta, actor)
    if member.ruta_id != ruta.id:
        raise NotFound("No encontramos ese integrante del equipo.")
    errors: dict[str, list[str]] = {}
    areas = _areas_from_ids(ruta, area_ids, errors)
    if errors:
        raise InvalidInput(errors)
    member.areas = areas
    session.flush()
    return member


def remove_member(session: Session, ruta: Ruta, member: TeamMember, *, actor: User) -> None:
    """Take ``member`` off the team. What they rated stays, with their name on it."""
    _require_team_manager(ruta, actor)
    if member.ruta_id != ruta.id:
        raise NotFound("No encontramos ese integrante del equipo.")
    member.areas = []
    session.delete(member)
    session.flush()


def get_member(session: Session, ruta: Ruta, member_id: int) -> TeamMember:
    member = session.get(TeamMember, member_id)
    if member is None or member.ruta_id != ruta.id:
        raise NotFound("No encontramos ese integrante del equipo.")
    return member


def team(session: Session, ruta: Ruta) -> list[TeamMember]:
    return list(session.scalars(select(TeamMember).where(TeamMember.ruta_id == ruta.id)
                                .order_by(TeamMember.name, TeamMember.id)))


# --- valoración ---------------------------------------------------------------------------


@dataclass(frozen=True)
class RatingInput:
    """One componente as a form posts it: the level as text ("" for not rated yet)."""

    level: str = ""
    evidence: str = ""
    comments: str = ""


@dataclass(frozen=True)
class SaveResult:
    saved: int
    # Componentes saved at a level that requires evidence, without it.
    missing_evidence: list[CatalogComponente]


def level_field(componente_id: int) -> str:
    return f"nivel-{componente_id}"


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


def save_proceso(session: Session, ruta: Ruta, proceso: CatalogProceso,
                 entries: Mapping[int, RatingInput], *, actor: User,
                 now: datetime | None = None) -> SaveResult:
    """Save the valoraciones of one proceso, all or nothing. Flushes.

    Refuses componentes that do not exist, belong to another catalog version or to another
    proceso, levels outside 1–4, texts over the limit, an área not assigned to the actor,
    and any change once the autoevaluación was sent.
    """
    if proceso.area.catalog_id != getattr(ruta, "catalog_id", None):
        raise NotFound("Ese proceso no es del instrumento de esta Ruta.")
    if proceso.area_id not in editable_area_ids(session, ruta, actor):
        raise Forbidden(f"Usted no tiene asignada el área «{proceso.area.name}». Solo puede "
                        "valorar las áreas que le asignó el rector o la rectora.")
    _require_editable(session, ruta)
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

    rules = rules_for(session, ruta.school.secretaria_id)
    existing = {valoracion.componente_id: valoracion for valoracion in session.scalars(
        select(Valoracion).where(Valoracion.ruta_id == ruta.id,
                                 Valoracion.componente_id.in_([c.id for c, *_ in accepted])))}
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
            if rules.needs_evidence(level) and not evidence:
                missing.append(componente)
            continue
        row.level, row.evidence, row.comments = level, evidence, comments
        row.updated_at, row.updated_by_id = moment, actor.id
        saved += 1
        if rules.needs_evidence(level) and not evidence:
            missing.append(componente)
    session.flush()
    return SaveResult(saved=saved, missing_evidence=missing)


def valoraciones(session: Session, ruta: Ruta) -> dict[int, Valoracion]:
    """The Ruta's valoraciones by componente id (of its pinned catalog only)."""
    return {row.componente_id: row for row in session.scalars(
        select(Valoracion).where(Valoracion.ruta_id == ruta.id))}


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
    kind: str  # "catalog", "identity", "rating", "evidence"
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
    gaps = identity_gaps(session.get(IdentityReview, ruta.id))
    if gaps:
        found.append(Missing("Revisión de la identidad institucional: falta "
                             + join_phrases(gaps) + ".", "identity"))
    rated = valoraciones(session, ruta)
    rules = rules_for(session, ruta.school.secretaria_id)
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
                        and not row.evidence.strip():
                    found.append(Missing(
                        f"{componente.code} {componente.name}: valorado en {row.level}, le "
                        "falta la evidencia.", "evidence", area.code, proceso.id))
    return found


def join_phrases(phrases: Sequence[str]) -> str:
    return phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " y " + phrases[-1]


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

    @property
    def trend(self) -> Trend | None:
        return trend(self.tally.average, self.previous)


@dataclass(frozen=True)
class ComponenteChange:
    """One componente: its level in the previous Ruta and now (matched by code)."""

    area_code: str
    area_name: str
    code: str
    name: str
    previous: int | None
    level: int | None

    @property
    def trend(self) -> Trend | None:
        return trend(self.level, self.previous)


@dataclass(frozen=True)
class Perfil:
    areas: list[AreaPerfil]
    overall: Tally
    previous_overall: float | None = None
    # Empty without a previous Ruta.
    componentes: list[ComponenteChange] = field(default_factory=list)

    @property
    def trend(self) -> Trend | None:
        return trend(self.overall.average, self.previous_overall)

    def count(self, key: str) -> int:
        """How many componentes went up, down or stayed the same."""
        return sum(1 for item in self.componentes if item.trend and item.trend.key == key)

    def componentes_by_area(self) -> list[tuple[str, list[ComponenteChange]]]:
        """The componente changes grouped by área, in the instrument's order."""
        groups: dict[str, list[ComponenteChange]] = {}
        for item in self.componentes:
            groups.setdefault(item.area_name, []).append(item)
        return list(groups.items())


def compute_perfil(items: Sequence[Rated], previous: Sequence[Rated] | None = None, *,
                   compare_procesos: bool = False) -> Perfil:
    """Averages and counts per level, per proceso and área, in the instrument's order.

    With ``previous`` (the school's previous Ruta), each área carries its previous average,
    matched by área code (stable across versions); procesos are matched only when
    ``compare_procesos`` says both Rutas used the same catalog; every componente carries its
    previous level, matched by code (``componentes``), with ↑/↓/= from ``trend``.
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
                                previous_areas.get(area_code)))
    changes = []
    if previous:
        # Componente codes (Guía 34's numbering) are stable across catalog versions.
        before = {item.code: item.level for item in previous}
        changes = [ComponenteChange(item.area_code, item.area_name, item.code, item.name,
                                    before.get(item.code), item.level) for item in items]
    return Perfil(areas, tally(items), previous_overall, changes)


def rated_items(session: Session, ruta: Ruta) -> list[Rated]:
    catalog: Catalog | None = getattr(ruta, "catalog", None)
    if catalog is None:
        return []
    rows = valoraciones(session, ruta)
    items = []
    for area in catalog.areas:
        for proceso in area.procesos:
            for componente in proceso.componentes:
                row = rows.get(componente.id)
                items.append(Rated(area.code, area.name, proceso.code, proceso.name,
                                   componente.code, componente.name,
                                   row.level if row else None, componente.id,
                                   row.evidence if row else "", row.comments if row else ""))
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
    previous_items = rated_items(session, before) if before is not None else None
    same_catalog = before is not None and getattr(before, "catalog_id", None) == getattr(
        ruta, "catalog_id", None)
    return (compute_perfil(rated_items(session, ruta), previous_items,
                           compare_procesos=same_catalog), before)


# --- fortalezas and oportunidades ---------------------------------------------------------


@dataclass(frozen=True)
class Oportunidad:
    item: Rated
    priority: Priorizacion | None

    @property
    def score(self) -> int | None:
        return None if self.priority is None else self.priority.score


@dataclass(frozen=True)
class Classification:
    fortalezas: list[Rated]
    oportunidades: list[Oportunidad]


def classify(items: Sequence[Rated], rules: Rules,
             priorities: Mapping[int, Priorizacion] | None = None) -> Classification:
    """Fortalezas and oportunidades by the cut-off; oportunidades most urgent first.

    Prioritised oportunidades come first, by urgencia × tendencia × impacto (ties: lower
    level, then the instrument's order); the ones not prioritised yet follow by level.
    """
    priorities = priorities or {}
    rated = [item for item in items if item.level is not None]
    fortalezas = [item for item in rated if rules.is_fortaleza(item.level)]  # type: ignore[arg-type]
    order = {item.code: index for index, item in enumerate(items)}
    oportunidades = [Oportunidad(item, priorities.get(item.componente_id))
                     for item in rated if not rules.is_fortaleza(item.level)]  # type: ignore[arg-type]
    oportunidades.sort(key=lambda o: (o.score is None, -(o.score or 0), o.item.level,
                                      order[o.item.code]))
    return Classification(fortalezas, oportunidades)


def priorities_of(session: Session, ruta: Ruta) -> dict[int, Priorizacion]:
    return {row.componente_id: row for row in session.scalars(
        select(Priorizacion).where(Priorizacion.ruta_id == ruta.id))}


def classification_for(session: Session, ruta: Ruta) -> Classification:
    return classify(rated_items(session, ruta), rules_for(session, ruta.school.secretaria_id),
                    priorities_of(session, ruta))


def top_oportunidades(session: Session, ruta: Ruta, limit: int = 5) -> list[Oportunidad]:
    """Where the PMI starts: the oportunidades the team put first."""
    return classification_for(session, ruta).oportunidades[:limit]


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

    All three blank clears a componente's priority. Only oportunidades of áreas the actor
    may edit are accepted. Returns how many changed. Flushes.
    """
    allowed = editable_area_ids(session, ruta, actor)
    if not allowed:
        raise Forbidden("Solo el rector o la rectora y el equipo de gestión priorizan las "
                        "oportunidades de mejoramiento de sus áreas.")
    _require_editable(session, ruta)
    items = {item.componente_id: item for item in rated_items(session, ruta)}
    rules = rules_for(session, ruta.school.secretaria_id)
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


def overview(session: Session, ruta: Ruta, actor: User) -> Overview:
    catalog: Catalog | None = getattr(ruta, "catalog", None)
    rated = valoraciones(session, ruta)
    by_area = progress_by_area(catalog, rated) if catalog else {}
    return Overview(
        ruta=ruta, catalog=catalog, rules=rules_for(session, ruta.school.secretaria_id),
        by_area=by_area, overall=overall_progress(by_area),
        missing=missing_items(session, ruta) if is_editable(ruta) else [],
        identity=session.get(IdentityReview, ruta.id), members=team(session, ruta),
        editable_area_ids=editable_area_ids(session, ruta, actor) if is_editable(ruta) else set(),
        can_edit_identity=is_editable(ruta) and can_edit_identity(session, ruta, actor),
        can_manage_team=is_rector_of(actor, ruta) and ruta.state in TEAM_STATES,
        editable=is_editable(ruta),
    )
