"""The life of an itemized observation, shared by the PMI review (``workflow.pmi.review``) and
the seguimiento reports (``workflow.seguimiento``).

Both keep their observations in their own table (an observation belongs to a plan version or
to a report), with the same columns for what happens to it:

    borrador ──(return)──▶ enviada ──(rector answers)──▶ respondida ──▶ resuelta
                               ▲                              │
                               └──── abierta ◀── (revisor: "sigue abierta")

Who may act, and when, is each caller's rule; these functions only move one row along that
life and check its text. They flush nothing; the callers do.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from enum import Enum as PyEnum
from typing import Protocol

from workflow.errors import InvalidInput, NotEditable
from workflow.models import User, utcnow

MAX_TEXT = 5000


class ObservationStatus(PyEnum):
    BORRADOR = "borrador"
    ENVIADA = "enviada"
    RESPONDIDA = "respondida"
    RESUELTA = "resuelta"
    ABIERTA = "abierta"

    @property
    def label(self) -> str:
        return {
            "borrador": "Sin enviar (se envía al devolver)",
            "enviada": "Enviada, sin respuesta",
            "respondida": "Respondida por la institución",
            "resuelta": "Resuelta",
            "abierta": "Sigue abierta",
        }[self.value]


SENT = frozenset({ObservationStatus.ENVIADA, ObservationStatus.RESPONDIDA,
                  ObservationStatus.ABIERTA})
# The rector may answer (or change the answer) while the observation is sent and not resolved.
ANSWERABLE = SENT
# What a return sends the school: the new drafts and those the revisor left open.
TO_SEND = frozenset({ObservationStatus.BORRADOR, ObservationStatus.ABIERTA})
UNANSWERED = frozenset({ObservationStatus.ENVIADA, ObservationStatus.ABIERTA})


class ObservationRow(Protocol):
    """The columns both observation tables share."""

    status: ObservationStatus
    returned_at: datetime | None
    response: str | None
    responded_at: datetime | None
    responded_by_id: int | None
    judged_at: datetime | None
    judged_by_id: int | None


def text_problem(text: str, *, empty: str, noun: str) -> str | None:
    """What is wrong with an observation's or an answer's text (stripped), if anything."""
    cleaned = text.strip()
    if not cleaned:
        return empty
    if len(cleaned) > MAX_TEXT:
        return f"{noun} no puede pasar de {MAX_TEXT} caracteres."
    return None


def require_draft(row: ObservationRow) -> None:
    """Only a draft may be deleted: once sent it is judged, never erased."""
    if row.status is not ObservationStatus.BORRADOR:
        raise NotEditable("Esa observación ya se envió a la institución: márquela como "
                          "resuelta o como abierta, no se borra.")


def send(rows: Iterable[ObservationRow], now: datetime) -> None:
    """A return happened: its drafts go to the school (open ones are simply sent again)."""
    for row in rows:
        if row.status is ObservationStatus.BORRADOR:
            row.status, row.returned_at = ObservationStatus.ENVIADA, now


def parse_verdict(value: str) -> bool:
    """The revisor's verdict as posted: True for "resuelta", False for "abierta"."""
    if value not in ("resuelta", "abierta"):
        raise InvalidInput({"veredicto": ["Diga si la observación quedó resuelta o sigue "
                                          "abierta."]})
    return value == "resuelta"


def judge(row: ObservationRow, *, reviewer: User, resolved: bool,
          now: datetime | None = None) -> None:
    """The revisor marks a sent observation resolved, or still open."""
    if row.status is ObservationStatus.BORRADOR:
        raise NotEditable("Esa observación todavía no se ha enviado: se valora después de que "
                          "la institución la responda.")
    row.status = ObservationStatus.RESUELTA if resolved else ObservationStatus.ABIERTA
    row.judged_at, row.judged_by_id = now or utcnow(), reviewer.id


def answer(row: ObservationRow, *, actor: User, response: str, empty: str,
           now: datetime | None = None) -> None:
    """The rector's answer; ``empty`` is the message when there is none."""
    if row.status not in ANSWERABLE:
        raise NotEditable("Esa observación no espera respuesta.")
    problem = text_problem(response, empty=empty, noun="La respuesta")
    if problem:
        raise InvalidInput({"respuesta": [problem]})
    row.response = response.strip()
    row.responded_at, row.responded_by_id = now or utcnow(), actor.id
    row.status = ObservationStatus.RESPONDIDA
