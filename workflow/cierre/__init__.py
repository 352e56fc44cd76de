"""The end of a Ruta: the final evaluation, closing, and the next horizon's Ruta.

- ``models``: the final evaluation's tables (per meta, per indicador) and the verdict enum.
- ``evaluacion_final``: the final evaluation (per meta and indicador, lessons, communication),
  the results summary, and opening the next cycle's Ruta.
- ``actions``: closing the Ruta (``cerrar``), guarded by a registered final evaluation.
"""
