"""What templates need: Spanish (Colombia) dates, labels of states and roles."""

from __future__ import annotations

from flask import Flask

from ruta.db import db_session
from workflow.dates import fecha
from workflow.form_tokens import new_token
from workflow.roles import ROLE_LABELS, Role
from workflow.situation import Situation, situation_of
from workflow.states import STATE_EXPLANATIONS, STATE_LABELS, STATE_ORDER, State, Trigger


def init_app(app: Flask) -> None:
    app.jinja_env.filters["fecha"] = fecha
    app.jinja_env.globals.update(
        State=State, Trigger=Trigger, Role=Role, STATE_ORDER=STATE_ORDER,
        STATE_LABELS=STATE_LABELS, STATE_EXPLANATIONS=STATE_EXPLANATIONS,
        ROLE_LABELS=ROLE_LABELS, new_form_token=new_token, ruta_situation=_situation,
    )
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True


def _situation(ruta: object) -> Situation:
    """The Ruta's state in words, «PMI devuelto con observaciones» included."""
    return situation_of(db_session(), ruta)  # type: ignore[arg-type]
