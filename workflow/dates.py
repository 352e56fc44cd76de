"""Dates as people in Colombia read them: Bogotá's time zone and Spanish (Colombia)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Final
from zoneinfo import ZoneInfo

from babel.dates import format_date, format_datetime

BOGOTA: Final = ZoneInfo("America/Bogota")
LOCALE: Final = "es_CO"


def fecha(value: datetime | date | None, style: str = "long") -> str:
    """A date or timestamp in Spanish (Colombia), timestamps in Bogotá's time.

    ``style="short"`` abbreviates the month, for tables.
    """
    if value is None:
        return ""
    if isinstance(value, datetime):
        if style == "short":
            return format_datetime(value, "d MMM y, h:mm a", tzinfo=BOGOTA, locale=LOCALE)
        return format_datetime(value, "d 'de' MMMM 'de' y, h:mm a", tzinfo=BOGOTA,
                               locale=LOCALE)
    return format_date(value, "d 'de' MMMM 'de' y", locale=LOCALE)
