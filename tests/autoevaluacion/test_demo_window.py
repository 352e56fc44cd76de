"""The demo's prórrogas (``demo.ventana``): the demo keeps Ibagué's real window, long closed, so
its Rutas still to send their first autoevaluación get a prórroga with the demo's reason; a
Ruta the Secretaría returned, or one already sent, gets none.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from demo.seed import seed_demo
from demo.ventana import DEMO_REASON, grant_demo_extensions
from tests.conftest import PASSWORD, TEST_PASSWORDS
from workflow.autoevaluacion import window
from workflow.models import Ruta
from workflow.states import State

# A day inside the demo's horizon 2024–2026, long after its window (2023-10-02 – 2024-02-02).
NOW = datetime(2025, 6, 2, 17, 0, tzinfo=UTC)


def test_grant_demo_extensions_reopens_only_the_first_sendings(db: Session) -> None:
    """Loading the demo grants them (``seed_demo`` calls ``grant_demo_extensions``)."""
    secretaria = seed_demo(db, school_count=14, password=PASSWORD, passwords=TEST_PASSWORDS,
                           now=NOW)
    borrador = list(db.scalars(select(Ruta).where(Ruta.state == State.BORRADOR)
                               .order_by(Ruta.id)))
    first_sendings = [ruta for ruta in borrador if window.held_to_window(db, ruta)
                      and window.window_for(db, ruta).opens is not None
                      and window.window_for(db, ruta).opens <= NOW.date()]
    returned = [ruta for ruta in borrador if window.sent_before(db, ruta)]
    assert first_sendings and returned

    granted = [extension for ruta in first_sendings
               for extension in window.extensions_of(db, ruta)]

    assert sorted(extension.ruta_id for extension in granted) == sorted(
        ruta.id for ruta in first_sendings)
    assert {(extension.until, extension.reason) for extension in granted} == {
        (date(2025, 8, 31), DEMO_REASON)}
    assert [window.send_refusal(db, ruta, now=NOW) for ruta in first_sendings] == [
        None] * len(first_sendings)
    assert all(window.extensions_of(db, ruta) == [] for ruta in returned)
    # Run again the same day: every one of them can send already, nothing more is granted.
    assert grant_demo_extensions(db, secretaria, NOW) == []
