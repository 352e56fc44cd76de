"""Who may edit what in the autoevaluación, its start, the identity review and the team.

The rector edits everything; a member of the equipo de gestión rates the áreas assigned to
them (and the identity, with the direccionamiento estratégico). Content is editable only while
the Ruta is in ``borrador`` (also after a return to the autoevaluación); the rector forms the
equipo de gestión, and members are invited by e-mail. Services flush, never commit; bad input
raises ``InvalidInput`` before anything is written.

A member has a version (editing their áreas from a stale form raises ``StaleEdit``). Removing
one returns a ``RemovedMember`` (what they had) that ``restore_member`` puts back, with the
same áreas, within ``UNDO_WINDOW``; a removal that would undo a gate already passed (the team
of an autoevaluación already sent) is refused (``removal_effects`` says what goes with it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from workflow import outbox
from workflow.autoevaluacion.models import (
    MAX_REFERENCE,
    MAX_TEXT,
    Estamento,
    IdentityReview,
    TeamMember,
    Vigencia,
)
from workflow.catalogo.catalog import Rules, area_rows, current_catalog, rules_of
from workflow.catalogo.models import Catalog, CatalogArea
from workflow.cuentas import accounts, tokens
from workflow.cuentas.accounts import EMAIL_PATTERN, normalize_email
from workflow.cuentas.models import TokenPurpose
from workflow.errors import Forbidden, InvalidInput, NotEditable, NotFound, require_version
from workflow.models import Ruta, User, utcnow
from workflow.roles import Role
from workflow.states import State

# The autoevaluación is content of these states only; a return to it reopens editing.
EDITABLE_STATES = frozenset({State.BORRADOR})
# The team keeps working after the autoevaluación is sent: it formulates the PMI too.
TEAM_STATES = frozenset({State.BORRADOR, State.AUTOEVALUACION_ENVIADA})
# Misión, visión and principios belong to the direccionamiento estratégico of this área.
IDENTITY_AREA_CODE = "DIR"


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


def require_editable(session: Session, ruta: Ruta) -> None:
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
# The identity texts a reader needs, each a real sentence (``Rules.is_sentence``): the phrase
# after «falta escribir…» and the start of the message when the text is too short.
IDENTITY_SENTENCES = {
    "mision": ("completa la misión", "La misión es muy corta: escríbala completa"),
    "vision": ("completa la visión", "La visión es muy corta: escríbala completa"),
    "principios": ("completos los principios",
                   "Los principios son muy cortos: escríbalos completos"),
}


def short_text_message(name: str, rules: Rules) -> str:
    """What to do when an identity text is too short to be read."""
    return f"{IDENTITY_SENTENCES[name][1]}, con {rules.sentence_label}."


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
    require_editable(session, ruta)
    errors: dict[str, list[str]] = {}
    texts = {name: getattr(data, name).strip() for name in IDENTITY_TEXTS}
    for name, label in IDENTITY_TEXTS.items():
        if len(texts[name]) > MAX_TEXT:
            errors[name] = [f"El texto de {label.lower()} no puede pasar de {MAX_TEXT} "
                            "caracteres."]
    # A draft may leave a text blank, never write one that cannot be read («m»).
    rules = rules_of(session, ruta)
    for name in IDENTITY_SENTENCES:
        if texts[name] and name not in errors and not rules.is_sentence(texts[name]):
            errors[name] = [short_text_message(name, rules)]
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


def identity_gaps(review: IdentityReview | None, rules: Rules | None = None) -> list[str]:
    """What the identity review still lacks, as phrases that follow «falta».

    With ``rules``, a misión, visión or principios too short to be read (``is_sentence``)
    lacks its complete text too.
    """
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
    if rules is not None and review is not None:
        texts = {name: getattr(review, name).strip() for name in IDENTITY_SENTENCES}
        gaps += [f"escribir {phrase} ({rules.sentence_label})"
                 for name, (phrase, _) in IDENTITY_SENTENCES.items()
                 if texts[name] and not rules.is_sentence(texts[name])]
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


def _areas_from_ids(session: Session, ruta: Ruta, area_ids: Iterable[str | int],
                    errors: dict[str, list[str]]) -> list[CatalogArea]:
    by_id = area_rows(session, ruta.catalog_id)  # type: ignore[attr-defined]
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
        accounts.reopen_after_team(existing)  # closed when they left the team: back now
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
    areas = _areas_from_ids(session, ruta, data.area_ids, errors)
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
    activation_url = secret_link = None
    if account is not None and account.password_hash is None:
        # A link to choose the password: without it the invitation would open nothing.
        token = tokens.issue(session, account, TokenPurpose.INVITATION)
        secret_link = outbox.absolute_url(session, f"/invitacion/{token}")
        # The stored bodies show a placeholder; delivery puts the link back.
        activation_url = outbox.SECRET_LINK_PLACEHOLDER
    outbox.enqueue(
        session, kind="equipo_invitacion", to=member.email,
        dedupe_key=f"equipo_invitacion:{ruta.id}:{member.email}",
        secretaria_id=school.secretaria_id, ruta_id=ruta.id, secret_link=secret_link,
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


def member_what(member: TeamMember) -> str:
    """How a StaleEdit names a member."""
    return f"el integrante «{member.name}»"


def _lock_member(session: Session, member: TeamMember) -> None:
    """Lock the member's row and read it as committed, so the version compared is current."""
    session.refresh(member, with_for_update=True)


def set_member_areas(session: Session, ruta: Ruta, member: TeamMember,
                     area_ids: Sequence[str | int], *, actor: User,
                     expected_version: int | None = None) -> TeamMember:
    """Replace the áreas assigned to ``member``; their version goes up when they change.
    Flushes. ``StaleEdit`` when ``expected_version`` is not the member's version."""
    _require_team_manager(ruta, actor)
    if member.ruta_id != ruta.id:
        raise NotFound("No encontramos ese integrante del equipo.")
    _lock_member(session, member)
    require_version(member.version, expected_version, member_what(member))
    errors: dict[str, list[str]] = {}
    areas = _areas_from_ids(session, ruta, area_ids, errors)
    if errors:
        raise InvalidInput(errors)
    if [area.id for area in member.areas] != [area.id for area in areas]:
        member.areas = areas
        member.version += 1
    session.flush()
    return member


def _close_account_if_last_team(session: Session, account: User | None,
                                moment: datetime) -> None:
    """E20: an ``equipo`` account exists for its teams; off the last one, it reads nothing
    more of the school (data, evidence)."""
    if (account is not None and account.role is Role.EQUIPO and account.active
            and not session.scalar(select(TeamMember.id).where(
                TeamMember.user_id == account.id).limit(1))):
        accounts.close_for_leaving_team(session, account, now=moment)


# How long «Deshacer» can put a removed member back.
UNDO_WINDOW = timedelta(minutes=15)


@dataclass(frozen=True)
class RemovalEffects:
    """What removing a member takes with it, as the confirmation page says it."""

    areas: list[str]
    # They sign in with an ``equipo`` account that will no longer edit anything here.
    loses_access: bool
    # That account is on no other team: it is deactivated (E20), reading nothing more.
    closes_account: bool
    # Requirements for sending the autoevaluación the team would stop meeting.
    new_gaps: list[str]
    # Why the removal is refused (None: it is allowed).
    refused: str | None


def removal_effects(session: Session, ruta: Ruta, member: TeamMember) -> RemovalEffects:
    rules = rules_of(session, ruta)
    members = team(session, ruta)
    before = team_gaps(members, rules)
    after = team_gaps([other for other in members if other.id != member.id], rules)
    new_gaps = [gap for gap in after if gap not in before] if after != before else []
    refused = None
    if new_gaps and ruta.state is not State.BORRADOR:
        refused = (f"No se puede quitar a {member.name}: la autoevaluación ya se envió con este "
                   "equipo y, sin esta persona, el equipo dejaría de cumplir lo que se exige "
                   "para enviarla. Agregue primero a quien lo reemplace.")
    account = member.user
    closes_account = (account is not None and account.role is Role.EQUIPO and account.active
                      and session.scalar(select(TeamMember.id).where(
                          TeamMember.user_id == account.id, TeamMember.id != member.id)
                          .limit(1)) is None)
    return RemovalEffects(areas=[area.name for area in member.areas],
                          loses_access=member.user_id is not None and bool(member.areas),
                          closes_account=closes_account, new_gaps=new_gaps, refused=refused)


@dataclass(frozen=True)
class RemovedMember:
    """What a removal took away: enough to put the member back as they were."""

    ruta_id: int
    name: str
    email: str
    estamento: str
    user_id: int | None
    area_ids: tuple[int, ...]
    created_at: str
    removed_at: str

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "area_ids": list(self.area_ids)}

    @classmethod
    def from_dict(cls, data: Any) -> RemovedMember | None:
        """From what ``to_dict`` gave (kept in the person's session); None if it is not."""
        try:
            return cls(ruta_id=int(data["ruta_id"]), name=str(data["name"]),
                       email=str(data["email"]), estamento=str(data["estamento"]),
                       user_id=None if data["user_id"] is None else int(data["user_id"]),
                       area_ids=tuple(int(item) for item in data["area_ids"]),
                       created_at=str(data["created_at"]), removed_at=str(data["removed_at"]))
        except (KeyError, TypeError, ValueError):
            return None

    def undoable(self, now: datetime) -> bool:
        return now <= datetime.fromisoformat(self.removed_at) + UNDO_WINDOW


def remove_member(session: Session, ruta: Ruta, member: TeamMember, *, actor: User,
                  expected_version: int | None = None,
                  now: datetime | None = None) -> RemovedMember:
    """Take ``member`` off the team. What they rated stays, with their name on it. Flushes.

    Refused (``NotEditable``) when the team would stop meeting a gate already passed
    (``removal_effects``); ``StaleEdit`` when the member changed since the confirmation was
    drawn. Returns what ``restore_member`` needs to put them back."""
    _require_team_manager(ruta, actor)
    if member.ruta_id != ruta.id:
        raise NotFound("No encontramos ese integrante del equipo.")
    _lock_member(session, member)
    require_version(member.version, expected_version, member_what(member))
    effects = removal_effects(session, ruta, member)
    if effects.refused:
        raise NotEditable(effects.refused)
    removed = RemovedMember(
        ruta_id=ruta.id, name=member.name, email=member.email,
        estamento=member.estamento.value, user_id=member.user_id,
        area_ids=tuple(area.id for area in member.areas),
        created_at=member.created_at.isoformat(), removed_at=(now or utcnow()).isoformat())
    account = member.user
    member.areas = []
    session.delete(member)
    session.flush()
    _close_account_if_last_team(session, account, now or utcnow())
    session.flush()
    return removed


def restore_member(session: Session, ruta: Ruta, removed: RemovedMember, *, actor: User,
                   now: datetime | None = None) -> TeamMember:
    """Put a removed member back with the same áreas (no new invitation), reopening the
    account the removal closed. Flushes.

    Refused once ``UNDO_WINDOW`` has passed, or when someone with that e-mail is on the
    team again."""
    _require_team_manager(ruta, actor)
    if removed.ruta_id != ruta.id:
        raise NotFound("No encontramos ese integrante del equipo.")
    if not removed.undoable(now or utcnow()):
        raise NotEditable(f"Ya pasó el tiempo para deshacer la salida de {removed.name}: "
                          "agréguelo de nuevo con el formulario del equipo.")
    if session.scalar(select(TeamMember.id).where(TeamMember.ruta_id == ruta.id,
                                                  TeamMember.email == removed.email)):
        raise NotEditable(f"{removed.name} ya está de nuevo en el equipo.")
    account = session.get(User, removed.user_id) if removed.user_id else None
    if account is not None:
        accounts.reopen_after_team(account)
    by_id = area_rows(session, ruta.catalog_id)  # type: ignore[attr-defined]
    member = TeamMember(ruta_id=ruta.id, name=removed.name, email=removed.email,
                        estamento=Estamento(removed.estamento), user=account,
                        created_at=datetime.fromisoformat(removed.created_at),
                        areas=sorted((by_id[area_id] for area_id in removed.area_ids
                                      if area_id in by_id), key=lambda area: area.position))
    session.add(member)
    session.flush()
    return member


def get_member(session: Session, ruta: Ruta, member_id: int) -> TeamMember:
    member = session.get(TeamMember, member_id)
    if member is None or member.ruta_id != ruta.id:
        raise NotFound("No encontramos ese integrante del equipo.")
    return member


def team(session: Session, ruta: Ruta, *, with_areas: bool = False) -> list[TeamMember]:
    """The equipo de gestión; ``with_areas`` brings every member's áreas in one more
    statement (for pages listing them), rather than one per member."""
    statement = select(TeamMember).where(TeamMember.ruta_id == ruta.id)
    if with_areas:
        statement = statement.options(selectinload(TeamMember.areas))
    return list(session.scalars(statement.order_by(TeamMember.name, TeamMember.id)))


def team_gaps(members: Sequence[TeamMember], rules: Rules) -> list[str]:
    """What the equipo de gestión lacks to send the autoevaluación, as whole sentences.

    The team is the people listed on its page; the rector or the rectora counts when listed
    too (added with their own e-mail, as «directivo»), never implicitly: the list is what
    the Secretaría reads as the equipo «conformado por diversos integrantes».
    """
    gaps = []
    count = len(members)
    if count < rules.team_min_members:
        has = ("no tiene integrantes" if count == 0 else
               f"tiene {count} integrante{'' if count == 1 else 's'}")
        gaps.append(f"El equipo de gestión {has} y necesita al menos {rules.team_min_members}: "
                    "agregue a los que faltan en la página del equipo (usted también cuenta si "
                    "se agrega).")
    estamentos = sorted({member.estamento for member in members}, key=list(Estamento).index)
    # With nobody listed, the first message says it all.
    if members and len(estamentos) < rules.team_min_estamentos:
        named = ", ".join(item.label.lower() for item in estamentos)
        which = (f"un solo estamento ({named})" if len(estamentos) == 1 else
                 f"{len(estamentos)} estamentos ({named})")
        gaps.append(f"El equipo de gestión representa {which} y necesita al menos "
                    f"{rules.team_min_estamentos} estamentos distintos: agregue integrantes de "
                    "otros estamentos (docentes, familias, estudiantes, administrativos, "
                    "egresados, sector productivo).")
    return gaps
