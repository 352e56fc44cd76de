"""The domain of Ruta: the state machine, models, services, scoping and checks.

Nothing in this package imports Flask: views in ``blueprints/`` and jobs in ``jobs/`` call
into it, never the other way round.
"""
