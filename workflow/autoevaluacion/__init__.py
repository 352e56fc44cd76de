"""The autoevaluación institucional (first stage): identity, equipo de gestión, valoraciones,
perfil.

- ``models``: the tables (identity review, team members, valoraciones, priorities) and enums.
- ``team``: who may edit what, starting it, the identity review and the equipo de gestión.
- ``services``: saving valoraciones per proceso, progress, what is missing, the submit lock.
- ``perfil``: the perfil institucional, fortalezas and oportunidades, and their priorities.
- ``evidence``: evidence files attached to valoraciones (built on ``workflow.evidencias``).
"""
