"""Seguimiento periódico (third stage): a report per checkpoint, and progress.

- ``models``: the reports' tables (report, lines, indicator values, observations), enums,
  lateness.
- ``progress``: semáforo and planned %, plan start, reported or not, progress by Ruta, exports.
- ``checkpoints``: which checkpoints a Ruta reports, its checkpoint rows, deleting a checkpoint.
- ``form``: parsing the report form posted by the school.
- ``reports``: opening, saving, sending, acknowledging, returning a report; its observations.
- ``evidence``: a report's evidence files (attaching, listing).
- ``actions``: starting the seguimiento of an approved plan (``iniciar_seguimiento``).
"""
