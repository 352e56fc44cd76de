"""What templates need: Spanish (Colombia) dates, labels of states and roles."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime
from flask import Flask

from workflow.roles import ROLE_LABELS, Role
from workflow.states import STATE_EXPLANATIONS, STATE_LABELS, STATE_ORDER, State, Trigger

BOGOTA = ZoneInfo("America/Bogota")
LOCALE = "es_CO"


def fecha(value: datetime | date | None, style: str = "long") -> str:
    """A date or timestamp as a person in Colombia reads it, in Bogotá's time."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        if style == "short":
            return format_datetime(value, "d MMM y, h:mm a", tzinfo=BOGOTA, locale=LOCALE)
        return format_datetime(value, "d 'de' MMMM 'de' y, h:mm a", tzinfo=BOGOTA,
                               locale=LOCALE)
    return format_date(value, "d 'de' MMMM 'de' y", locale=LOCALE)


def init_app(app: Flask) -> None:
    app.jinja_env.filters["fecha"] = fecha
    app.jinja_env.globals.update(
        State=State, Trigger=Trigger, Role=Role, STATE_ORDER=STATE_ORDER,
        STATE_LABELS=STATE_LABELS, STATE_EXPLANATIONS=STATE_EXPLANATIONS,
        ROLE_LABELS=ROLE_LABELS,
    )
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
