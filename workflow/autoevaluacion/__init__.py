"""The autoevaluación institucional (first stage): identity, equipo de gestión, valoraciones,
perfil.

- ``models``: the tables (identity review, team members, valoraciones, priorities) and enums.
- ``team``: who may edit what, starting it, the identity review and the equipo de gestión.
- ``ratings``: saving valoraciones per proceso, progress, what is still missing to send it.
- ``perfil``: the perfil institucional, fortalezas and oportunidades, and their priorities.
- ``evidence``: evidence files attached to valoraciones (built on ``workflow.evidencias``).
- ``actions``: sending the autoevaluación (``enviar_autoevaluacion``) and its guard.
"""
