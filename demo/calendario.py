"""The demo calendar: Ibagué's horizon 2024–2026, entered as the administrator would."""

from __future__ import annotations

from typing import Final

from sqlalchemy.orm import Session

from workflow.horizontes.calendar import (
    LEAD_TIME_DEFAULTS,
    CalendarData,
    CheckpointData,
    add_checkpoint,
    save_calendar,
)
from workflow.horizontes.models import HorizonCalendar
from workflow.models import Secretaria, User

# Ibagué 2024–2026 (Circular 0488 de 2023): the PMI is reported after the first semana
# institucional of 2024, which ends on Friday 19 January.
DEMO_FIRST_WEEKS: Final = {2024: "2024-01-19", 2025: "2025-01-17", 2026: "2026-01-16"}
DEMO_CHECKPOINTS: Final = (
    ("Seguimiento 1er semestre 2024", "2024-06-28"),
    ("Seguimiento 2.º semestre 2024", "2024-11-29"),
    ("Seguimiento 1er semestre 2025", "2025-06-27"),
    ("Seguimiento 2.º semestre 2025", "2025-11-28"),
    ("Seguimiento 1er semestre 2026", "2026-06-26"),
    ("Seguimiento 2.º semestre 2026", "2026-11-27"),
)


def seed_demo_calendar(session: Session, secretaria: Secretaria,
                       actor: User | None = None) -> HorizonCalendar:
    """The demo calendar 2024–2026, through the same services the administrator uses."""
    calendar = save_calendar(
        session, secretaria=secretaria, horizon_start_year=2024, horizon_end_year=2026,
        actor=actor,
        data=CalendarData(first_weeks=dict(DEMO_FIRST_WEEKS), pmi_deadline="2024-02-16",
                          self_assessment_opens="2023-10-02",
                          self_assessment_closes="2024-02-02",
                          lead_times={name: str(value)
                                      for name, value in LEAD_TIME_DEFAULTS.items()}))
    for name, due_on in DEMO_CHECKPOINTS:
        add_checkpoint(session, calendar, CheckpointData(name=name, due_on=due_on))
    return calendar
