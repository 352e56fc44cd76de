"""Demo data, written through the real services as a user would. The domain never imports it.

- ``seed``: the whole demo (``ruta demo``): Secretaría, schools, people, Rutas in every state.
- ``calendario``: Ibagué's calendar 2024–2026.
- ``autoevaluacion``, ``pmi``, ``seguimiento``, ``cierre``: each stage's content, drawn from a
  random generator seeded per school so that adding one leaves the rest unchanged.
"""
