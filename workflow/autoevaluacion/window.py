"""The autoevaluación window: when a school may send its autoevaluación, and its prórrogas.

What is decided here (issue 13):

- The window in force for a Ruta is its horizon's ``[self_assessment_opens,
  self_assessment_closes]``, both days included, with the closing day moved to the latest of:
  the ``until`` of the Ruta's latest prórroga (``SelfAssessmentExtension``: the latest granted
  is in force, every grant stays as the log), and, for a school that joined the horizon late,
  its own PMI deadline (``school_pmi_deadline``: the grace counted from the Ruta's opening or
  its rector's activation). A prórroga never moves the opening day.
- A horizon whose window has no dates yet (either one NULL) enforces nothing.
- Days are America/Bogota days: «today» is the Bogotá date of ``now``.
- Only the first sending from ``borrador`` is held to the window. A Ruta the Secretaría
  returned to the autoevaluación has sent it before and may always send it again (the
  Secretaría asked for it).
- Outside the window the autoevaluación stays editable: nothing typed is lost, only the sending
  is refused, with the window and how to ask for more time («Pida a la Secretaría una
  prórroga»). The refusal is one of the reasons of the ``self_assessment_complete`` guard
  (``workflow.autoevaluacion.actions``), so the Ruta page lists it with whatever else is
  missing.
- The administrador of the Ruta's Secretaría grants prórrogas (``extend_window``), with a
  reason; each one is a row of ``self_assessment_extensions`` and the Ruta page lists them
  under «Prórrogas de la autoevaluación». They are not entries of the Ruta's history: that
  table records state changes, and its trigger column is held by a CHECK to the machine's
  triggers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from workflow.dates import BOGOTA, fecha
from workflow.errors import Forbidden, GuardFailed, InvalidInput
from workflow.horizontes.calendar import parse_day
from workflow.horizontes.horizons import horizon_starting, school_pmi_deadline
from workflow.horizontes.models import HorizonCalendar, SelfAssessmentExtension
from workflow.models import Ruta, RutaTransition, User, utcnow
from workflow.roles import Role
from workflow.ruta_rows import rows_of
from workflow.states import State, Trigger

#: How to ask for more time, said with every refusal.
ASK_FOR_MORE = "Pida a la Secretaría una prórroga."
#: A reason says something: at least this many words and characters.
MIN_REASON_WORDS = 3
MIN_REASON_CHARS = 15
MAX_REASON_CHARS = 1000


def today_in_bogota(now: datetime | None = None) -> date:
    return (now or utcnow()).astimezone(BOGOTA).date()


@dataclass(frozen=True)
class Window:
    """The window in force for one Ruta. ``opens``/``closes`` None: no dates, no enforcement.

    ``closes`` is the closing day in force (prórroga and late joining included);
    ``horizon_closes`` the horizon's own; ``extension`` the latest prórroga, if any;
    ``late_join_until`` the school's own PMI deadline when it joined the horizon late.
    """

    opens: date | None
    closes: date | None
    extension: SelfAssessmentExtension | None = None
    horizon_closes: date | None = None
    late_join_until: date | None = None
    horizon_end: date | None = None

    @property
    def enforced(self) -> bool:
        return self.opens is not None and self.closes is not None

    @property
    def extended(self) -> bool:
        return (self.enforced and self.horizon_closes is not None
                and self.closes is not None and self.closes > self.horizon_closes)

    def is_open(self, today: date) -> bool:
        if self.opens is None or self.closes is None:
            return True
        return self.opens <= today <= self.closes

    def refusal(self, today: date) -> str | None:
        """Why the autoevaluación cannot be sent on ``today`` (None: it can)."""
        if self.opens is None or self.closes is None:
            return None
        if today < self.opens:
            return (f"La autoevaluación abre el {fecha(self.opens)}: desde ese día se puede "
                    f"enviar, hasta el {fecha(self.closes)}. Mientras tanto el equipo puede "
                    "adelantarla; lo que registre queda guardado.")
        if today > self.closes:
            return (f"La ventana de la autoevaluación se cerró el {fecha(self.closes)} "
                    f"(estuvo abierta desde el {fecha(self.opens)}), así que ya no se puede "
                    "enviar. Lo que el equipo registró queda guardado y se puede seguir "
                    f"editando. {ASK_FOR_MORE}")
        return None


def _latest_extension(session: Session, ruta: Ruta) -> SelfAssessmentExtension | None:
    # The log's own statement (a Ruta has a handful of prórrogas): a page showing the window
    # and the log reads them once (``ruta.read_memo``).
    return next(iter(extensions_of(session, ruta)), None)


def extensions_of(session: Session, ruta: Ruta) -> list[SelfAssessmentExtension]:
    """Every prórroga granted to the Ruta, the latest first (the log)."""
    return sorted(rows_of(session, SelfAssessmentExtension, ruta.id), key=lambda row: -row.id)


def _rector_activated_at(session: Session, ruta: Ruta) -> datetime | None:
    """When the school's first active rector could act (None: no activated rector yet)."""
    found: datetime | None = session.scalar(
        select(func.min(User.activated_at)).where(
            User.school_id == ruta.school_id, User.role == Role.RECTOR, User.active))
    return found


def _horizon(session: Session, ruta: Ruta) -> HorizonCalendar | None:
    return horizon_starting(session, ruta.school.secretaria_id, ruta.horizon_start_year)


def window_for(session: Session, ruta: Ruta) -> Window:
    """The window in force for ``ruta`` (see the module's docstring)."""
    horizon = _horizon(session, ruta)
    horizon_end = date(ruta.horizon_end_year, 12, 31)
    if (horizon is None or horizon.self_assessment_opens is None
            or horizon.self_assessment_closes is None):
        return Window(opens=None, closes=None, horizon_end=horizon_end)
    closes = horizon.self_assessment_closes
    extension = _latest_extension(session, ruta)
    if extension is not None:
        closes = max(closes, extension.until)
    late_join_until = None
    own_deadline = school_pmi_deadline(horizon, opened_at=ruta.created_at,
                                       activated_at=_rector_activated_at(session, ruta))
    if (own_deadline is not None and horizon.pmi_deadline is not None
            and own_deadline > horizon.pmi_deadline):
        late_join_until = own_deadline
        closes = max(closes, own_deadline)
    return Window(opens=horizon.self_assessment_opens, closes=closes, extension=extension,
                  horizon_closes=horizon.self_assessment_closes,
                  late_join_until=late_join_until, horizon_end=horizon_end)


def sent_before(session: Session, ruta: Ruta) -> bool:
    """Whether the Ruta has sent its autoevaluación before (then the Secretaría returned it)."""
    return bool(session.scalar(select(exists().where(
        RutaTransition.ruta_id == ruta.id,
        RutaTransition.trigger == Trigger.ENVIAR_AUTOEVALUACION.value))))


def held_to_window(session: Session, ruta: Ruta) -> bool:
    """Whether sending now is the first sending from borrador, the one the window governs."""
    return ruta.state is State.BORRADOR and not sent_before(session, ruta)


def send_refusal(session: Session, ruta: Ruta, *, now: datetime | None = None) -> str | None:
    """Why the window keeps ``ruta`` from sending its autoevaluación now (None: it does not)."""
    if not held_to_window(session, ruta):
        return None
    return window_for(session, ruta).refusal(today_in_bogota(now))


def check_can_send(session: Session, ruta: Ruta, *, now: datetime | None = None) -> None:
    """Raise ``GuardFailed`` (422, the error of a failed guard) when the window refuses."""
    refusal = send_refusal(session, ruta, now=now)
    if refusal is not None:
        raise GuardFailed(f"Todavía no se puede «{Trigger.ENVIAR_AUTOEVALUACION.label}».",
                          [refusal])


# --- prórrogas ------------------------------------------------------------------------------


def _check_granter(ruta: Ruta, actor: User) -> None:
    if (not actor.active or actor.role is not Role.ADMINISTRADOR
            or actor.secretaria_id != ruta.school.secretaria_id):
        raise Forbidden("Solo la administración de la Secretaría concede prórrogas de la "
                        "autoevaluación.")


def _until(errors: dict[str, list[str]], text: str, window: Window, today: date) -> date | None:
    if not text.strip():
        errors["until"] = ["Escriba hasta qué fecha se puede enviar la autoevaluación."]
        return None
    until = parse_day(text)
    if until is None:
        errors["until"] = ["La fecha no es válida: use el formato año-mes-día, por ejemplo "
                           f"{today.year}-{today.month:02d}-{today.day:02d}."]
    elif until <= today:
        errors["until"] = [f"La prórroga debe terminar después de hoy ({fecha(today)})."]
    elif window.horizon_end is not None and until > window.horizon_end:
        errors["until"] = ["La prórroga no puede ir más allá del final del horizonte "
                           f"({fecha(window.horizon_end)})."]
    elif window.horizon_closes is not None and until <= window.horizon_closes:
        errors["until"] = ["Esa fecha no extiende nada: la ventana ya está abierta hasta el "
                           f"{fecha(window.horizon_closes)}."]
    else:
        return until
    return None


def _reason(errors: dict[str, list[str]], text: str) -> str:
    reason = " ".join(text.split())
    if len(reason.split()) < MIN_REASON_WORDS or len(reason) < MIN_REASON_CHARS:
        errors["reason"] = ["Escriba en unas palabras por qué se concede la prórroga (por "
                            "ejemplo: «La sede rural estuvo sin conectividad en enero»): "
                            "queda en el registro."]
    elif len(reason) > MAX_REASON_CHARS:
        errors["reason"] = [f"El motivo es muy largo: use como máximo {MAX_REASON_CHARS} "
                            f"caracteres (tiene {len(reason)})."]
    return reason


def extend_window(session: Session, ruta: Ruta, until_text: str, reason_text: str, *,
                  actor: User, now: datetime | None = None) -> SelfAssessmentExtension:
    """The administrador gives one school until ``until_text`` to send its autoevaluación.

    Changes: appends a prórroga row (the log; the latest one is in force). Flushes. Raises
    ``Forbidden`` for anyone but the administración of the Ruta's Secretaría, ``InvalidInput``
    (keys ``until``, ``reason``, or ``""`` for the Ruta as a whole) when it does not apply;
    nothing is saved then.
    """
    _check_granter(ruta, actor)
    if ruta.state is not State.BORRADOR:
        raise InvalidInput({"": ["Esta institución ya envió su autoevaluación: no necesita "
                                 "prórroga."]})
    if sent_before(session, ruta):
        raise InvalidInput({"": ["La Secretaría devolvió esta Ruta a la autoevaluación: puede "
                                 "reenviarla sin prórroga."]})
    window = window_for(session, ruta)
    if not window.enforced:
        raise InvalidInput({"": ["La ventana de la autoevaluación de este horizonte todavía "
                                 "no tiene fechas: no hace falta una prórroga."]})
    moment = now or utcnow()
    errors: dict[str, list[str]] = {}
    until = _until(errors, until_text, window, today_in_bogota(moment))
    reason = _reason(errors, reason_text)
    if errors or until is None:
        raise InvalidInput(errors)
    extension = SelfAssessmentExtension(ruta_id=ruta.id, until=until, reason=reason,
                                        granted_by_id=actor.id, granted_at=moment)
    session.add(extension)
    session.flush()
    return extension


# --- what the pages show ------------------------------------------------------------------


@dataclass(frozen=True)
class WindowNotice:
    """What the Ruta and autoevaluación pages say about the window, before anyone sends.

    ``shown``: the Ruta is in borrador (afterwards the window no longer matters);
    ``returned``: the Secretaría returned it, so it may be sent again whatever the window;
    ``refusal``: why sending is refused today (None: it is not).
    """

    window: Window
    today: date
    shown: bool
    returned: bool
    refusal: str | None
    extensions: list[SelfAssessmentExtension]
    may_extend: bool


def notice_for(session: Session, ruta: Ruta, actor: User, *,
               now: datetime | None = None) -> WindowNotice:
    today = today_in_bogota(now)
    returned = ruta.state is State.BORRADOR and sent_before(session, ruta)
    current = window_for(session, ruta)
    refusal = None if returned or ruta.state is not State.BORRADOR else current.refusal(today)
    try:
        _check_granter(ruta, actor)
        granter = True
    except Forbidden:
        granter = False
    return WindowNotice(
        window=current, today=today, shown=ruta.state is State.BORRADOR, returned=returned,
        refusal=refusal, extensions=extensions_of(session, ruta),
        may_extend=granter and ruta.state is State.BORRADOR and not returned
        and current.enforced)
