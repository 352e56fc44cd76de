"""A Secretaría's horizons (2024–2026, 2027–2029, …).

- ``models``: the calendar tables (calendar, semanas institucionales, checkpoints) and those
  of the reminders it drives (``ReminderRule``, reminders sent, job runs), the lead times.
- ``calendar``: reading and editing the calendar of each horizon (semana institucional,
  deadlines, checkpoints, reminder lead times).
- ``opening``: opening a school's Ruta for a horizon, pinned to the current instrument.
"""
