"""A Secretaría's horizons (2024–2026, 2027–2029, …).

- ``calendar``: the calendar of each horizon (semana institucional, deadlines, checkpoints,
  reminder lead times) and the tables of the reminders it drives.
- ``opening``: opening a school's Ruta for a horizon, pinned to the current instrument.
"""
