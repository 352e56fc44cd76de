"""The domain of Ruta: the Ruta core in this folder's modules, one package per stage below.

The core (``states``, ``models``, ``scoping``, ``guards``, ``services``, ``outbox``,
``notifications``…) imports no stage; each stage package uses the core and the packages
before it (``docs/arquitectura.md`` has the order, ``tests/test_architecture.py`` checks it).
Nothing in this package imports Flask, ``ruta``, ``blueprints``, ``jobs`` or ``demo``: they
call into it, never the other way round.
"""
